"""The one registry of model families: datasets, configs, training and export for each.

A family is one package under ``export/`` whose ``__init__`` holds one record::

    # export/tagger/__init__.py
    from export.families import Dataset, Family

    FAMILY = Family(
        name="tagger",
        doc="music -> tags and a sentence",
        configs="export.tagger.configs:CONFIGS",     # {name: frozen config dataclass}, read lazily
        train="export.tagger.train:train",
        export="export.tagger.export:export",
        datasets=(Dataset("tagger", "FluidSynth renders + tags from their MIDI",
                          "export.tagger.data:prepare"),),
        shipped=("tagger",),                           # what `export-onnx --all` re-exports
    )

and one line in :data:`BUILTIN_FAMILIES`. A family in another package
declares an entry point in the group ``cmt_bridge.families`` naming its module;
``$CMT_BRIDGE_FAMILIES`` (comma-separated module paths or ``.py`` files) adds
families without packaging, for trials and tests.

References are ``"module:attribute"`` strings (or callables), resolved only
when a command needs them, so the record imports no torch and ``cmt-bridge
--help`` stays instant. The functions they name have these signatures:

- ``prepare(out: Path | None, *, jobs: int, limit: int | None) -> str`` builds
  the dataset (``out`` default ``data/<dataset>``, resumable) and returns one
  summary line (a dataset declared with ``source="..."`` also gets
  ``source: Path``, the user's folder);
- ``configs`` -> ``Mapping[str, config]``: frozen dataclasses with ``name`` and
  ``doc`` (``train --list`` prints them);
- ``train(cfg, run_dir: Path, *, resume: bool, steps: int | None, seed: int |
  None, threads: int | None, command: str) -> object`` trains into ``run_dir``
  (checkpoints through :mod:`export.checkpoints`);
- ``export(source: str, *, out: Path | None, run_dir: Path | None, tolerance:
  float, command: str) -> Path`` turns a config's newest checkpoint (``source``
  a config name) or a checkpoint file (``source`` a path) into a model folder
  through :func:`export.pipeline.export_model`;
- ``from_folder(folder: Path) -> dict`` (optional): a checkpoint's fields
  (``model``: the state dict, ``step``, ``config``) rebuilt from an exported
  model folder, so ``cmt-bridge average`` takes a shipped model beside runs
  trained on from it.

Config names are global: two families registering one name is an error.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Union

from bridge.errors import ConfigError

log = logging.getLogger(__name__)

Ref = Union[str, Callable[..., Any]]

BUILTIN_FAMILIES: tuple[str, ...] = ("export.musicvae", "export.musicvae16", "export.cmt", "export.transcription", "export.tagger")
ENTRY_POINT_GROUP = "cmt_bridge.families"
ENV_FAMILIES = "CMT_BRIDGE_FAMILIES"


def resolve(ref: Ref) -> Any:
    """``"pkg.mod:attr"`` -> that attribute (imported now); a callable is returned as is."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Dataset:
    """A dataset ``cmt-bridge data prepare <name>`` builds."""

    name: str
    doc: str
    prepare: Ref
    #: what the positional argument of ``data prepare <name> SOURCE`` names ("" = the dataset takes none);
    #: a dataset with one gets ``source=Path`` in ``prepare``
    source: str = ""


@dataclass(frozen=True)
class Family:
    """One model family: what it trains on, its configs, how it trains and exports."""

    name: str
    doc: str
    configs: Union[Ref, Mapping[str, Any]]
    train: Ref
    export: Ref
    datasets: tuple[Dataset, ...] = ()
    shipped: tuple[str, ...] = ()
    from_folder: Ref | None = None

    def config_table(self) -> Mapping[str, Any]:
        """The family's configs by name (may import torch)."""
        table = resolve(self.configs)
        if callable(table) and not isinstance(table, Mapping):
            table = table()
        return table

    def owns_config(self, config: Mapping[str, Any]) -> bool:
        """True when a checkpoint's stored config has exactly the fields of this family's config class."""
        classes = {type(c) for c in self.config_table().values()}
        return any({f.name for f in fields(cls)} == set(config) for cls in classes)

    def owns_older_config(self, config: Mapping[str, Any]) -> bool:
        """True when a stored config lacks only fields added since, each with a default (an older checkpoint)."""
        from dataclasses import MISSING

        classes = {type(c) for c in self.config_table().values()}
        for cls in classes:
            names = {f.name for f in fields(cls)}
            new = [f for f in fields(cls) if f.name not in config]
            if set(config) <= names and all(f.default is not MISSING or f.default_factory is not MISSING
                                            for f in new):
                return True
        return False

    def run_train(self, cfg: Any, run_dir: Path, *, resume: bool = False, steps: int | None = None,
                  seed: int | None = None, threads: int | None = None, command: str = "", **extra: Any) -> Any:
        """``extra``: options only some families take (MusicVAE: ``data``, ``init``); ConfigError otherwise."""
        train = resolve(self.train)
        if extra:
            import inspect

            takes = inspect.signature(train).parameters
            missing = [k for k in extra if k not in takes]
            if missing:
                raise ConfigError(f"{self.name} training takes no {', '.join('--' + k for k in missing)}")
        return train(cfg, run_dir, resume=resume, steps=steps, seed=seed, threads=threads, command=command,
                     **extra)

    def run_export(self, source: str, *, out: Path | None = None, run_dir: Path | None = None,
                   tolerance: float = 1e-4, command: str = "") -> Path:
        return resolve(self.export)(source, out=out, run_dir=run_dir, tolerance=tolerance, command=command)


