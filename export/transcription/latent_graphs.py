"""``symbol_encoder`` and ``audio_decoder``: the two halves of ``synthesize``, for latent-space generation.

Seed 002's generation modes (morphing between two label sequences, latent
trajectories) need the latent between the symbol encoder and the audio decoder.
``synthesize`` is exactly symbol encoder (means) -> audio decoder, so both halves
are cut out of the folder's own ``synthesize.onnx`` (onnx.utils.extract_model,
the trained weights as they are), the cut tensor named ``z``, and checked: the
two run in a row give ``synthesize``'s output on every symbol the labels can
spell (pitch x dynamics x instrument, and silence), before the manifest lists
them.
"""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, sha256
from plugins.transcription import labels

log = logging.getLogger(__name__)

ENCODER, DECODER = "symbol_encoder", "audio_decoder"
CUT = "/symbol_encoder/mu/Gemm_output_0"   # the symbol encoder's mean, the audio decoder's input


def every_symbol() -> np.ndarray:
    """One row per (pitch or silence, dynamic, instrument) the labels can spell: [N, SYMBOL_SIZE]."""
    rows = []
    for inst in range(len(labels.INSTRUMENT_NAMES)):
        for dyn in range(len(labels.DYNAMICS)):
            pitch = np.arange(labels.MIN_NOTE - 1, labels.MAX_NOTE + 1)   # MIN_NOTE - 1: silence (-1 below)
            pitch = np.where(pitch < labels.MIN_NOTE, -1, pitch)
            rows.append(labels.symbols_onehot(pitch, np.full(len(pitch), dyn), np.full(len(pitch), inst)))
    return np.concatenate(rows).astype(np.float32)


def _rename(model, old: str, new: str) -> None:
    for node in model.graph.node:
        node.input[:] = [new if x == old else x for x in node.input]
        node.output[:] = [new if x == old else x for x in node.output]
    for vi in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        if vi.name == old:
            vi.name = new


def _cut(src: Path, inputs: list[str], outputs: list[str], dst: Path) -> None:
    import onnx
    from onnx.utils import extract_model

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "cut.onnx"
        extract_model(str(src), str(tmp), inputs, outputs)
        model = onnx.load(str(tmp))
    _rename(model, CUT, "z")
    onnx.checker.check_model(model)
    dst.write_bytes(model.SerializeToString())


def add_to_folder(folder: str | Path) -> dict:
    """Write ``symbol_encoder.onnx`` and ``audio_decoder.onnx`` into ``folder``, check them, record them."""
    import onnxruntime as ort

    folder = Path(folder)
    mpath = folder / MANIFEST
    manifest = json.loads(mpath.read_text())
    syn = manifest["graphs"]["synthesize"]
    src = folder / syn["file"]
    z_dim = int(manifest.get("z_dim") or 0)
    enc, dec = folder / f"{ENCODER}.onnx", folder / f"{DECODER}.onnx"
    _cut(src, ["symbols"], [CUT], enc)
    _cut(src, [CUT], ["spectrum"], dec)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    run = {p: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for p in (src, enc, dec)}
    symbols = every_symbol()
    whole = run[src].run(None, {"symbols": symbols})[0]
    z = run[enc].run(None, {"symbols": symbols})[0]
    halves = run[dec].run(None, {"z": z})[0]
    diff = float(np.abs(whole - halves).max())
    if diff > 1e-4 or (z_dim and z.shape[1] != z_dim):
        enc.unlink(missing_ok=True)
        dec.unlink(missing_ok=True)
        raise BridgeError(f"{folder.name}: {ENCODER} -> {DECODER} differs from synthesize by {diff:.2g} "
                          f"(z {z.shape[1]}): not written")
    built = {"built_from": {"synthesize": syn["sha256"]},
             "built_by": "cmt-bridge export-onnx (export/transcription/latent_graphs.py)"}
    zt = {"tensor": "z", "dtype": "float32", "shape": ["batch", int(z.shape[1])],
          "doc": "the symbol encoder's mean: the shared latent"}
    graphs = dict(manifest["graphs"])
    graphs[ENCODER] = {"file": enc.name, "sha256": sha256(enc), "inputs": syn["inputs"], "outputs": {"z": zt},
                       **built}
    graphs[DECODER] = {"file": dec.name, "sha256": sha256(dec), "inputs": {"z": zt}, "outputs": syn["outputs"],
                       **built}
    report = {"symbols": int(len(symbols)), "max_abs_diff_vs_synthesize": diff,
              "z_range": [round(float(z.min()), 3), round(float(z.max()), 3)]}
    candidate = dict(manifest, graphs=graphs)
    candidate.setdefault("validation", {})["latent_graphs"] = report
    mpath.write_text(json.dumps(candidate, indent=1))
    log.info("%s: %s + %s written, = synthesize within %.2g on %d symbols", folder.name, ENCODER, DECODER, diff,
             len(symbols))
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m export.transcription.latent_graphs [FOLDER]`` (default onnx_models/transcription)."""
    import sys

    from bridge.runtime import default_models_dir

    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else default_models_dir() / "transcription"
    print(json.dumps(add_to_folder(folder), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
