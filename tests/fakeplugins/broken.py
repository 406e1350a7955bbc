"""A plugin that fails at import time."""
raise ImportError("broken on purpose: missing dependency 'unobtainium'")
