"""The cross-modal transcription VAE's named, frozen training configs, read by export/families.py (no torch)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from bridge.errors import ConfigError


@dataclass(frozen=True)
class TranscriptionConfig:
    name: str
    doc: str
    model_name: str = "transcription"
    kind: str = "vae"  # "vae": the cross-modal VAE (solo); "duet": per-instrument heads trained on mixtures
    fast_bands: int = 0  # solo: the model also takes features.FAST_BANDS fast band levels (0: the spectrum only)
    past: tuple = ()  # solo: residual causal dilated convolutions after the frame window (past only: no latency)
    past_hidden: int = 128  # their bottleneck width
    dilations: tuple = ()  # "duet": residual dilated convolutions after the frame window (context both ways)
    audio_hidden: int = 256
    symbol_hidden: int = 128
    z_dim: int = 32
    onset_hidden: int = 64
    segment: int = 32  # labelled frames per training segment
    batch: int = 64  # segments per step
    steps: int = 8000
    lr: float = 2e-3
    lr_min: float = 1e-4
    init_lr_scale: float = 0.25  # trained on from a folder (--init): the peak learning rate is lr times this
    beta_audio: float = 0.05
    beta_symbol: float = 0.05
    cross: float = 0.1  # KL(q(z_a|x) || q(z_s|y))
    transfer: float = 1.0  # audio -> symbol and symbol -> audio decoding losses
    onset_weight: float = 2.0
    onset_pos_weight: float = 8.0
    gain_db: float = 4.0  # random level augmentation, +-dB per segment
    eq_db: float = 0.0  # random smooth EQ augmentation (augment.random_eq), within +-dB per segment
    focus: tuple[str, ...] = ()  # duet: instruments drawn into mixtures duet.FOCUS_WEIGHT times as often
    valid_every: int = 500
    seed: int = 1
    limit_chunks: int | None = None  # tiny configs: first N train chunks only
    train_chunks: int | None = None  # train chunks numbered below this only (24: before the drills)
    drill_instruments: tuple[str, ...] | None = None  # the drill chunks of these instruments only (None: all)
    train_command: str = ""  # how the shipped weights were trained, when it is not one plain run

    def reproduce_training(self) -> str:
        """The training command(s) that made the shipped weights, for the manifest."""
        return self.train_command or f"cmt-bridge train {self.name} --threads 1"

    def to_dict(self) -> dict:
        return asdict(self)


def _then(chain: str, *steps: str) -> str:
    """A recipe chain (``train_command``) with more shell steps after it."""
    return " && ".join((chain, *steps))


def _train_on(chain: str, start: str, folder: str, name: str, steps: int | None = None) -> str:
    """``chain`` exported to ``runs/<folder>`` as config ``start``, then config ``name`` trained on from it."""
    more = f" --steps {steps}" if steps else ""
    return _then(chain, f"cmt-bridge export-onnx {start} -o runs/{folder}",
                 f"cmt-bridge train {name} --init runs/{folder}{more} --threads 1")


# the recipe chains: each shipped model and the runs trained on from it
SOLO = "cmt-bridge train transcription --threads 1"
PAST_CHAIN = _train_on(SOLO, "transcription", "transcription-24000", "transcription-past")
EQ_CHAIN = _train_on(PAST_CHAIN, "transcription-past", "transcription-past-44000", "transcription-eq")
DUET_CHAIN = _train_on(_train_on(_then("cmt-bridge train transcription-duet --steps 8000 --threads 1",
                                       *(f"cmt-bridge train transcription-duet --resume --steps {n} --threads 1"
                                         for n in (18000, 29000, 38000))),
                                 "transcription-duet", "transcription-duet-38000", "transcription-duet", 52000),
                       "transcription-duet", "transcription-duet-52000", "transcription-duet")
DUET_EQ_CHAIN = _train_on(DUET_CHAIN, "transcription-duet", "transcription-duet-68000", "transcription-duet-eq")
EQ_VIOLIN_CHAIN = _train_on(EQ_CHAIN, "transcription-eq", "transcription-eq-66000", "transcription-eq-violin")
DUET_FLUTE_CHAIN = _train_on(DUET_EQ_CHAIN, "transcription-duet-eq", "transcription-duet-eq-84000",
                             "transcription-duet-flute")

#: the solo models with past context, and the duet model's architecture and data
PAST_NET = dict(audio_hidden=384, past=(1, 2, 4, 8), drill_instruments=("alto_sax",))
DUET_NET = dict(model_name="transcription-duet", kind="duet", audio_hidden=384, dilations=(1, 2, 4, 8), segment=64,
                batch=32, train_chunks=24)
#: the runs the shipped soups average (cmt-bridge average) with their starts
EQ_VIOLIN_RUN = dict(steps=86000, eq_db=6.0, **{**PAST_NET, "drill_instruments": ("alto_sax", "violin")})
EQ_SOUP_CHAIN = _then(EQ_VIOLIN_CHAIN, "cmt-bridge average runs/transcription-eq/model.pt "
                      "runs/transcription-eq-violin/model.pt --weights 2,1 "
                      "-o runs/transcription-eq-soup/model.pt --config transcription-eq-soup")
DUET_FLUTE_RUN = dict(steps=96000, eq_db=6.0, focus=("flute",), init_lr_scale=0.1, **DUET_NET)

CONFIGS = {c.name: c for c in (
    TranscriptionConfig("transcription", "cross-modal VAE transcription, 5 instruments; folk and varied melodies, "
                        "expressive renders and effects, 5 training soundfonts (MuseScore's held out); the start of the "
                        "shipped transcription-eq-violin2",
                        audio_hidden=384, steps=24000, train_chunks=24),
    TranscriptionConfig("transcription-altsax", "candidate: the 24,000-step transcription model trained on with the drill chunks "
                        "of the alto sax only (its altissimo, above its usual register), chunks 0..23 for the others",
                        audio_hidden=384, steps=54000, drill_instruments=("alto_sax",),
                        train_command=_train_on(SOLO, "transcription", "transcription-24000", "transcription-altsax")),
    TranscriptionConfig("transcription-past", "the start of the shipped transcription-eq-violin2: the 24,000-step transcription model with past context "
                        "(causal dilated residual blocks, 1+2+4+8 frames further back, started as no-ops) trained on "
                        "to 44,000 steps with the alto sax drills",
                        steps=44000, **PAST_NET, train_command=PAST_CHAIN),
    TranscriptionConfig("transcription-eq", "the start of the shipped transcription-eq-violin2 (shipped alone before "
                        "transcription-eq-soup): "
                        "transcription-past@44000 trained on to 66,000 "
                        "steps with a random smooth EQ on every segment (+-6 dB: tilt and three cosine bumps across "
                        "the bins), for soundfonts and rooms it has not heard",
                        steps=66000, eq_db=6.0, **PAST_NET, train_command=EQ_CHAIN),
    TranscriptionConfig("transcription-eq2", "candidate: transcription-eq@66000 trained on to 86,000 steps with the "
                        "same random EQ (+-6 dB)",
                        steps=86000, eq_db=6.0, **PAST_NET,
                        train_command=_train_on(EQ_CHAIN, "transcription-eq", "transcription-eq-66000", "transcription-eq2")),
    TranscriptionConfig("transcription-eq-violin", "the other half of transcription-eq-soup (shipped before "
                        "transcription-eq-violin2): "
                        "transcription-eq@66000 trained on to 86,000 steps "
                        "with the same random EQ (+-6 dB) and the violin's drill chunks too (fast runs and repeated "
                        "notes at the top of its range, where its misses are)",
                        **EQ_VIOLIN_RUN, train_command=EQ_VIOLIN_CHAIN),
    TranscriptionConfig("transcription-eq-violin2", "shipped: transcription-eq@66000 trained on to 82,000 steps "
                        "with the same random EQ (+-6 dB) and the violin's drill chunks, seed 2, on all five training "
                        "soundfonts: on two sets of tuning melodies better than transcription-eq-soup in the violin "
                        "cells and on the mean of the 15 out-of-distribution cells, alone (a mean with its start "
                        "lost the MuseScore piano; docs/transcription.md)",
                        **{**EQ_VIOLIN_RUN, "steps": 82000}, seed=2,
                        train_command=_train_on(EQ_CHAIN, "transcription-eq", "transcription-eq-66000",
                                                "transcription-eq-violin2")),
    TranscriptionConfig("transcription-eq-soup", "shipped before transcription-eq-violin2: the weighted mean (2:1) of the weights of transcription-eq@66000 and "
                        "transcription-eq-violin@86000 (trained on from it): on the tuning melodies better than "
                        "either in the flute and violin cells (docs/transcription.md)",
                        **EQ_VIOLIN_RUN,
                        train_command=EQ_SOUP_CHAIN),
    TranscriptionConfig("transcription-soup-violin", "candidate: transcription-eq-soup@86000 (then shipped) trained on to "
                        "94,000 steps with the same random EQ (+-6 dB) and the violin's drill chunks, at a gentle peak "
                        "learning rate (0.1 x lr), for a mean with its start; run, not shipped (tuning melodies: "
                        "violin and flute down, alone or averaged, docs/transcription.md)",
                        **{**EQ_VIOLIN_RUN, "steps": 94000}, init_lr_scale=0.1,
                        train_command=_train_on(EQ_SOUP_CHAIN, "transcription-eq-soup", "transcription-eq-soup-86000",
                                                "transcription-soup-violin")),
    TranscriptionConfig("transcription-fast", "candidate: the 24,000-step transcription model also taking the fast bands "
                        "(features.FAST_BANDS levels from a 32 ms window: repeated notes' re-articulation, not "
                        "tremolo; their input columns start at weight 0) trained on with the alto sax drills",
                        audio_hidden=384, steps=46000, fast_bands=16, drill_instruments=("alto_sax",),
                        train_command=_train_on(SOLO, "transcription", "transcription-24000", "transcription-fast")),
    TranscriptionConfig("transcription-duet", "duets: two of the five instruments together -> one track per "
                        "instrument; mixtures of the solo renders with random source presence; the start of the "
                        "shipped transcription-duet-eq",
                        steps=68000, **DUET_NET, train_command=DUET_CHAIN),
    TranscriptionConfig("transcription-duet-eq", "half of the shipped transcription-duet-soup (shipped alone before "
                        "it): transcription-duet@68000 trained on to 84,000 steps with a "
                        "random smooth EQ on each source before mixing (+-6 dB), for soundfonts it has not heard",
                        steps=84000, eq_db=6.0, **DUET_NET, train_command=DUET_EQ_CHAIN),
    TranscriptionConfig("transcription-duet-eq2", "candidate: transcription-duet-eq@84000 trained on to 100,000 steps "
                        "with the same per-source random EQ (+-6 dB); run, not shipped (tuning duets: flute down, "
                        "docs/transcription.md)",
                        steps=100000, eq_db=6.0, **DUET_NET,
                        train_command=_train_on(DUET_EQ_CHAIN, "transcription-duet-eq", "transcription-duet-eq-84000",
                                                "transcription-duet-eq2")),
    TranscriptionConfig("transcription-duet-focus", "candidate: transcription-duet-eq@84000 trained on to 100,000 "
                        "steps with the same per-source random EQ (+-6 dB), the flute and violin drawn into twice as "
                        "many mixtures (their duet cells are the weakest); run, not shipped (tuning duets: violin up, "
                        "flute down, docs/transcription.md)",
                        steps=100000, eq_db=6.0, focus=("flute", "violin"), **DUET_NET,
                        train_command=_train_on(DUET_EQ_CHAIN, "transcription-duet-eq", "transcription-duet-eq-84000",
                                                "transcription-duet-focus")),
    TranscriptionConfig("transcription-duet-flute", "half of the shipped transcription-duet-soup: "
                        "transcription-duet-eq@84000 trained on to 96,000 "
                        "steps with the same per-source random EQ (+-6 dB), the flute alone drawn into twice as many "
                        "mixtures, at a gentler peak learning rate (0.1 x lr: every run at 0.25 x from 84,000 lowered "
                        "the MuseScore flute, docs/transcription.md)",
                        **DUET_FLUTE_RUN, train_command=DUET_FLUTE_CHAIN),
    TranscriptionConfig("transcription-duet-soup", "shipped: the mean of the weights of transcription-duet-eq@84000 "
                        "and transcription-duet-flute@96000 (trained on from it): on the tuning duets both flute "
                        "cells up (docs/transcription.md)",
                        **DUET_FLUTE_RUN,
                        train_command=_then(DUET_FLUTE_CHAIN, "cmt-bridge average runs/transcription-duet-eq/model.pt "
                                            "runs/transcription-duet-flute/model.pt "
                                            "-o runs/transcription-duet-soup/model.pt --config transcription-duet-soup")),
    TranscriptionConfig("transcription-duet-tiny", "tiny duet config for tests and CI (seconds), never shipped",
                        model_name="transcription-duet-tiny", kind="duet", audio_hidden=16, dilations=(1, 2), segment=16, batch=8,
                        steps=12, valid_every=6, limit_chunks=1),
    TranscriptionConfig("transcription-tiny-past", "tiny config with past context, for tests (seconds), never shipped",
                        model_name="transcription-tiny-past", audio_hidden=16, symbol_hidden=16, z_dim=4, onset_hidden=8,
                        segment=16, batch=8, steps=12, valid_every=6, limit_chunks=1, past=(1, 2), past_hidden=8,
                        fast_bands=16),
    TranscriptionConfig("transcription-tiny", "tiny config for tests and CI (seconds), never shipped",
                        model_name="transcription-tiny", audio_hidden=16, symbol_hidden=16, z_dim=4, onset_hidden=8,
                        segment=16, batch=8, steps=12, valid_every=6, limit_chunks=1),
)}


def config_from_stored(stored) -> TranscriptionConfig:
    """The config a checkpoint (JSON text) or a manifest (a dict) keeps, its lists tuples again."""
    d = json.loads(stored) if isinstance(stored, str) else dict(stored)
    return TranscriptionConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def get_config(name: str) -> TranscriptionConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"unknown transcription config {name!r} (have: {', '.join(CONFIGS)})") from None
