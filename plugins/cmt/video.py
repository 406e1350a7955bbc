"""Per-bar controls from a video: motion speed -> rhythmic density, visual beats -> strength.

As in CMT, the music is fitted to the video: the bar grid comes from the clip's
length (``bars`` bars of ``beats_per_bar`` beats exactly fill it, which sets the
tempo), and each bar gets

- a *motion speed*: the mean optical-flow magnitude (OpenCV DIS, or Farneback)
  on grayscale frames downscaled to :data:`ANALYSIS_WIDTH` pixels, in frame
  widths per second so it does not depend on resolution or frame rate;
- *visual beats*: peaks of the positive change of that speed (a motion onset
  envelope); a bar's strength is its strongest visual beat.

Speeds and beat heights are mapped to density / strength classes of
:mod:`plugins.cmt.tokens` by fixed thresholds (:data:`DENSITY_EDGES`,
:data:`STRENGTH_EDGES`); a still bar gets density 1 and strength 1, never an
empty bar. :class:`FlowMeter` is the frame-by-frame core, shared with a live camera.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.api import ConfigError, InputError
from plugins.cmt.tokens import DENSITY_CLASSES, STRENGTH_CLASSES

log = logging.getLogger(__name__)

ANALYSIS_WIDTH = 160
ANALYSIS_FPS = 15.0                 # frames per second actually analysed (others are skipped)
DEFAULT_BPM = 110.0                 # the tempo the bar count is chosen around
TEMPO_RANGE = (20.0, 300.0)
# frame widths per second
DENSITY_EDGES = (0.004, 0.015, 0.03, 0.06, 0.12, 0.25)
STRENGTH_EDGES = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32)
BEAT_MIN_GAP_S = 0.2


class FlowMeter:
    """Mean optical-flow magnitude between consecutive frames, in frame widths per second."""

    def __init__(self, method: str = "dis", width: int = ANALYSIS_WIDTH) -> None:
        import cv2

        if method not in ("dis", "farneback"):
            raise ConfigError(f"optical flow method must be dis or farneback, got {method!r}")
        self.method, self.width = method, width
        self._cv2 = cv2
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST) if method == "dis" else None
        self._prev: np.ndarray | None = None
        self._prev_t = 0.0

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        h = max(8, round(g.shape[0] * self.width / g.shape[1]))
        return cv2.resize(g, (self.width, h), interpolation=cv2.INTER_AREA)

    def feed(self, frame: np.ndarray, t: float) -> float | None:
        """The speed since the previous frame (None for the first one); ``t`` in seconds."""
        g = self._gray(frame)
        prev, prev_t = self._prev, self._prev_t
        self._prev, self._prev_t = g, t
        if prev is None or t <= prev_t:
            return None
        if self._dis is not None:
            flow = self._dis.calc(prev, g, None)
        else:
            flow = self._cv2.calcOpticalFlowFarneback(prev, g, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        mag = float(np.sqrt((flow ** 2).sum(axis=2)).mean())
        return mag / self.width / (t - prev_t)


@dataclass(frozen=True)
class VideoControls:
    """A video's bar grid and per-bar controls."""

    duration: float              # seconds
    fps: float
    bpm: float
    beats_per_bar: float
    speed: np.ndarray            # [bars] frame widths per second
    beat_times: np.ndarray       # [n] seconds of the visual beats
    beat_heights: np.ndarray     # [n] frame widths per second (rise of speed)
    density: np.ndarray          # [bars] int classes 1..DENSITY_CLASSES-1
    strength: np.ndarray         # [bars] int classes 1..STRENGTH_CLASSES-1

    @property
    def bars(self) -> int:
        return len(self.speed)

    @property
    def bar_seconds(self) -> float:
        return self.beats_per_bar * 60.0 / self.bpm


