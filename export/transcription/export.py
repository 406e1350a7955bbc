"""Export the cross-modal VAE to ONNX: ``transcribe`` (audio -> labels + onsets) and ``synthesize`` (labels -> spectrum).

Export -> embed metadata -> reload through bridge.runtime.ModelBundle -> compare
with torch on held-out rendered frames (max |torch - onnxruntime| goes into the
manifest under ``diff``; above the tolerance the export fails) -> manifest.
Quality figures are added by ``bench/bench_transcription.py --write-manifest``.
"""
from __future__ import annotations

import json
import logging
import platform
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, ModelBundle, default_models_dir, sha256
from plugins.transcription import features, labels

log = logging.getLogger(__name__)
OPSET = 17


def _graphs(model):
    import torch

    class Transcribe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, frames):
            o = self.m.transcribe(frames)
            return o["pitch_class"], o["octave"], o["dynamics"], o["instrument"], o["onset"], o["z"]

    class Synthesize(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, symbols):
            return self.m.synthesize(symbols)

    return Transcribe(), Synthesize()


def export(ckpt: Path, out: Path | None, data: Path, tolerance: float = 1e-4, command: str = "") -> Path:
    import onnx
    import torch

    from export.transcription_train import FrameSet, load_model

    if not Path(ckpt).is_file():
        raise BridgeError(f"{ckpt}: no checkpoint (train first: python -m export.transcription_train train)")
    model, state = load_model(Path(ckpt))
    cfg = model.cfg
    out = Path(out) if out else default_models_dir() / cfg.model_name
    out.mkdir(parents=True, exist_ok=True)
    transcribe, synthesize = _graphs(model)
    T = 40
    frames = torch.zeros(1, T + features.CONTEXT - 1, features.N_BINS)
    symbols = torch.zeros(3, labels.SYMBOL_SIZE)
    t_outs = ["pitch_class", "octave", "dynamics", "instrument", "onset", "z"]
    meta = {"name": cfg.model_name, "config": cfg.name, "step": str(state["step"])}
    with torch.no_grad():
        torch.onnx.export(transcribe, (frames,), str(out / "transcribe.onnx"), input_names=["frames"],
                          output_names=t_outs, opset_version=OPSET, dynamo=False,
                          dynamic_axes={"frames": {0: "batch", 1: "padded_time"},
                                        **{o: {0: "batch", 1: "time"} for o in t_outs}})
        torch.onnx.export(synthesize, (symbols,), str(out / "synthesize.onnx"), input_names=["symbols"],
                          output_names=["spectrum"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"symbols": {0: "batch"}, "spectrum": {0: "batch"}})
    for fname, gname in (("transcribe.onnx", "transcribe"), ("synthesize.onnx", "synthesize")):
        m = onnx.load(str(out / fname))
        for k, v in {**meta, "graph": gname}.items():
            p = m.metadata_props.add()
            p.key, p.value = k, v
        onnx.save(m, str(out / fname))
    f32 = "float32"
    heads = {"pitch_class": labels.PITCH_CLASSES + 1, "octave": labels.OCTAVES + 1,
             "dynamics": len(labels.DYNAMICS), "instrument": len(labels.INSTRUMENTS)}
    t_spec = {h: {"tensor": h, "dtype": f32, "shape": ["batch", "time", n], "doc": "log-probabilities"}
              for h, n in heads.items()}
    t_spec["onset"] = {"tensor": "onset", "dtype": f32, "shape": ["batch", "time"], "doc": "onset probability"}
    t_spec["z"] = {"tensor": "z", "dtype": f32, "shape": ["batch", "time", cfg.z_dim], "doc": "z_a means"}
    manifest = {
        "name": cfg.model_name, "version": f"{cfg.name}@{state['step']}",
        "description": "cross-modal VAE (Chemla--Romeu-Santos et al., IJCNN 2019): audio VAE and symbol VAE with "
                       "cross-regularised latents; transcribe = audio encoder -> symbol decoder + onset head, "
                       "synthesize = symbol encoder -> audio decoder",
        "graphs": {
            "transcribe": {"file": "transcribe.onnx", "sha256": sha256(out / "transcribe.onnx"),
                           "inputs": {"frames": {"tensor": "frames", "dtype": f32,
                                                 "shape": ["batch", f"time+{features.CONTEXT - 1}", features.N_BINS],
                                                 "doc": "log spectrum (features.log_spectrum), padded with "
                                                        "features.pad_context"}},
                           "outputs": t_spec},
            "synthesize": {"file": "synthesize.onnx", "sha256": sha256(out / "synthesize.onnx"),
                           "inputs": {"symbols": {"tensor": "symbols", "dtype": f32,
                                                  "shape": ["batch", labels.SYMBOL_SIZE],
                                                  "doc": "labels.symbols_onehot"}},
                           "outputs": {"spectrum": {"tensor": "spectrum", "dtype": f32,
                                                    "shape": ["batch", features.N_BINS], "doc": "log spectrum"}}},
        },
        "opset": OPSET, "z_dim": cfg.z_dim,
        "features": {"sample_rate": features.SAMPLE_RATE, "n_fft": features.N_FFT, "hop": features.HOP,
                     "min_midi": features.MIN_MIDI, "max_midi": features.MAX_MIDI,
                     "bins_per_semitone": features.BINS_PER_SEMITONE, "n_bins": features.N_BINS,
                     "context_before": features.CONTEXT_BEFORE, "context_after": features.CONTEXT_AFTER,
                     "floor": features.FLOOR},
        "labels": {"pitch_classes": labels.PITCH_CLASSES, "octave_min": labels.OCTAVE_MIN, "octaves": labels.OCTAVES,
                   "dynamics": list(labels.DYNAMICS), "dynamic_velocity": list(labels.DYNAMIC_VELOCITY),
                   "instruments": list(labels.INSTRUMENT_NAMES), "symbol_size": labels.SYMBOL_SIZE},
        "training": {"config": cfg.to_dict(), "step": int(state["step"]),
                     "command": state.get("command") or f"python -m export.transcription_train train {cfg.name}",
                     "export_command": command,
                     "reproduce": "python -m export.transcription_train data && python -m export.transcription_train "
                                  f"train {cfg.name} --threads 2 && python -m export.transcription_train export {cfg.name}"
                                  " && python bench/bench_transcription.py --write-manifest",
                     "history": json.loads(state["history"])[-1:] if state.get("history") else [],
                     "torch": torch.__version__, "machine": platform.machine()},
        "data": _provenance(data),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    bundle = ModelBundle.load(out, threads=1)
    valid = FrameSet(data / "valid", cfg.limit_chunks)
    diff = compare(model, bundle, valid)
    if diff["max_abs"] > tolerance:
        raise BridgeError(f"export of {cfg.name} differs from torch by {diff['max_abs']:.2e} (> {tolerance:g})")
    manifest["diff"] = diff
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    log.info("%s: max |torch - onnxruntime| %.2e", out, diff["max_abs"])
    return out


def compare(model, bundle: ModelBundle, valid) -> dict:
    """max |torch - onnxruntime| over every output, on 2000 held-out frames and their symbols."""
    import torch

    n = min(2000, len(valid) - features.CONTEXT)
    frames = valid.spec[:n + features.CONTEXT - 1][None].astype(np.float32)
    symbols = valid.symbols[features.CONTEXT_BEFORE:features.CONTEXT_BEFORE + n]
    with torch.no_grad():
        ref = {k: v.numpy() for k, v in model.transcribe(torch.from_numpy(frames)).items()}
        spec_ref = model.synthesize(torch.from_numpy(symbols)).numpy()
    got = bundle.graph("transcribe").run(frames=frames)
    diffs = {k: float(np.abs(got[k] - ref[k]).max()) for k in ref}
    diffs["spectrum"] = float(np.abs(bundle.graph("synthesize").run(symbols=symbols)["spectrum"] - spec_ref).max())
    return {"max_abs": max(diffs.values()), "per_output": diffs, "frames": int(n),
            "inputs": "held-out rendered frames (valid split) and their symbol labels"}


def _provenance(data: Path) -> dict:
    index = data / "index.json"
    info = json.loads(index.read_text()) if index.is_file() else {}
    return {"source": "music21 corpus folk tunes (public domain), windows of data/folk split by tune; test tunes "
                      "never rendered into train/valid",
            "rendering": "FluidSynth 2 with FluidR3_GM.sf2 and TimGM6mb.sf2 (train/valid/test) and "
                         "MuseScore_General_Lite.sf3 (test only: a timbre never heard in training); GM programs "
                         "flute 73, piano 0, alto sax 65, trumpet 56, violin 40; random tempo 80-150 BPM, velocity "
                         "30-127, articulation 70-97%, transposed into each instrument's register",
            "index": info}
