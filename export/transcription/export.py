"""Export the cross-modal VAE through the shared pipeline: ``transcribe`` (audio -> labels + onsets)
and ``synthesize`` (labels -> spectrum).

What is transcription's own: the two graphs, golden inputs (2000 held-out
rendered frames of the valid split and their symbol labels, torch's outputs on
them), the feature and label tables the runtime reads, and the report under
``diff`` (``max_abs``). Quality figures are added by
``bench/bench_transcription.py --write-manifest``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import default_models_dir
from plugins.transcription import features, labels

from ..pipeline import ExportPlan, Golden, Graph, export_model, tensor
from .configs import CONFIGS
from .train import CHECKPOINT

GOLDEN_FRAMES = 2000
T_OUTS = ("pitch_class", "octave", "dynamics", "instrument", "onset", "z")


def _modules(model):
    import torch

    class Transcribe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, frames):
            o = self.m.transcribe(frames)
            return tuple(o[k] for k in T_OUTS)

    class Synthesize(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, symbols):
            return self.m.synthesize(symbols)

    return Transcribe(), Synthesize()


def graphs(model) -> list[Graph]:
    import torch

    cfg = model.cfg
    transcribe, synthesize = _modules(model)
    f32 = "float32"
    heads = {"pitch_class": labels.PITCH_CLASSES + 1, "octave": labels.OCTAVES + 1,
             "dynamics": len(labels.DYNAMICS), "instrument": len(labels.INSTRUMENTS)}
    t_spec = {h: tensor(h, f32, ["batch", "time", n], "log-probabilities") for h, n in heads.items()}
    t_spec["onset"] = tensor("onset", f32, ["batch", "time"], "onset probability")
    t_spec["z"] = tensor("z", f32, ["batch", "time", cfg.z_dim], "z_a means")
    return [
        Graph("transcribe", module=transcribe,
              args=(torch.zeros(1, 40 + model.before + model.after, model.audio_encoder.width),),
              inputs={"frames": tensor("frames", f32, ["batch", f"time+{model.before + model.after}",
                                                       model.audio_encoder.width],
                                       "log spectrum (features.log_spectrum) with the manifest's context "
                                       "(silence frames before and after)")},
              outputs=t_spec,
              dynamic_axes={"frames": {0: "batch", 1: "padded_time"}, **{o: {0: "batch", 1: "time"} for o in T_OUTS}}),
        Graph("synthesize", module=synthesize, args=(torch.zeros(3, labels.SYMBOL_SIZE),),
              inputs={"symbols": tensor("symbols", f32, ["batch", labels.SYMBOL_SIZE], "labels.symbols_onehot")},
              outputs={"spectrum": tensor("spectrum", f32, ["batch", features.N_BINS], "log spectrum")},
              dynamic_axes={"symbols": {0: "batch"}, "spectrum": {0: "batch"}}),
    ]


D_OUTS = ("pitch", "onset", "dynamics")


def duet_graphs(model) -> list[Graph]:
    """The duet transcriber's one graph: frames -> per-instrument pitch, onset and dynamics."""
    import torch

    from .duet import N_INST, N_PITCH

    f32 = "float32"
    pad = model.before + model.after
    return [Graph("duet", module=model.eval(), args=(torch.zeros(1, 40 + pad, features.N_BINS),),
                  inputs={"frames": tensor("frames", f32, ["batch", f"time+{pad}", features.N_BINS],
                                           "log spectrum (features.log_spectrum) with the manifest's context "
                                           "(silence frames) before and after")},
                  outputs={"pitch": tensor("pitch", f32, ["batch", "time", N_INST, N_PITCH],
                                           "per instrument: log-probabilities of silence (0) and MIDI "
                                           "min_note.. (1..)"),
                           "onset": tensor("onset", f32, ["batch", "time", N_INST], "onset probability per instrument"),
                           "dynamics": tensor("dynamics", f32, ["batch", "time", N_INST, len(labels.DYNAMICS)],
                                              "per instrument: dynamics log-probabilities")},
                  dynamic_axes={"frames": {0: "batch", 1: "padded_time"}, **{o: {0: "batch", 1: "time"} for o in D_OUTS}})]


def duet_golden(model, valid) -> list[Golden]:
    """Held-out mixtures (valid split, mixed as in training) with torch's outputs on them."""
    import torch

    from .duet import MixSet

    frames = MixSet(valid).batch(np.random.default_rng(7), 8, 120, before=model.before, after=model.after)[0].numpy()
    with torch.no_grad():
        ref = dict(zip(D_OUTS, (t.numpy() for t in model(torch.from_numpy(frames)))))
    return [Golden("duet", {"frames": frames}, ref)]


