"""Onset/offset tracking: per-frame label probabilities -> notes (seconds).

The same :class:`NoteTracker` runs offline (over a whole file) and live (frame by
frame, as blocks arrive). It decides frame ``i`` once frame ``i + LAG`` is known:
a note starts on a local maximum of the onset probability above
``onset_threshold`` (or when a pitch is held for ``MIN_FRAMES`` frames with no
onset, or changes pitch legato), and ends when the frame turns silent for two
frames or the next note starts. Its pitch is the most frequent frame pitch of
its first ``LAG + 1`` frames at note-on; offline, :func:`track` re-estimates it
over the whole note.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .features import FRAME_RATE
from .labels import DYNAMIC_VELOCITY, MIN_NOTE, joint_pitch_logprob

LAG = 1  # frames of look-ahead the tracker waits for (peak confirmation)
MIN_FRAMES = 3  # shortest note (48 ms); also the frames a pitch must hold to start a note without an onset
REFRACTORY = 4  # frames after a note-on in which another onset peak is ignored (64 ms)
SETTLE = 6  # frames after a note-on in which a pitch change re-pitches the note instead of splitting it
REJOIN = 12  # frames after a note ends in which the same pitch cannot restart without an onset (128 ms)
ONSET_THRESHOLD = 0.5
REARM = 0.3  # a note restarts on its own pitch only if the onset probability fell below this since its onset
# ... and only on an attack: a strong onset peak, or a dip in level (P(silence) at least DIP in the frames
# DIP_FRAMES before the peak up to the tracker's look-ahead). A flute's tremolo above C6 swells like an
# attack (onset peaks up to 0.6) without a dip; a repeated note has its gap. Chosen on dev melodies apart
# from the bench's, 6 per cell (flute 0.80 -> 0.86 FluidR3, 0.82 -> 0.88 MuseScore; violin 0.72 -> 0.78 and
# 0.80 -> 0.87; piano on MuseScore 0.854 -> 0.861; alto sax and trumpet unchanged).
STRONG_ONSET = 0.8
DIP = 0.2
DIP_FRAMES = 3
# ... and when the labels carry the audio's level (features.fast_level: the solo transcriber, offline and live),
# that dip must be in the sound too: the level in frames i-DIP_FRAMES..i+LAG at least LEVEL_DIP dB under the
# loudest of the LEVEL_BEFORE frames before them. The model's P(silence) rises inside soft high violin and flute
# notes whose sound holds within 3-6 dB; a repeated note's gap is 10 dB and more deep (reverb included).
# Chosen on dev melodies apart from the bench's, 6 per cell, dry, with effects, and expressive: violin 0.764 ->
# 0.786 FluidR3 (0.751 -> 0.780 with reverb), flute 0.881 -> 0.883 and 0.894 -> 0.910 (expressive), piano
# -0.003 with reverb, the others level or up.
LEVEL_DIP = 6.0
LEVEL_BEFORE = 6
FRAME_THRESHOLD = 0.5  # a frame sounds when P(silence) < this
# Offline, a note's velocity is the mean dynamics class of its first VELOCITY_FRAMES frames (192 ms: the attack
# and what follows, not a piano's decay), mapped onto DYNAMIC_VELOCITY between the classes. The mean ranks notes
# where the most frequent class ties them. Chosen on melodies apart from bench_transcription_dynamics' (seeds
# 900.. and 3,900..): pooled Spearman 0.74-0.88 -> 0.80-0.90, worst cell 0.51 -> 0.77 (the most frequent class
# over the whole note before); over the whole note the mean pooled a little higher and its worst cell was 0.68.
VELOCITY_FRAMES = 12
#: offline, a note that started without an onset peak moves back to the attack at most this many frames
#: before it (192 ms, as REJOIN; see backdate_onsets)
BACKDATE = 12
#: offline, a note must start on an attack: one that still has no onset peak at its start after
#: backdate_onsets (its pitch held, nothing struck or tongued) is dropped. Such notes were almost all false:
#: a partner's note leaking into a duet slot, a vibrato or a swell read as a new pitch. On dev pieces apart
#: from the bench's: solo violin FluidR3 0.806 -> 0.844, piano MuseScore 0.958 -> 0.993, expressive violin
#: 0.849 -> 0.864, no cell down by more than 0.001; duets instrument-agnostic 0.839 / 0.800 -> 0.856 / 0.829,
#: every attributed cell up (piano 0.839 / 0.694 -> 0.888 / 0.749, violin 0.697 / 0.648 -> 0.711 / 0.693).
#: A truly slurred change of pitch with no attack at all is lost with them; live, where a note cannot wait
#: to be judged, the rule is not applied.
ATTACK_ONLY = True


@dataclass
class TrackedNote:
    start: float  # seconds
    end: float
    pitch: int
    velocity: int
    start_frame: int = 0
    end_frame: int = 0


@dataclass
class FrameLabels:
    """What the model says about a run of frames (from the ``transcribe`` graph)."""

    onset: np.ndarray  # [T] probability
    pitch: np.ndarray  # [T] most likely MIDI pitch
    silence: np.ndarray  # [T] P(silence)
    dynamics: np.ndarray  # [T] most likely dynamics class
    level: np.ndarray | None = None  # [T] the audio's level in dB (features.fast_level), when known

    @classmethod
    def from_outputs(cls, out: dict[str, np.ndarray], level: np.ndarray | None = None) -> "FrameLabels":
        pitched, silence = joint_pitch_logprob(out["pitch_class"][0], out["octave"][0])
        return cls(out["onset"][0].astype(np.float32), (pitched.argmax(-1) + MIN_NOTE).astype(np.int64),
                   np.exp(silence).astype(np.float32), out["dynamics"][0].argmax(-1), level)

    def __len__(self) -> int:
        return len(self.onset)


class NoteTracker:
    """Incremental tracker: ``push(labels)`` returns notes started (``on``) and finished (``off``) so far."""

    def __init__(self, onset_threshold: float = ONSET_THRESHOLD, frame_threshold: float = FRAME_THRESHOLD) -> None:
        self.onset_threshold, self.frame_threshold = onset_threshold, frame_threshold
        self.onset: list[float] = []
        self.pitch: list[int] = []
        self.active: list[bool] = []
        self.silence: list[float] = []
        self.dyn: list[int] = []
        self.level: list[float] | None = None  # the audio's level, if the labels carry it (from the first push)
        self.next = 0  # next frame to decide
        self.current: TrackedNote | None = None
        self.off_run = 0
        self.low_since = 1.0  # the lowest onset probability since the sounding note's onset
        self.finished: list[TrackedNote] = []

    def push(self, labels: FrameLabels) -> tuple[list[TrackedNote], list[TrackedNote]]:
        self.onset += labels.onset.tolist()
        self.pitch += labels.pitch.tolist()
        self.active += (labels.silence < self.frame_threshold).tolist()
        self.silence += labels.silence.tolist()
        self.dyn += labels.dynamics.tolist()
        if self.level is None and labels.level is not None and len(self.onset) == len(labels.onset):
            self.level = []
        if self.level is not None:
            if labels.level is None or len(labels.level) != len(labels.onset):
                raise ValueError("NoteTracker: every push carries the audio level once the first one did")
            self.level += labels.level.tolist()
        started, ended = [], []
        while self.next + LAG < len(self.onset):
            self._decide(self.next, started, ended)
            self.next += 1
        return started, ended

    def flush(self) -> list[TrackedNote]:
        """End of the stream: close the sounding note."""
        ended: list[TrackedNote] = []
        while self.next < len(self.onset):
            self._decide(self.next, [], ended, final=True)
            self.next += 1
        if self.current is not None:
            ended.append(self._close(len(self.onset)))
        return ended

    def _is_peak(self, i: int) -> bool:
        o = self.onset
        if o[i] < self.onset_threshold:
            return False
        before = o[i - 1] if i > 0 else 0.0
        after = o[i + 1] if i + 1 < len(o) else 0.0
        return o[i] >= before and o[i] > after

    def _attack(self, i: int) -> bool:
        """The onset peak at ``i`` is a new attack: strong, or with a dip in level around it (in the model's
        P(silence), and in the sound when the level is known)."""
        if self.onset[i] >= STRONG_ONSET:
            return True
        lo = max(0, i - DIP_FRAMES)
        if max(self.silence[lo:i + LAG + 1]) < DIP:
            return False
        if self.level is None or lo == 0:
            return True
        before = max(self.level[max(0, lo - LEVEL_BEFORE):lo])
        return before - min(self.level[lo:i + LAG + 1]) >= LEVEL_DIP

    def _window_pitch(self, i: int) -> int | None:
        window = [self.pitch[j] for j in range(i, min(len(self.pitch), i + LAG + 1)) if self.active[j]]
        return Counter(window).most_common(1)[0][0] if window else None

    def _decide(self, i: int, started: list, ended: list, final: bool = False) -> None:
        cur = self.current
        if self._is_peak(i):
            pitch = self._window_pitch(i)
            again = cur is not None and pitch == cur.pitch and (self.low_since >= REARM or not self._attack(i))
            if pitch is not None and not again and not (cur is not None and i - cur.start_frame < REFRACTORY):
                if cur is not None:
                    ended.append(self._close(i))
                started.append(self._open(i, pitch))
                return
        if cur is not None:
            self.low_since = min(self.low_since, self.onset[i])
            if not self.active[i]:
                self.off_run += 1
                if self.off_run >= 2:
                    ended.append(self._close(i - 1))
                return
            self.off_run = 0
            held = self.pitch[max(0, i - MIN_FRAMES + 1):i + 1]
            if len(held) == MIN_FRAMES and all(p == held[-1] for p in held) and held[-1] != cur.pitch \
                    and all(self.active[max(0, i - MIN_FRAMES + 1):i + 1]):
                split = i - MIN_FRAMES + 1
                if split - cur.start_frame < SETTLE:
                    cur.pitch = held[-1]  # the attack's pitch was unsettled: same note, now its real pitch
                else:  # a legato change of note with no onset
                    ended.append(self._close(split))
                    started.append(self._open(split, held[-1]))
            return
        run = self.active[max(0, i - MIN_FRAMES + 1):i + 1]
        held = self.pitch[max(0, i - MIN_FRAMES + 1):i + 1]
        if len(run) == MIN_FRAMES and all(run) and all(p == held[-1] for p in held):
            last = self.finished[-1] if self.finished else None
            if last is not None and last.pitch == held[-1] and i - MIN_FRAMES + 1 - last.end_frame < REJOIN:
                return  # the same note flickering back after a short dip: no new note without an onset
            started.append(self._open(i - MIN_FRAMES + 1, held[-1]))

    def _open(self, frame: int, pitch: int) -> TrackedNote:
        self.off_run = 0
        self.low_since = 1.0
        dyn = self.dyn[frame:frame + LAG + 1]
        velocity = DYNAMIC_VELOCITY[Counter(dyn).most_common(1)[0][0]] if dyn else DYNAMIC_VELOCITY[2]
        self.current = TrackedNote(frame / FRAME_RATE, frame / FRAME_RATE, int(pitch), int(velocity), frame, frame)
        return self.current

    def _close(self, frame: int) -> TrackedNote:
        note = self.current
        if note is None:
            raise RuntimeError("NoteTracker._close without a sounding note")
        note.end_frame = max(frame, note.start_frame + 1)
        note.end = note.end_frame / FRAME_RATE
        self.current = None
        self.finished.append(note)
        return note


def note_velocity(dynamics: np.ndarray) -> int:
    """Dynamics classes of a note's frames -> its MIDI velocity (their mean, between DYNAMIC_VELOCITY's values)."""
    if len(dynamics) == 0:
        return DYNAMIC_VELOCITY[2]
    return int(round(np.interp(float(np.mean(dynamics)), np.arange(len(DYNAMIC_VELOCITY)), DYNAMIC_VELOCITY)))


def track(labels: FrameLabels, onset_threshold: float = ONSET_THRESHOLD, frame_threshold: float = FRAME_THRESHOLD,
          refine_pitch: bool = True, backdate: int = BACKDATE, attack_only: bool = ATTACK_ONLY) -> list[TrackedNote]:
    """Offline: every note of ``labels``; a note that waited for its pitch starts at its attack
    (:func:`backdate_onsets`, ``backdate`` frames back at most; 0: never), a note with no attack dropped
    (``attack_only``, see :data:`ATTACK_ONLY`), short notes dropped, pitch re-estimated over the whole note."""
    tracker = NoteTracker(onset_threshold, frame_threshold)
    tracker.push(labels)
    tracker.flush()
    finished = tracker.finished
    if backdate:
        finished = backdate_onsets(finished, labels, backdate, onset_threshold)
    notes = []
    for n in finished:
        if n.end_frame - n.start_frame < 2:
            continue
        if attack_only and labels.onset[n.start_frame] < onset_threshold:
            continue
        if refine_pitch:
            span = range(n.start_frame, n.end_frame)
            frames = [int(labels.pitch[j]) for j in span if labels.silence[j] < frame_threshold]
            if frames:
                n.pitch = Counter(frames).most_common(1)[0][0]
            n.velocity = note_velocity(labels.dynamics[n.start_frame:n.start_frame + VELOCITY_FRAMES][:len(span)])
        notes.append(n)
    return notes


def backdate_onsets(notes: list[TrackedNote], labels: FrameLabels, look: int = BACKDATE,
                    onset_threshold: float = ONSET_THRESHOLD) -> list[TrackedNote]:
    """Offline: a note that started without an onset peak (its pitch had to hold first) starts at the
    strongest onset peak of the ``look`` frames before it, if one reached ``onset_threshold`` and no
    other note started there; a previous note still sounding then ends there.

    A bowed or breathy attack is heard before its pitch settles: the onset head fires at the attack while
    the slot's pitch is still unsure, so the tracker (which needs a pitch to open a note) starts the note
    frames later, when the pitch has held. Live, a note cannot be moved back; offline it can."""
    for k, n in enumerate(notes):
        if labels.onset[n.start_frame] >= onset_threshold:
            continue
        prev = notes[k - 1] if k else None
        lo = max(0, n.start_frame - look, prev.start_frame + MIN_FRAMES if prev is not None else 0)
        if lo >= n.start_frame:
            continue
        seg = labels.onset[lo:n.start_frame]
        best = lo + int(np.argmax(seg))
        if seg[best - lo] < onset_threshold:
            continue
        if prev is not None and prev.end_frame > best:
            prev.end_frame, prev.end = best, best / FRAME_RATE
        n.start_frame, n.start = best, best / FRAME_RATE
    return notes
