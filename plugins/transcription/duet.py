"""Duets: audio of two of the five instruments playing together -> one list of notes per instrument.

The ``transcription-duet`` model (export/transcription/duet.py) gives, for every
frame and each of the five instruments, the log-probabilities of silence and of
every pitch, an onset probability and the dynamics. Each instrument's slot goes
through the same :func:`~plugins.transcription.tracking.track` as a solo line,
so every note comes out attributed to the instrument that played it.
"""
from __future__ import annotations

from itertools import combinations, product
from pathlib import Path

import numpy as np

from bridge.api import InputError, ModelBundle, model_folder

from . import articulation, features, labels, tracking
from .audio import SAMPLE_RATE, read_audio
from .transcriber import check_features, is_silent, reference_level, run_windowed

MODEL_NAME = "transcription-duet"
PLAYERS = 2          # a duet: keep at most this many instruments ...
PRESENCE_SHARE = 0.15  # ... each sounding at least this share of the most present one's frames
REJOIN = tracking.REJOIN  # frames: a same-pitch note starting this soon after the last one ended ...
STRONG_ONSET = 0.6        # ... with an onset probability below this is the same note (see merge_restarts)
SHARED = 0.5              # two instruments' same-pitch notes overlapping this share of the shorter are one note
#: the views a file is heard through, as EQ tilts in dB (features.tilted): their probabilities are averaged.
#: An unseen instrument or room colours the sound; hearing it through more than one EQ makes the slots less
#: sure of one colour. Chosen on the 40 tuning duets (never the bench's) with transcription-duet-eq@84000
#: (FluidR3 / MuseScore, mean of the 10 attributed cells): one view (0 dB) agnostic 0.874 / 0.847, MuseScore
#: flute 0.735; three (-4, 0, +4) 0.878 / 0.861, flute 0.794, mean 0.852; two (-3, +3) 0.876 / 0.861, flute
#: 0.805, mean 0.850 (-4/+4 and -5/+5: 0.850 and 0.849): the same quality for a pass less. Each view is one
#: more pass of the model: bench_transcription_duet.py --pieces 1 (one thread, numpy's BLAS too, the other
#: core training) timed RTF 0.0068 with two views and 0.0092 with three, so two keep a margin under the 0.01
#: budget on a loaded machine. ``--views`` trades either way.
VIEWS_DB = (-3.0, 3.0)
#: dB: the instruments whose repeated notes are split at their partials' dips (articulation.split_at_dips).
#: Chosen on the 40 tuning duets (FluidR3 / MuseScore): the flute 0.808 / 0.806 -> 0.846 / 0.832 (a second
#: set 0.709 / 0.680 -> 0.722 / 0.708; played expressively 0.767 / 0.783 -> 0.791 / 0.788); the violin (bow,
#: vibrato), piano and alto sax (decays) lose 0.01-0.04 when split, the trumpet moves by 0.003 at most.
SPLIT_DB = {"flute": articulation.DIP_DB}
MAX_VIEWS = 5
MAX_VIEW_DB = 12.0
EXPECT = {"duet": ({"frames"}, {"pitch", "onset", "dynamics"})}


