"""``bar_sample``: one bar of the 16-bar MusicVAE (16 autoregressive steps) as one onnxruntime call.

Built, like the 2-bar model's ``decoder_sample`` (export/musicvae/sample_graph.py,
whose builder it reuses), from the folder's own ``bar_init`` + ``bar_step``
weights. Inputs: the bar embedding ``c`` f32 [B, E], ``prev_token`` int64 [B]
(the previous bar's last token; START for bar 0), ``noise`` f32 [B, 16, C] and
``temperature`` f32 [1]; output ``tokens`` int64 [B, 16]. Every decision is
checked against the step loop on real melodies (greedy and Gumbel noise,
posterior means and prior draws) before the manifest lists the graph.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, sha256
from plugins.midime import melody

from ..musicvae.sample_graph import build, decoder_weights
from ..musicvae.sample_graph import validate as check_against_steps

log = logging.getLogger(__name__)

GRAPH = "bar_sample"
FILE = "bar_sample.onnx"


def add_to_folder(folder: str | Path, windows: np.ndarray, windows_from: str, timing_runs: int = 30) -> dict:
    """Build ``bar_sample.onnx`` in ``folder``, check it token for token against the step loop, record it."""
    from plugins.midime.vae16 import MusicVAE16

    folder = Path(folder)
    mpath = folder / MANIFEST
    manifest = json.loads(mpath.read_text())
    w = decoder_weights(folder, init="bar_init", step="bar_step", cond="c")
    built_from = {name: manifest["graphs"][name]["sha256"] for name in ("bar_init", "bar_step")}
    meta = {"name": manifest["name"], "version": manifest.get("version", ""), "graph": GRAPH,
            "built_from": built_from}
    per = melody.STEPS_PER_BAR
    model = build(w, per, None, meta, name=GRAPH, cond="c")
    path = folder / FILE
    path.write_bytes(model.SerializeToString())
    e = w["init_w"].shape[1]
    classes = melody.NUM_CLASSES
    spec = {"file": FILE, "sha256": sha256(path),
            "inputs": {"c": {"tensor": "c", "dtype": "float32", "shape": ["batch", e]},
                       "prev_token": {"tensor": "prev_token", "dtype": "int64", "shape": ["batch"]},
                       "noise": {"tensor": "noise", "dtype": "float32", "shape": ["batch", per, classes]},
                       "temperature": {"tensor": "temperature", "dtype": "float32", "shape": [1]}},
            "outputs": {"tokens": {"tensor": "tokens", "dtype": "int64", "shape": ["batch", per]}},
            "built_from": built_from, "built_by": "cmt-bridge export-onnx (export/musicvae16/bar_graph.py)",
            "semantics": "one bar: tokens[:, t] = argmax(logits_t + temperature * noise[:, t]), fed back; "
                         "the first input is prev_token (the previous bar's last token, START for bar 0)"}
    candidate = dict(manifest, graphs={**manifest["graphs"], GRAPH: spec})
    mpath.write_text(json.dumps(candidate, indent=1))
    try:
        report = validate(MusicVAE16.load(folder, threads=1), np.asarray(windows, np.int64), timing_runs)
    except BaseException:
        mpath.write_text(json.dumps(manifest, indent=1))
        path.unlink(missing_ok=True)
        raise
    report["melodies"] = windows_from
    report["file_bytes"] = path.stat().st_size
    if report["mismatched_rows"]:
        mpath.write_text(json.dumps(manifest, indent=1))
        path.unlink(missing_ok=True)
        raise BridgeError(f"{folder.name}: {GRAPH} differs from the step-by-step decode in "
                          f"{report['mismatched_rows']} of {report['rows']} decodes: not written")
    candidate.setdefault("validation", {})[GRAPH] = report
    mpath.write_text(json.dumps(candidate, indent=1))
    log.info("%s: %s identical to the step loop on %d 16-bar decodes; one 16-bar decode %.1f ms vs %.1f ms "
             "step by step (1 thread)", folder.name, GRAPH, report["rows"], report["decode_ms_bar_sample"],
             report["decode_ms_step_loop"])
    return report


def validate(vae, windows: np.ndarray, timing_runs: int = 30) -> dict:
    """Tokens with ``bar_sample`` vs the step loop (greedy, Gumbel T 0.5 / 1.0; posterior means and prior
    draws), and one 16-bar decode timed both ways on one thread: the 2-bar check, with this graph's names."""
    report = check_against_steps(vae, windows, timing_runs, temperatures=(0.0, 0.5, 1.0), warmup=3)
    report["decode_ms_bar_sample"] = report.pop("decode_ms_sample_graph")
    return report