def bar_grid(duration: float, beats_per_bar: float = 4.0, bars: int | None = None,
             tempo: float | None = None) -> tuple[int, float]:
    """(bars, bpm) so that whole bars exactly fill ``duration`` seconds: ``bars`` of them, or the count
    whose tempo is nearest ``tempo`` BPM (default :data:`DEFAULT_BPM`)."""
    if duration <= 0:
        raise InputError("the video has no duration")
    if tempo is not None and not TEMPO_RANGE[0] <= tempo <= TEMPO_RANGE[1]:
        raise ConfigError(f"tempo must be in range {TEMPO_RANGE[0]:g}..{TEMPO_RANGE[1]:g} BPM, got {tempo:g}")
    if bars is None:
        bars = max(1, round(duration * (tempo or DEFAULT_BPM) / 60.0 / beats_per_bar))
    if bars < 1:
        raise ConfigError(f"bars must be >= 1, got {bars}")
    bpm = bars * beats_per_bar * 60.0 / duration
    if not TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
        raise ConfigError(f"{bars} bars in {duration:.1f} s would be {bpm:.0f} BPM (must be 20..300)")
    return bars, bpm


def visual_beats(times: np.ndarray, speed: np.ndarray, min_gap: float = BEAT_MIN_GAP_S) -> tuple[np.ndarray, np.ndarray]:
    """(times, heights) of the peaks of the positive change of speed."""
    if len(speed) < 3:
        return np.zeros(0), np.zeros(0)
    rise = np.maximum(np.diff(speed, prepend=speed[0]), 0.0)
    floor = max(STRENGTH_EDGES[0], float(np.median(rise)) * 2)
    peaks = [i for i in range(len(rise))
             if rise[i] > floor and rise[i] >= rise[max(0, i - 1)] and rise[i] >= rise[min(len(rise) - 1, i + 1)]]
    kept: list[int] = []
    for i in sorted(peaks, key=lambda i: -rise[i]):          # strongest first, then non-maximum suppression
        if all(abs(times[i] - times[j]) >= min_gap for j in kept):
            kept.append(i)
    kept.sort()
    return times[kept], rise[kept]


def classes(values: np.ndarray, edges: tuple[float, ...], n: int) -> np.ndarray:
    return np.clip(1 + np.digitize(values, edges), 1, n - 1).astype(np.int64)


def controls_from_speed(times: np.ndarray, speed: np.ndarray, duration: float, fps: float,
                        beats_per_bar: float = 4.0, bars: int | None = None, sensitivity: float = 1.0,
                        tempo: float | None = None) -> VideoControls:
    """Per-bar controls from a speed curve sampled at ``times`` (seconds).

    ``sensitivity`` scales the measured motion before it is classed (0.5: twice the motion for the same
    density, so a still shot's sensor noise stays in the calmest class); ``tempo`` (BPM) is the target
    the bar count is chosen around when ``bars`` is not given.
    """
    if not sensitivity > 0:
        raise ConfigError(f"sensitivity must be > 0, got {sensitivity}")
    speed = np.asarray(speed, dtype=np.float64) * sensitivity
    bars, bpm = bar_grid(duration, beats_per_bar, bars, tempo)
    bar_s = beats_per_bar * 60.0 / bpm
    idx = np.minimum((times / bar_s).astype(np.int64), bars - 1)
    per_bar = np.array([speed[idx == b].mean() if (idx == b).any() else 0.0 for b in range(bars)])
    bt, bh = visual_beats(times, speed)
    bidx = np.minimum((bt / bar_s).astype(np.int64), bars - 1)
    strongest = np.array([bh[bidx == b].max() if (bidx == b).any() else 0.0 for b in range(bars)])
    return VideoControls(duration, fps, bpm, beats_per_bar, per_bar, bt, bh,
                         classes(per_bar, DENSITY_EDGES, DENSITY_CLASSES),
                         classes(strongest, STRENGTH_EDGES, STRENGTH_CLASSES))