class DuetTranscriber:
    def __init__(self, bundle: ModelBundle, views: tuple[float, ...] = VIEWS_DB) -> None:
        self.bundle = bundle
        self.views = check_views(views)
        m = bundle.manifest
        check_features(bundle, context=False)   # its context is its own (the manifest's), read below
        self.instruments = list(m.get("labels", {}).get("instruments", labels.INSTRUMENT_NAMES))
        self.min_note = int(m.get("min_note", labels.MIN_NOTE))
        ctx = m.get("context", {})
        self.before = int(ctx.get("before", features.CONTEXT_BEFORE))   # silence frames the graph needs around
        self.after = int(ctx.get("after", features.CONTEXT_AFTER))
        self._duet = bundle.graph("duet")
        self.reference_db = reference_level(bundle)   # a file is scaled to its training mixtures' loudness

    @classmethod
    def load(cls, folder: str | Path | None = None, threads: int = 1, provider: str | None = None,
             views: tuple[float, ...] = VIEWS_DB) -> "DuetTranscriber":
        folder = model_folder(MODEL_NAME, folder)
        return cls(ModelBundle.load(folder, provider=provider, threads=threads, expect=EXPECT), views=views)

    def outputs(self, spec: np.ndarray, views: tuple[float, ...] | None = None) -> dict[str, np.ndarray]:
        """The graph's outputs for a log spectrum [T, N_BINS] (padded here with the model's context, windowed
        for long inputs), batch axis dropped: pitch [T, 5, P] and dynamics [T, 5, 4] log-probabilities, onset
        probability [T, 5]. With several ``views`` (EQ tilts in dB, :func:`features.tilted`) the spectrum is
        heard through each and the probabilities are averaged (default: the transcriber's ``views``)."""
        views = self.views if views is None else views
        outs = [run_windowed(self._duet, features.tilted(spec, db), self.before, self.after, axis=1) for db in views]
        if len(outs) == 1:
            return {k: outs[0][k][0] for k in ("pitch", "onset", "dynamics")}

        def mean_logp(k: str) -> np.ndarray:
            return np.log(np.mean([np.exp(o[k][0]) for o in outs], axis=0) + 1e-12).astype(np.float32)

        return {"pitch": mean_logp("pitch"), "dynamics": mean_logp("dynamics"),
                "onset": np.mean([o["onset"][0] for o in outs], axis=0).astype(np.float32)}

    def slot_labels(self, out: dict[str, np.ndarray], slot: int) -> tracking.FrameLabels:
        """One instrument's frames in the tracker's terms."""
        logp = out["pitch"][:, slot]
        return tracking.FrameLabels(out["onset"][:, slot].astype(np.float32),
                                    (logp[:, 1:].argmax(-1) + self.min_note).astype(np.int64),
                                    np.exp(logp[:, 0]).astype(np.float32), out["dynamics"][:, slot].argmax(-1))

    def players(self, out: dict[str, np.ndarray], players: int = PLAYERS) -> list[int]:
        """The slots of the instruments that play: the ``players`` most present (expected sounding frames),
        each at least :data:`PRESENCE_SHARE` of the leader's; a third instrument's stray notes are dropped."""
        sounding = (1.0 - np.exp(out["pitch"][:, :, 0])).sum(axis=0)
        order = [int(k) for k in np.argsort(-sounding)]
        return [k for k in order[:players] if sounding[k] > 0 and sounding[k] >= PRESENCE_SHARE * sounding[order[0]]]

    def transcribe(self, samples: np.ndarray, onset_threshold: float = tracking.ONSET_THRESHOLD,
                   frame_threshold: float = tracking.FRAME_THRESHOLD,
                   players: int = PLAYERS, dip_db: float | None = None) -> dict[str, list[tracking.TrackedNote]]:
        """{instrument: notes (seconds)} of mono float samples at SAMPLE_RATE, only the instruments heard (at
        most ``players``: a duet is two). ``dip_db``: split repeated notes at their partials' dips this deep
        (:mod:`.articulation`) in every instrument's line; 0: never; default :data:`SPLIT_DB`'s per instrument."""
        samples = np.asarray(samples, np.float32)
        if is_silent(samples):
            return {}
        gain = features.normalization_gain(samples, self.reference_db)
        out = self.outputs(features.log_spectrum(features.scaled(samples, gain)))
        found, onsets = {}, {}
        for slot in sorted(self.players(out, players)):
            frames = self.slot_labels(out, slot)
            found[slot] = merge_restarts(tracking.track(frames, onset_threshold, frame_threshold), frames)
            onsets[slot] = frames.onset
        found = self.one_owner(out, found)
        for slot, notes in found.items():
            dip = SPLIT_DB.get(self.instruments[slot], 0.0) if dip_db is None else dip_db
            if dip > 0:
                found[slot] = articulation.split_at_dips(notes, samples, onsets[slot], dip)
        for notes in found.values():   # heard at the training level; a quiet take stays soft
            for n in notes:
                n.velocity = features.velocity_at_gain(n.velocity, gain)
        return {self.instruments[slot]: notes for slot, notes in found.items() if notes}

    def one_owner(self, out: dict[str, np.ndarray], found: dict[int, list[tracking.TrackedNote]],
                  shared: float = SHARED) -> dict[int, list[tracking.TrackedNote]]:
        """A note heard by two instruments' slots is one instrument's: when two slots have notes of the same
        pitch overlapping at least ``shared`` of the shorter one, only the note whose slot gives that pitch
        the higher mean probability over the note's frames is kept.

        A loud note leaks into the other player's slot (the slot's pitch follows the louder sound while its
        own player rests or plays softly). On duets of dev melodies (never the bench's) a third of the false
        notes were such copies; dropping the weaker one raised instrument-agnostic precision from 0.64 to
        0.71 for 0.6 points of recall. Two players in unison lose one of the two notes."""
        def belief(slot: int, note: tracking.TrackedNote) -> float:
            end = max(note.end_frame, note.start_frame + 1)
            return float(np.exp(out["pitch"][note.start_frame:end, slot, note.pitch - self.min_note + 1]).mean())

        slots = sorted(found)
        dropped: set[int] = set()
        for a, b in combinations(slots, 2):
            for x, y in product(found[a], found[b]):
                overlap = min(x.end_frame, y.end_frame) - max(x.start_frame, y.start_frame)
                shorter = max(1, min(x.end_frame - x.start_frame, y.end_frame - y.start_frame))
                if x.pitch == y.pitch and overlap >= shared * shorter:
                    dropped.add(id(y) if belief(a, x) >= belief(b, y) else id(x))
        return {slot: [n for n in found[slot] if id(n) not in dropped] for slot in slots}

    def transcribe_file(self, path: str | Path, **kw) -> dict[str, list[tracking.TrackedNote]]:
        return self.transcribe(read_audio(path, SAMPLE_RATE), **kw)


