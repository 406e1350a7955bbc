"""One export pipeline for every model family, in the order Neutone's SDK uses.

A family describes its model as an :class:`ExportPlan` and calls
:func:`export_model`; everything else is done here, the same way for all::

    from export.pipeline import ExportPlan, Golden, Graph, export_model, tensor

    plan = ExportPlan(
        name="tagger", config=cfg.name, version=f"{cfg.name}@{step}",
        description="log-mel CNN -> tag probabilities and an embedding",
        graphs=[Graph("encoder", module=EncoderOnly(model).eval(), args=(torch.zeros(1, 96, 128),),
                      inputs={"mel": tensor("mel", "float32", ["batch", 96, "time"])},
                      outputs={"tags": tensor("tags", "float32", ["batch", 50]),
                               "embedding": tensor("embedding", "float32", ["batch", 256])},
                      dynamic_axes={"mel": {0: "batch", 2: "time"}, "tags": {0: "batch"},
                                    "embedding": {0: "batch"}})],
        golden=lambda: [Golden("encoder", {"mel": x}, torch_outputs(model, x))],   # held-out inputs
        training={"config": cfg.to_dict(), "step": step, "command": command},
        data={"dataset": "tagger", "prepare": "cmt-bridge data prepare tagger", ...},
        quality=lambda: held_out_figures(model),          # measured on the test split
        fields={"tags": TAGS, "sampling": {...}},          # the family's own manifest fields
    )
    folder = export_model(plan, out, tolerance=1e-4)

The steps, in order:

1. **export** every :class:`Graph` with ``torch.onnx.export`` (legacy
   exporter, ``dynamo=False``; opset :data:`OPSET`), or with the graph's own
   ``exporter(path)`` when it has one;
2. **embed metadata**: ``name``, ``version``, ``graph`` and ``plan.metadata``
   into each file's ONNX ``metadata_props``;
3. **write the manifest** (name, version, description, graphs with sha256 and
   semantic inputs/outputs, opset, ``plan.fields``, training, data) and
   **reload** the folder through the host's own loader,
   :meth:`bridge.runtime.ModelBundle.load` (sha256 and ``plan.expect`` checked);
4. **parity** on golden inputs: every :class:`Golden` case is run in
   onnxruntime and compared with torch's outputs, plus ``plan.parity(bundle)``
   for comparisons that are more than one call (a recurrent decode). The
   largest absolute difference above ``tolerance`` raises
   :class:`bridge.errors.BridgeError` and the report is not written;
5. **benchmark**: the median milliseconds of each golden call in onnxruntime
   (one thread), plus ``plan.benchmark(bundle)``;
6. **write the manifest** again with ``quality`` (held-out figures) and the
   report (``validation`` with ``max_abs_diff``; a family may keep other key
   names with ``report_key`` / ``diff_key``);
7. ``plan.finish(folder)`` for anything built from the written files.

Torch is needed only when a graph has no ``exporter`` of its own. A whole
family that uses this (data, config, training, export) is
``export/example/blips.py``; the family record and the signatures of its
functions are in :mod:`export.families`.
"""
from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, ModelBundle, sha256

log = logging.getLogger(__name__)

OPSET = 17
BENCH_RUNS = 20


def tensor(name: str, dtype: str, shape: list, doc: str | None = None) -> dict:
    """A manifest tensor spec: the graph's tensor name, dtype (``float32``/``int64``), shape (names for free axes)."""
    spec: dict[str, Any] = {"tensor": name, "dtype": dtype, "shape": shape}
    if doc:
        spec["doc"] = doc
    return spec


@dataclass
class Graph:
    """One ONNX file: semantic name -> tensor spec for inputs (in ``forward`` order) and outputs."""

    name: str
    inputs: dict[str, dict]
    outputs: dict[str, dict]
    module: Any = None                      # a torch.nn.Module in eval mode
    args: tuple = ()                        # example inputs for tracing
    dynamic_axes: dict | None = None
    exporter: Callable[[Path], None] | None = None  # writes the file itself instead of torch.onnx.export
    file: str = ""                          # default <name>.onnx
    extra: dict = field(default_factory=dict)  # more keys for this graph's manifest entry

    @property
    def filename(self) -> str:
        return self.file or f"{self.name}.onnx"


@dataclass
class Golden:
    """Held-out inputs for one graph (semantic names) and torch's outputs on them."""

    graph: str
    feeds: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


@dataclass
class ExportPlan:
    """What a family supplies: its graphs, golden inputs and its own manifest fields."""

    name: str                               # model folder name (the manifest's ``name``)
    config: str                             # training config name (for messages)
    version: str                            # e.g. ``<config>@<step>``
    description: str
    graphs: Sequence[Graph]
    training: dict                          # config, step, command (how it was trained), ...
    data: dict                              # provenance: dataset, split, how to prepare it
    fields: dict = field(default_factory=dict)       # family fields, written after ``opset``
    metadata: dict = field(default_factory=dict)     # more ONNX metadata_props
    golden: Sequence[Golden] | Callable[[], Sequence[Golden]] = ()
    parity: Callable[[ModelBundle], dict] | None = None     # -> {"max_abs_diff": float, ...}
    benchmark: Callable[[ModelBundle], dict] | None = None  # -> figures for the report
    quality: dict | Callable[[], dict] | None = None         # held-out figures (computed after parity)
    expect: dict | None = None              # ModelBundle.load(expect=...): the graphs a plugin needs
    inputs_doc: str = ""                    # what the golden inputs are, for the report
    report: dict = field(default_factory=dict)       # more fields for the report
    report_key: str = "validation"
    diff_key: str = "max_abs_diff"
    finish: Callable[[Path], Any] | None = None
    opset: int = OPSET