def motion_curve(path: str | Path, method: str = "dis") -> tuple[np.ndarray, np.ndarray, float, float]:
    """(times s, speed, duration s, fps) of a video file; InputError when it cannot be read."""
    import cv2

    from bridge.api import input_file

    p = input_file(path, "video file", missing=f"no video file {path}")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise InputError(f"cannot read video {p} (not a video OpenCV can decode)")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
        if not 1.0 <= fps <= 1000.0:
            raise InputError(f"video {p} has no usable frame rate ({fps:g} fps)")
        step = max(1, round(fps / ANALYSIS_FPS))
        meter = FlowMeter(method)
        times, speed = [], []
        frames = 0
        while True:
            ok = cap.grab() if frames % step else True
            if frames % step == 0:
                ok, frame = cap.read()
                if ok:
                    s = meter.feed(frame, frames / fps)
                    if s is not None:
                        times.append(frames / fps)
                        speed.append(s)
            if not ok:
                break
            frames += 1
    finally:
        cap.release()
    if frames < 2:
        raise InputError(f"video {p} has {'no' if frames == 0 else 'only one'} frame{'s' if frames == 0 else ''}")
    return np.asarray(times), np.asarray(speed), frames / fps, fps


def video_controls(path: str | Path, beats_per_bar: float = 4.0, bars: int | None = None,
                   method: str = "dis", sensitivity: float = 1.0, tempo: float | None = None) -> VideoControls:
    """The bar grid and per-bar density / strength classes of a video file (see :func:`controls_from_speed`)."""
    times, speed, duration, fps = motion_curve(path, method)
    c = controls_from_speed(times, speed, duration, fps, beats_per_bar, bars, sensitivity, tempo)
    log.info("video %s: %.1f s, %d bars at %.1f BPM, %d visual beats", path, duration, c.bars, c.bpm, len(c.beat_times))
    return c


class LiveMotion:
    """Per-bar controls from frames that arrive live (a camera, or a video played in time).

    ``add(frame, seconds, beat)`` feeds one frame; ``bar_controls(bar)`` gives the
    (density, strength) classes of a bar from the frames seen in it, with the same
    mapping as :func:`controls_from_speed` (a bar with no frames: (1, 1)).
    """

    def __init__(self, beats_per_bar: float = 4.0, method: str = "dis") -> None:
        self.beats_per_bar = beats_per_bar
        self.meter = FlowMeter(method)
        self._samples: list[tuple[float, float, float]] = []     # (seconds, beat, speed)

    def add(self, frame: np.ndarray, seconds: float, beat: float) -> float | None:
        s = self.meter.feed(frame, seconds)
        if s is not None:
            self._samples.append((seconds, beat, s))
            if len(self._samples) > 20000:
                del self._samples[:10000]
        return s

    def bar_controls(self, bar: int, sensitivity: float = 1.0) -> tuple[int, int]:
        lo, hi = bar * self.beats_per_bar, (bar + 1) * self.beats_per_bar
        if not self._samples:
            return 1, 1
        arr = np.asarray(self._samples)
        t, beat, speed = arr[:, 0], arr[:, 1], arr[:, 2] * sensitivity
        inside = (beat >= lo) & (beat < hi)
        if not inside.any():
            return 1, 1
        bt, bh = visual_beats(t, speed)
        in_bar = np.interp(bt, t, beat) if len(bt) else bt
        strongest = bh[(in_bar >= lo) & (in_bar < hi)].max() if ((in_bar >= lo) & (in_bar < hi)).any() else 0.0
        d = classes(np.array([speed[inside].mean()]), DENSITY_EDGES, DENSITY_CLASSES)[0]
        s = classes(np.array([strongest]), STRENGTH_EDGES, STRENGTH_CLASSES)[0]
        return int(d), int(s)


def open_camera(index: int):
    """An opened cv2.VideoCapture on camera ``index``; InputError when there is none."""
    import cv2

    cap = cv2.VideoCapture(int(index))
    if not cap.isOpened():
        cap.release()
        raise InputError(f"no camera {index} (none found, or it is in use)")
    ok, _ = cap.read()
    if not ok:
        cap.release()
        raise InputError(f"camera {index} opened but gives no frames")
    return cap
