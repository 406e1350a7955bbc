"""One ONNX runtime wrapper for every plugin: manifest, sha256, providers, semantic names.

A model folder ``onnx_models/<name>/`` holds ``*.onnx`` files and a
``manifest.json``::

    {"name": "musicvae-mel2bar", "version": "1", "description": "...",
     "graphs": {"encoder": {"file": "encoder.onnx", "sha256": "...",
                            "inputs":  {"melody": {"tensor": "melody", "dtype": "int64", "shape": ["batch", 32]}},
                            "outputs": {"mu": {"tensor": "mu", ...}, ...}}, ...},
     "vocab": {...}, "sampling": {...}, "opset": 17,
     "training": {"command": "...", "data": "..."}, "quality": {...}}

Plugins call ``bundle.graph("encoder").run(melody=x)`` and get a dict keyed by
semantic output names: raw tensor names never leak out of this module. Only
ONNX + JSON is read (no pickle), and every file's sha256 is checked on load.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_DTYPES = {"float32": np.float32, "int64": np.int64, "int32": np.int32, "float64": np.float64, "bool": np.bool_}


def default_models_dir() -> Path:
    """``$CMT_BRIDGE_MODELS`` or the repository's ``onnx_models/``."""
    env = os.environ.get("CMT_BRIDGE_MODELS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "onnx_models"


def model_folder(name: str, folder: str | Path | None = None) -> Path:
    """``folder`` when given, else the model folder ``name`` under :func:`default_models_dir`."""
    return Path(folder) if folder else default_models_dir() / name
def release_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise): after closed sessions of a reload.

    No ``gc.collect()`` here: the sessions are freed by reference counting, and a full
    collection would hold the GIL for tens of ms on the worker that must make the next phrase.
    """
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(provider: str | None = None) -> list[str]:
    """CUDA first when onnxruntime-gpu offers it, CPU otherwise; ``provider`` ('cpu', 'cuda' or a full name) forces one."""
    have = available_providers()
    if provider:
        full = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}.get(provider.lower(), provider)
        if full not in have:
            raise ModelError(f"provider {provider!r} is not available here (have: {', '.join(have)})")
        return [full] if full == "CPUExecutionProvider" else [full, "CPUExecutionProvider"]
    return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in have else []) + ["CPUExecutionProvider"]


@dataclass
class Graph:
    """One ONNX file of a bundle, called with semantic names."""

    name: str
    session: Any
    inputs: dict[str, dict]
    outputs: dict[str, dict]

    def run(self, **feeds: np.ndarray) -> dict[str, np.ndarray]:
        if self.session is None:
            raise ModelError(f"graph {self.name}: its model was closed (reloaded or shut down)")
        missing = set(self.inputs) - set(feeds)
        extra = set(feeds) - set(self.inputs)
        if missing or extra:
            raise ModelError(f"graph {self.name}: missing inputs {sorted(missing)}, unknown {sorted(extra)}")
        raw = {}
        for key, spec in self.inputs.items():
            raw[spec["tensor"]] = np.asarray(feeds[key], dtype=_DTYPES[spec.get("dtype", "float32")])
        names = [spec["tensor"] for spec in self.outputs.values()]
        values = self.session.run(names, raw)
        return dict(zip(self.outputs, values))


class ModelBundle:
    """A loaded model folder: its manifest and one :class:`Graph` per ONNX file."""

    def __init__(self, folder: Path, manifest: dict, graphs: dict[str, Graph]):
        self.folder = folder
        self.manifest = manifest
        self.graphs = graphs

    @property
    def name(self) -> str:
        return self.manifest["name"]

    def graph(self, name: str) -> Graph:
        try:
            return self.graphs[name]
        except KeyError:
            raise ModelError(f"model {self.name} has no graph {name!r} (has {', '.join(self.graphs)})") from None

    def __getitem__(self, key: str) -> Any:
        return self.manifest[key]

    def close(self) -> None:
        """Release every onnxruntime session now (their memory and threads), not whenever GC runs."""
        for g in self.graphs.values():
            g.session = None

    @classmethod
    def load(cls, folder: str | Path, provider: str | None = None, threads: int = 1,
             expect: dict[str, tuple[set[str], set[str]]] | None = None) -> "ModelBundle":
        """Load and verify ``folder``. ``expect`` maps graph -> (input names, output names) a plugin needs."""
        import onnxruntime as ort

        folder = Path(folder)
        mpath = folder / MANIFEST
        if not mpath.is_file():
            raise ModelError(f"{folder}: no {MANIFEST} (is the model folder right?)")
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ModelError(f"{mpath}: unreadable manifest ({e})") from None
        if not isinstance(manifest, dict) or "graphs" not in manifest or "name" not in manifest:
            raise ModelError(f"{mpath}: manifest needs 'name' and 'graphs'")
        providers = choose_providers(provider)
        graphs: dict[str, Graph] = {}
        for gname, spec in manifest["graphs"].items():
            path = folder / spec["file"]
            if not path.is_file():
                raise ModelError(f"{folder.name}: {spec['file']} is missing")
            digest = sha256(path)
            if digest != spec.get("sha256"):
                raise ModelError(f"{folder.name}: {spec['file']} does not match its manifest sha256 "
                                 f"(file changed or corrupt; re-export it)")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            try:
                sess = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
            except Exception as e:  # onnxruntime raises its own untyped errors
                raise ModelError(f"{folder.name}: {spec['file']} is not a loadable ONNX model ({e})") from None
            have_in = {i.name for i in sess.get_inputs()}
            have_out = {o.name for o in sess.get_outputs()}
            for sem, t in spec["inputs"].items():
                if t["tensor"] not in have_in:
                    raise ModelError(f"{folder.name}/{gname}: manifest input {sem} -> {t['tensor']} not in the graph")
            for sem, t in spec["outputs"].items():
                if t["tensor"] not in have_out:
                    raise ModelError(f"{folder.name}/{gname}: manifest output {sem} -> {t['tensor']} not in the graph")
            graphs[gname] = Graph(gname, sess, spec["inputs"], spec["outputs"])
        for gname, (ins, outs) in (expect or {}).items():
            if gname not in graphs:
                raise ModelError(f"{folder.name}: needs graph {gname!r}, manifest has {', '.join(graphs)}")
            g = graphs[gname]
            if not ins <= set(g.inputs) or not outs <= set(g.outputs):
                raise ModelError(f"{folder.name}/{gname}: expected inputs {sorted(ins)} outputs {sorted(outs)}, "
                                 f"has {sorted(g.inputs)} / {sorted(g.outputs)}")
        log.info("loaded model %s from %s on %s", manifest["name"], folder, providers[0])
        return cls(folder, manifest, graphs)
