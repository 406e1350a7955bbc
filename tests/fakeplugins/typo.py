"""A plugin with a misspelled hook: check_pending() must report it."""
from bridge.api import hookimpl


@hookimpl
def cmtbridge_register_generator():   # missing the final s
    return []