def golden(model, valid) -> list[Golden]:
    """Held-out rendered frames and their symbols, with torch's outputs on them."""
    import torch

    n = min(GOLDEN_FRAMES, len(valid) - model.before - model.after - 1)
    frames = valid.spec[:n + model.before + model.after][None].astype(np.float32)
    symbols = valid.symbols[model.before:model.before + n]
    with torch.no_grad():
        ref = {k: v.numpy() for k, v in model.transcribe(torch.from_numpy(frames)).items()}
        spec_ref = model.synthesize(torch.from_numpy(symbols)).numpy()
    return [Golden("transcribe", {"frames": frames}, ref), Golden("synthesize", {"symbols": symbols}, {"spectrum": spec_ref})]


REFERENCE_SECONDS = 15.0   # loudness is measured on pieces this long (the benches' length)


def reference_level(folder: Path, duet: bool, seed: int = 0) -> float:
    """The median loudness (features.loudness_of_levels) of 15-second pieces of the rendered chunks in
    ``folder`` (their stored fast bands); ``duet``: of two different instruments' pieces mixed as MixSet
    mixes them (each present with probability PRESENCE, +-LEVEL_DB, power sum). The runtime scales a file to
    it before transcribing (manifest ``features.reference_level_db``)."""
    from .data import instrument_of
    from .duet import LEVEL_DB, PRESENCE

    n = int(REFERENCE_SECONDS * features.FRAME_RATE)
    pieces: dict[str, list[np.ndarray]] = {}
    for f in sorted(Path(folder).glob("*.npz")):
        with np.load(f) as z:
            if "bands" not in z:
                continue
            level = features.band_level_db(z["bands"])
        inst = instrument_of(f.stem)
        if len(level):   # a chunk shorter than a piece (tiny test data) is one piece
            pieces.setdefault(inst, []).extend(level[i:i + n] for i in range(0, max(1, len(level) - n + 1), n))
    if not pieces:
        raise BridgeError(f"{folder}: no rendered chunks with fast bands (cmt-bridge data prepare transcription)")
    if not duet:
        loud = [features.loudness_of_levels(x) for v in pieces.values() for x in v]
        return round(float(np.median(loud)), 2)
    rng = np.random.default_rng(seed)
    names = sorted(pieces)
    if len(names) < 2:
        raise BridgeError(f"{folder}: duets need rendered chunks of at least two instruments")
    loud = []
    for _ in range(2000):
        a, b = rng.choice(names, size=2, replace=False)
        play = rng.random(2) < PRESENCE
        if not play.any():
            play[rng.integers(0, 2)] = True
        xs = [pieces[inst][rng.integers(len(pieces[inst]))] + rng.uniform(-LEVEL_DB, LEVEL_DB)
              for inst, on in zip((a, b), play) if on]
        m = min(len(x) for x in xs)
        power = sum(10.0 ** (x[:m] / 10.0) for x in xs)
        loud.append(features.loudness_of_levels(10.0 * np.log10(power)))
    return round(float(np.median(loud)), 2)