def export_graph(graph: Graph, path: Path, opset: int = OPSET) -> None:
    """Step 1: write one graph to ``path``."""
    if graph.exporter is not None:
        graph.exporter(path)
        return
    import torch

    module = graph.module.eval()  # a fresh wrapper is in training mode, and the exporter restores that mode
    with torch.no_grad():
        torch.onnx.export(module, graph.args, str(path), dynamo=False, opset_version=opset,
                          input_names=[t["tensor"] for t in graph.inputs.values()],
                          output_names=[t["tensor"] for t in graph.outputs.values()],
                          dynamic_axes=graph.dynamic_axes)


def embed_metadata(path: Path, meta: Mapping[str, Any]) -> None:
    """Step 2: ``meta`` into the file's ONNX ``metadata_props`` (non-strings as JSON)."""
    import onnx

    m = onnx.load(str(path))
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v if isinstance(v, str) else json.dumps(v)
    onnx.save(m, str(path))


def compare(bundle: ModelBundle, cases: Sequence[Golden]) -> dict[str, float]:
    """Step 4: max |onnxruntime - torch| per output over the golden cases (``graph.output`` when names repeat)."""
    per: dict[str, float] = {}
    names = [o for c in cases for o in c.expected]
    for case in cases:
        got = bundle.graph(case.graph).run(**case.feeds)
        for out, want in case.expected.items():
            key = out if names.count(out) == 1 else f"{case.graph}.{out}"
            diff = float(np.abs(np.asarray(got[out], np.float64) - np.asarray(want, np.float64)).max())
            per[key] = max(per.get(key, 0.0), diff)
    return per


def time_calls(bundle: ModelBundle, cases: Sequence[Golden], runs: int = BENCH_RUNS) -> dict[str, float]:
    """Step 5: median ms of one onnxruntime call per golden case's graph (after a warm-up call)."""
    times: dict[str, list[float]] = {}
    for case in cases:
        g = bundle.graph(case.graph)
        g.run(**case.feeds)
        for _ in range(runs):
            t0 = time.perf_counter()
            g.run(**case.feeds)
            times.setdefault(case.graph, []).append((time.perf_counter() - t0) * 1e3)
    return {f"{name}_ms_onnxruntime": round(float(np.median(t)), 3) for name, t in times.items()}


def _graph_entry(graph: Graph, folder: Path) -> dict:
    return {"file": graph.filename, "sha256": sha256(folder / graph.filename), "inputs": graph.inputs,
            "outputs": graph.outputs, **graph.extra}


def _write(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def export_model(plan: ExportPlan, out: Path, tolerance: float = 1e-4, threads: int = 1) -> Path:
    """Run every step for ``plan`` into folder ``out``; -> ``out``. Raises BridgeError above ``tolerance``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for g in plan.graphs:
        export_graph(g, out / g.filename, plan.opset)
        embed_metadata(out / g.filename, {"name": plan.name, "version": plan.version, **plan.metadata,
                                          "graph": g.name})
    training = {**plan.training}
    training.setdefault("machine", platform.machine())
    manifest: dict[str, Any] = {
        "name": plan.name, "version": plan.version, "description": plan.description,
        "graphs": {g.name: _graph_entry(g, out) for g in plan.graphs}, "opset": plan.opset,
        **plan.fields, "training": training, "data": plan.data,
    }
    _write(out, manifest)
    bundle = ModelBundle.load(out, threads=threads, expect=plan.expect)
    cases = list(plan.golden() if callable(plan.golden) else plan.golden)
    report: dict[str, Any] = {}
    per = compare(bundle, cases) if cases else {}
    if plan.parity is not None:
        report.update(plan.parity(bundle))
    worst = max([*per.values(), float(report.get(plan.diff_key, 0.0))], default=0.0)
    if not cases and plan.parity is None:
        raise BridgeError(f"export of {plan.config}: no golden inputs to check the ONNX files against torch")
    if not worst <= tolerance:  # NaN fails too
        raise BridgeError(f"export of {plan.config} differs from torch by {worst:.2e} "
                          f"(> tolerance {tolerance:g}): not written as valid")
    report[plan.diff_key] = worst
    if per:
        report["per_output"] = per
    if plan.inputs_doc:
        report.setdefault("inputs", plan.inputs_doc)
    report.update(plan.report)
    report.update(time_calls(bundle, cases) if cases else {})
    if plan.benchmark is not None:
        report.update(plan.benchmark(bundle))
    quality = plan.quality() if callable(plan.quality) else plan.quality
    if quality is not None:
        manifest["quality"] = quality
    manifest[plan.report_key] = report
    _write(out, manifest)
    log.info("%s: max |torch - onnxruntime| %.2e (tolerance %g); %s", plan.name, worst, tolerance,
             ", ".join(f"{k} {v}" for k, v in report.items() if k.endswith("_ms_onnxruntime")) or "no timings")
    if plan.finish is not None:
        plan.finish(out)
    return out
