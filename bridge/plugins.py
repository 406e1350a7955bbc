"""The plugin manager: entry points, extra modules; generator collection.

Plugins come from two places, in this order:

1. the ``cmt_bridge.plugins`` entry-point group: the built-in plugins (midime,
   transcription, cmt; declared in cmt-bridge's own ``pyproject.toml``) arrive
   exactly as third-party packages do, and each is an ordinary plugin, so a
   seven-line module can be a whole generator;
2. ``extra`` module paths or ``.py`` files, plus ``$CMT_BRIDGE_PLUGINS``
   (comma-separated), for tests and local experiments.

``$CMT_BRIDGE_DISABLE`` (comma-separated) blocks plugins by name (module path,
entry-point name, or the last part of the module path such as ``midime``) and
also generators by name.

Nothing about one plugin can stop the others: a plugin that fails to import,
declares a misspelled hook (``check_pending``), raises in its hook or returns
an invalid generator class is reported in the error list and skipped.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import BridgeError, PluginError
from .generator import Generator, validate

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "cmt_bridge.plugins"
ENV_PLUGINS = "CMT_BRIDGE_PLUGINS"
ENV_DISABLE = "CMT_BRIDGE_DISABLE"


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def import_spec(spec: str, what: str = "plugin", error: type[Exception] = PluginError,
                prefix: str = "cmt_bridge_local") -> Any:
    """Import a module path (``pkg.mod``) or a ``.py`` file path; ``error`` (naming ``what``) when the file
    is missing or cannot be imported. Plugins and the trainer's model families both load this way."""
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise error(f"{what} file {spec} does not exist")
        name = f"{prefix}_{path.stem}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise error(f"{what} file {spec} cannot be imported")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        mod_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def _import_plugin(spec: str) -> Any:
    return import_spec(spec)


def _short(name: str) -> str:
    """``plugins.midime.plugin`` -> ``midime``; ``x/arp.py`` -> ``arp``."""
    stem = Path(name).stem if name.endswith(".py") else name
    parts = [p for p in stem.replace("/", ".").split(".") if p]
    if len(parts) > 1 and parts[-1] == "plugin":
        parts = parts[:-1]
    return parts[-1] if parts else name


def _describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, BridgeError) else f"{type(exc).__name__}: {text}".rstrip(": ")


def make_plugin_manager(extra: Iterable[str] = (), disable: Iterable[str] = (),
                        entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh plugin manager with every plugin registered; load errors in ``pm.cmt_errors``.

    ``entry_points=False`` leaves out every installed plugin, built-ins included (tests).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    errors: list[str] = []
    blocked = set(disable) | set(_split(os.environ.get(ENV_DISABLE)))
    pm.cmt_errors = errors  # type: ignore[attr-defined]
    pm.cmt_disabled = blocked  # type: ignore[attr-defined]

    def is_blocked(name: str) -> bool:
        return name in blocked or _short(name) in blocked

    def add(name: str, load) -> None:
        if is_blocked(name):
            log.info("plugin %s disabled", name)
            return
        if pm.has_plugin(name):
            return
        try:
            plugin = load()
        except Exception as exc:  # a broken plugin must not stop the others
            errors.append(f"plugin {name}: cannot load ({_describe_error(exc)})")
            log.warning("%s", errors[-1])
            return
        if pm.is_registered(plugin):   # the same module twice (an entry point and $CMT_BRIDGE_PLUGINS)
            return
        try:
            pm.register(plugin, name=name)
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if pm.is_registered(plugin):
                pm.unregister(plugin)
            errors.append(f"plugin {name}: {_describe_error(exc)}")
            log.warning("%s", errors[-1])

    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            add(ep.name, ep.load)
    for spec in (*extra, *_split(os.environ.get(ENV_PLUGINS))):
        add(spec, lambda s=spec: _import_plugin(s))
    return pm


def builtin_plugins() -> list[str]:
    """Module paths of the plugins cmt-bridge's own package declares in ``cmt_bridge.plugins``
    (the shipped generators, e.g. for the Max patches made from them alone)."""
    try:
        eps = metadata.distribution("cmt-bridge").entry_points
    except metadata.PackageNotFoundError:   # a source tree without `pip install -e .`
        return []
    return [ep.value for ep in eps if ep.group == ENTRY_POINT_GROUP]


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    return [name for name, _ in pm.list_name_plugin()]


def collect_generators(pm: pluggy.PluginManager) -> tuple[dict[str, type[Generator]], list[str]]:
    """Call every plugin's ``cmtbridge_register_generators`` and validate each class.

    Returns ``(generators by name, error lines)``; errors include the plugin
    manager's own load errors. A duplicate name keeps the first plugin's class
    and reports both plugins.
    """
    errors: list[str] = list(getattr(pm, "cmt_errors", []))
    blocked = getattr(pm, "cmt_disabled", set())
    found: dict[str, type[Generator]] = {}
    owner: dict[str, str] = {}
    impls = pm.hook.cmtbridge_register_generators.get_hookimpls()
    for impl in impls:
        plugin = impl.plugin_name
        try:
            classes = impl.function()
        except Exception as exc:
            errors.append(f"plugin {plugin}: cmtbridge_register_generators failed ({_describe_error(exc)})")
            log.warning("%s", errors[-1])
            continue
        if classes is None:
            continue
        if isinstance(classes, type):
            classes = [classes]
        try:
            classes = list(classes)
        except TypeError:
            errors.append(f"plugin {plugin}: cmtbridge_register_generators must return a list of classes")
            continue
        for cls in classes:
            try:
                validate(cls, plugin)
            except PluginError as exc:
                errors.append(str(exc))
                log.warning("%s", exc)
                continue
            if cls.name in blocked:
                continue
            if cls.name in found:
                errors.append(f"generator name {cls.name!r} is registered by both plugin {owner[cls.name]} "
                              f"and plugin {plugin}; keeping {owner[cls.name]}'s")
                log.warning("%s", errors[-1])
                continue
            found[cls.name] = cls
            owner[cls.name] = plugin
    pm.cmt_owner = owner  # type: ignore[attr-defined]
    return found, errors


def plugin_of(pm: pluggy.PluginManager, generator: str) -> str:
    """The name of the plugin that registered ``generator`` (after :func:`collect_generators`)."""
    return getattr(pm, "cmt_owner", {}).get(generator, "?")