def _family_of(obj: Any, where: str) -> Family:
    fam = getattr(obj, "FAMILY", obj)
    if not isinstance(fam, Family):
        raise ConfigError(f"{where}: no FAMILY = Family(...) record")
    return fam


def _import_family(spec: str) -> Any:
    """A module path (``pkg.mod``) or a ``.py`` file."""
    from bridge.plugins import import_spec

    return import_spec(spec, "model family", ConfigError, prefix="cmt_bridge_family")

def load_families(modules: Iterable[str] = BUILTIN_FAMILIES, entry_points: bool = True,
                  extra: Iterable[str] | None = None) -> dict[str, Family]:
    """Every family by name: the built-in modules, the ``cmt_bridge.families`` entry points, then ``extra``
    (default ``$CMT_BRIDGE_FAMILIES``)."""
    found: dict[str, Family] = {}

    def add(fam: Family, where: str) -> None:
        if fam.name in found:
            raise ConfigError(f"model family {fam.name!r} registered twice ({where})")
        found[fam.name] = fam

    for module in modules:
        add(_family_of(importlib.import_module(module), module), module)
    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                fam = _family_of(ep.load(), f"entry point {ep.name}")
            except Exception as exc:  # a broken third-party family must not hide the others
                log.warning("model family %s: cannot load (%s)", ep.name, exc)
                continue
            add(fam, f"entry point {ep.name}")
    if extra is None:
        extra = [x.strip() for x in os.environ.get(ENV_FAMILIES, "").split(",") if x.strip()]
    for spec in extra:
        add(_family_of(_import_family(spec), spec), spec)
    return found


@lru_cache(maxsize=1)
def families() -> dict[str, Family]:
    """The registry (loaded once per process)."""
    return load_families()


def datasets(registry: Mapping[str, Family] | None = None) -> dict[str, Dataset]:
    out: dict[str, Dataset] = {}
    for fam in (registry or families()).values():
        for d in fam.datasets:
            if d.name in out:
                raise ConfigError(f"dataset {d.name!r} registered twice (family {fam.name})")
            out[d.name] = d
    return out


def configs(registry: Mapping[str, Family] | None = None) -> dict[str, tuple[Family, Any]]:
    """Every config of every family: name -> (family, config). Imports the families' config modules."""
    out: dict[str, tuple[Family, Any]] = {}
    for fam in (registry or families()).values():
        for name, cfg in fam.config_table().items():
            if name in out:
                raise ConfigError(f"config {name!r} registered by both {out[name][0].name} and {fam.name}")
            out[name] = (fam, cfg)
    return out


def config(name: str, registry: Mapping[str, Family] | None = None) -> tuple[Family, Any]:
    table = configs(registry)
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"unknown config {name!r} (have: {', '.join(table)}; see cmt-bridge train --list)") from None


def family_of_checkpoint(path: Path, registry: Mapping[str, Family] | None = None) -> Family:
    """The family whose config class matches the config stored in checkpoint ``path``, or in model folder
    ``path``'s manifest (``training.config``)."""
    from .checkpoints import stored_config

    stored = _folder_config(Path(path)) if Path(path).is_dir() else stored_config(path)
    for fam in (registry or families()).values():
        if fam.owns_config(stored):
            return fam
    older = [fam for fam in (registry or families()).values() if fam.owns_older_config(stored)]
    if len(older) == 1:
        return older[0]
    raise ConfigError(f"{path}: no model family has a config with its fields")


def _folder_config(folder: Path) -> dict:
    """The training config in model folder ``folder``'s manifest; one line (ConfigError) when there is none."""
    import json

    from bridge.runtime import MANIFEST

    try:
        stored = json.loads((folder / MANIFEST).read_text())["training"]["config"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{folder}: not a model folder with a training config in its {MANIFEST}") from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{folder}: not a model folder with a training config in its {MANIFEST}")
    return stored