def export(source: str | Path, out: Path | None = None, run_dir: Path | None = None, tolerance: float = 1e-4,
           command: str = "", data: Path | None = None) -> Path:
    """A config's run (``runs/<config>/model.pt``) or a checkpoint file -> validated model folder."""
    import torch

    from .data import data_dir
    from .train import FrameSet, load_model

    ckpt = (Path(run_dir) if run_dir else Path("runs") / str(source)) / CHECKPOINT if str(source) in CONFIGS \
        else Path(source)
    if not ckpt.is_file():
        raise BridgeError(f"{ckpt}: no checkpoint (train first: cmt-bridge train {source if str(source) in CONFIGS else 'transcription'})")
    data = Path(data) if data else data_dir()
    model, state = load_model(ckpt)
    cfg = model.cfg
    valid = FrameSet(data / "valid", cfg.limit_chunks, fast=0 if cfg.kind == "duet" else cfg.fast_bands)
    n = min(GOLDEN_FRAMES, len(valid) - features.CONTEXT)
    duet = cfg.kind == "duet"
    # a checkpoint keeps its config as it was when the run started; the registered one may since have a newer
    # description and recipe (the same training fields): the manifest takes those
    known = CONFIGS.get(cfg.name)
    same = lambda c: json.dumps({**c.to_dict(), "doc": "", "train_command": ""}, sort_keys=True)  # noqa: E731
    if known is not None and same(known) == same(cfg):
        cfg = known
    plan = ExportPlan(
        name=cfg.model_name, config=cfg.name, version=f"{cfg.name}@{state['step']}",
        description=("duet transcription (seed 002's mixtures): audio of two of the five instruments -> per "
                     "instrument pitch, onset and dynamics, so every note is attributed" if duet else
                     "cross-modal VAE (Chemla--Romeu-Santos et al., IJCNN 2019): audio VAE and symbol VAE with "
                     "cross-regularised latents; transcribe = audio encoder -> symbol decoder + onset head, "
                     "synthesize = symbol encoder -> audio decoder"),
        graphs=duet_graphs(model) if duet else graphs(model), metadata={"config": cfg.name, "step": str(state["step"])},
        fields={**({"kind": "duet", "min_note": labels.MIN_NOTE,
                    "context": {"before": model.before, "after": model.after}} if duet else
                   {"z_dim": cfg.z_dim, "context": {"before": model.before, "after": model.after}}),
                "features": {"sample_rate": features.SAMPLE_RATE, "n_fft": features.N_FFT, "hop": features.HOP,
                             "min_midi": features.MIN_MIDI, "max_midi": features.MAX_MIDI,
                             "bins_per_semitone": features.BINS_PER_SEMITONE, "n_bins": features.N_BINS,
                             "context_before": features.CONTEXT_BEFORE, "context_after": features.CONTEXT_AFTER,
                             "floor": features.FLOOR,
                             "reference_level_db": reference_level(data / "valid", duet),
                             **({"fast_bands": cfg.fast_bands, "fast_fft": features.FAST_FFT,
                                 "fast_low_hz": features.FAST_LOW_HZ, "fast_high_hz": features.FAST_HIGH_HZ}
                                if cfg.fast_bands and not duet else {})},
                "labels": {"pitch_classes": labels.PITCH_CLASSES, "octave_min": labels.OCTAVE_MIN,
                           "octaves": labels.OCTAVES, "dynamics": list(labels.DYNAMICS),
                           "dynamic_velocity": list(labels.DYNAMIC_VELOCITY),
                           "instruments": list(labels.INSTRUMENT_NAMES), "symbol_size": labels.SYMBOL_SIZE}},
        training={"config": cfg.to_dict(), "step": int(state["step"]),
                  "command": state.get("command") or f"cmt-bridge train {cfg.name}",
                  **({"trained_on_from": state["init"]} if state.get("init") else {}),
                  **({"averaged_from": list(state["averaged_from"])} if state.get("averaged_from") else {}),
                  **({"soundfonts": list(state["fonts"])} if state.get("fonts") else {}),
                  "export_command": command or f"cmt-bridge export-onnx {cfg.name}",
                  "reproduce": "cmt-bridge data prepare folk && cmt-bridge data prepare transcription && "
                               f"{cfg.reproduce_training()} && cmt-bridge export-onnx {cfg.name} && "
                               + ("python bench/bench_transcription_duet.py --write-manifest" if duet else
                                  "python bench/bench_transcription.py --write-manifest"),
                  "history": json.loads(state["history"])[-1:] if state.get("history") else [],
                  "torch": torch.__version__},
        data=_provenance(data),
        golden=(lambda: duet_golden(model, valid)) if duet else (lambda: golden(model, valid)),
        inputs_doc=("held-out mixtures of two instruments (valid split)" if duet else
                    "held-out rendered frames (valid split) and their symbol labels"),
        report_key="diff", diff_key="max_abs", report={"frames": 960 if duet else int(n)},
        finish=None if duet else _add_latent_graphs,
    )
    return export_model(plan, Path(out) if out else default_models_dir() / cfg.model_name, tolerance)


def _add_latent_graphs(folder: Path) -> dict:
    from .latent_graphs import add_to_folder

    return add_to_folder(folder)


def _provenance(data: Path) -> dict:
    index = data / "index.json"
    info = json.loads(index.read_text()) if index.is_file() else {}
    return {"source": "music21 corpus folk tunes (public domain), windows of data/folk split by tune (test tunes "
                      "never rendered into train/valid), and seeded varied melodies of "
                      "export/transcription/melodies.py (seeds below BENCH_SEEDS; the benches draw above it)",
            "rendering": "FluidSynth 2; train/valid with FluidR3_GM, TimGM6mb, csound's sf_GMbank, OPL-3_FM_128M and "
                         "FluidR3Mono_GM (Debian packages fluid-soundfont-gm, timgm6mb-soundfont, csound-soundfont, "
                         "opl3-soundfont, fluidr3mono-gm-soundfont); test with FluidR3, TimGM6mb and "
                         "MuseScore_General_Lite (MuseScore's fonts are never heard in training); GM programs flute "
                         "73, piano 0, alto sax 65, trumpet 56, violin 40; tempo 60-200 BPM, velocity 20-127, "
                         "articulation 60-97%, each instrument's register; train/valid: vibrato and scoops (pitch "
                         "bend) on half the clips of the four instruments that bend, pedalboard reverb / EQ / "
                         "compression / noise / gain on 80% of chunks",
            "index": info}