def check_views(views) -> tuple[float, ...]:
    """``views`` as a tuple of EQ tilts in dB: 1..MAX_VIEWS finite values within +-MAX_VIEW_DB. Text (``--views``:
    "-3,3", "0", "-4 0 4") is split on commas and spaces."""
    if isinstance(views, str):
        text, views = views, views.replace(",", " ").split()
        if not views:
            raise InputError(f"views need EQ tilts in dB, e.g. --views -3,3; got {text!r}")
    try:
        out = tuple(float(v) for v in views)
    except (TypeError, ValueError):
        raise InputError(f"views must be EQ tilts in dB, e.g. -3,3; got {views!r}") from None
    if not 1 <= len(out) <= MAX_VIEWS:
        raise InputError(f"views: 1 to {MAX_VIEWS} EQ tilts in dB, got {len(out)}")
    if not all(np.isfinite(v) and abs(v) <= MAX_VIEW_DB for v in out):
        raise InputError(f"views: each EQ tilt must be within -{MAX_VIEW_DB:g}..{MAX_VIEW_DB:g} dB, got "
                         + ",".join(f"{v:g}" for v in out))
    return out


def merge_restarts(notes: list[tracking.TrackedNote], frames: tracking.FrameLabels, gap: int = REJOIN,
                   strong: float = STRONG_ONSET) -> list[tracking.TrackedNote]:
    """Join a note to the previous one when it has the same pitch, starts at most ``gap`` frames after it
    ended, no other note came between, and its onset probability is below ``strong``.

    In a mixture the other player's attacks and a sustained note's own swells make a slot's frames dip
    and its onset head twitch, so one held note comes out as several; a real repeated note has a clear
    attack. On duets of dev melodies (never the bench's) this raised instrument-agnostic precision from
    0.56 to 0.61 for one point of recall."""
    out: list[tracking.TrackedNote] = []
    for note in notes:
        prev = out[-1] if out else None
        if prev is not None and prev.pitch == note.pitch and note.start_frame - prev.end_frame <= gap \
                and float(frames.onset[note.start_frame]) < strong:
            prev.end_frame, prev.end = note.end_frame, note.end
            continue
        out.append(note)
    return out
