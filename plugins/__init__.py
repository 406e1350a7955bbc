"""Built-in generator plugins of cmt-bridge (each an ordinary pluggy plugin)."""
