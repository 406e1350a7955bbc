"""The butterchurn peer of the visuals benchmark (issue 13): MilkDrop in WebGL, in headless Debian chromium.

butterchurn (MIT, npm; pinned in bench/peers/butterchurn/package.json, installed by
``bash bench/setup_butterchurn.sh``) runs in ``/usr/bin/chromium`` driven by Playwright,
with software WebGL (SwiftShader), from a local page (bench/peers/butterchurn/index.html:
the UMD builds from node_modules, no network). It is fed the same audio as ours, frame by
frame and deterministically, not played in real time:

- for video frame i, the 1024 samples (butterchurn's analyser size) centred on the middle
  of the frame's display time, as ours takes them (plugins/visuals/features.py), turned
  into the bytes a Web Audio ``AnalyserNode.getByteTimeDomainData`` gives
  (``floor(128 (1 + x))`` clipped to 0..255; mono = (L + R) / 2, as the analyser downmixes);
- ``visualizer.render({audioLevels: {timeByteArray, timeByteArrayL, timeByteArrayR},
  elapsedTime: 1 / fps})`` per frame, then ``gl.readPixels`` of the canvas;
- ``Math.random`` is a seeded PRNG installed before butterchurn loads, so a run repeats.

The frames go through the benchmark's own measures (bench/visuals_metrics.py): grey
128 px, frame-to-frame change, :func:`visuals_metrics.sync` against the onset strength.
"""
from __future__ import annotations

import base64
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import visuals_metrics as vm  # noqa: E402

log = logging.getLogger(__name__)

PEER_DIR = Path(__file__).resolve().parent / "peers" / "butterchurn"
PAGE = PEER_DIR / "index.html"
CHROMIUM = "/usr/bin/chromium"
ANALYSER_SIZE = 1024          # butterchurn's AudioProcessor fftSize
# Three popular presets of butterchurn-presets' main pack: the one butterchurn's README loads,
# a Geiss classic and a Flexi classic (all in butterchurnPresets.min.js).
PRESETS = ("Flexi, martin + geiss - dedicated to the sherwin maxawow",
           "Geiss - Reaction Diffusion 2",
           "Flexi - predator-prey-spirals")
SWIFTSHADER_ARGS = ["--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                    "--ignore-gpu-blocklist", "--enable-webgl"]
BATCH = 30                    # frames per page call


def unavailable() -> str | None:
    """Why the peer cannot run here (one line), or None when it can."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return "chromium is not installed (Debian package chromium)"
    if not (PEER_DIR / "node_modules" / "butterchurn" / "lib" / "butterchurn.js").is_file() or \
            not (PEER_DIR / "node_modules" / "butterchurn-presets" / "lib" / "butterchurnPresets.min.js").is_file():
        return "butterchurn is not installed (bash bench/setup_butterchurn.sh: npm install in bench/peers/butterchurn)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the dev extra)"
    return None


def analyser_bytes(samples: np.ndarray, rate: int, fps: float, n_frames: int) -> np.ndarray:
    """[n_frames, 3, 1024] uint8: what butterchurn's three analysers (mono, left, right) hold at each frame.

    ``samples``: [n] mono or [n, 2] stereo floats in -1..1 at ``rate`` Hz. Frame i takes the
    1024 samples centred on (i + 0.5) / fps seconds (zeros outside the recording).
    """
    x = np.asarray(samples, np.float64)
    if x.ndim == 1:
        x = np.stack([x, x], axis=1)
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        raise ValueError(f"samples must be [n] or [n, 1|2], got shape {x.shape}")
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    half = ANALYSER_SIZE // 2
    padded = np.concatenate([np.zeros((ANALYSER_SIZE, 2)), x, np.zeros((ANALYSER_SIZE, 2))])
    out = np.empty((n_frames, 3, ANALYSER_SIZE), np.uint8)
    for i in range(n_frames):
        centre = int(round((i + 0.5) / fps * rate)) + ANALYSER_SIZE
        seg = padded[centre - half:centre + half]
        chans = np.stack([seg.mean(axis=1), seg[:, 0], seg[:, 1]])
        out[i] = np.clip(np.floor(128.0 * (1.0 + chans)), 0, 255).astype(np.uint8)
    return out


def frames_from_bytes(raw: bytes, n: int, side: int) -> np.ndarray:
    """[n, side, side, 3] uint8, top row first, from the page's bottom-row-first RGB bytes."""
    if len(raw) != n * side * side * 3:
        raise ValueError(f"expected {n * side * side * 3} bytes for {n} frames of {side} px, got {len(raw)}")
    return np.frombuffer(raw, np.uint8).reshape(n, side, side, 3)[:, ::-1]


def sync_of_frames(greys: np.ndarray, onset: np.ndarray, fps: float) -> dict:
    """The benchmark's sync measure of grey frames [n, h, w] against the onset strength [n]."""
    n = min(len(greys), len(onset))
    return vm.sync(np.asarray(onset)[:n], vm.frame_change(np.asarray(greys)[:n]), fps)


class ButterchurnPeer:
    """One headless chromium with the peer page; :meth:`render` runs one preset over one recording."""

    def __init__(self, side: int = 256) -> None:
        why = unavailable()
        if why:
            raise RuntimeError(why)
        self.side = int(side)
        self._pw = self._browser = self.page = None
        self.gl_renderer = ""

    def __enter__(self) -> ButterchurnPeer:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        self._browser = self._pw.chromium.launch(executable_path=exe, headless=True, args=SWIFTSHADER_ARGS)
        self.page = self._browser.new_page()
        errors: list[str] = []
        self.page.on("pageerror", lambda e: errors.append(str(e)))
        self.page.goto(PAGE.as_uri())
        if errors:
            raise RuntimeError(f"butterchurn page failed to load: {errors[0]}")
        return self

    def __exit__(self, *exc) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._pw is not None:
            self._pw.stop()

    def preset_names(self) -> list[str]:
        return self.page.evaluate("window.bcPresetNames()")

    def frames(self, preset: str, audio: np.ndarray, rate: int, fps: float, seed: int = 0) -> Iterator[np.ndarray]:
        """RGB frames [side, side, 3] uint8 of ``preset`` fed ``audio`` ([n, 3, 1024] from :func:`analyser_bytes`)."""
        self.gl_renderer = self.page.evaluate("([p, s, r, f, seed]) => window.bcInit(p, s, r, f, seed)",
                                              [preset, self.side, int(rate), float(fps), int(seed)])
        for start in range(0, len(audio), BATCH):
            chunk = np.ascontiguousarray(audio[start:start + BATCH])
            b64 = self.page.evaluate("([a, n]) => window.bcRender(a, n)",
                                     [base64.b64encode(chunk.tobytes()).decode("ascii"), len(chunk)])
            yield from frames_from_bytes(base64.b64decode(b64), len(chunk), self.side)

    def greys(self, preset: str, audio: np.ndarray, rate: int, fps: float, seed: int = 0,
              keep_every: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
        """(grey 128 px frames [n, 128, 128], every ``keep_every``-th RGB frame) of one preset."""
        greys, kept = [], []
        for i, f in enumerate(self.frames(preset, audio, rate, fps, seed)):
            greys.append(vm.grey_small(f, 128))
            if keep_every and i % keep_every == 0:
                kept.append(f)
        return np.stack(greys), kept


def peer_sync(peer: ButterchurnPeer, samples: np.ndarray, rate: int, onset: np.ndarray, fps: float,
              presets: tuple[str, ...] = PRESETS, seed: int = 0) -> dict[str, dict]:
    """{preset: sync dict} for one recording: the same frames count and onset curve as ours."""
    audio = analyser_bytes(samples, rate, fps, len(onset))
    out = {}
    for name in presets:
        greys, _ = peer.greys(name, audio, rate, fps, seed)
        out[name] = sync_of_frames(greys, onset, fps)
    return out


def versions() -> dict[str, str]:
    """The installed npm packages' versions (what the page loads)."""
    import json

    out = {}
    for pkg in ("butterchurn", "butterchurn-presets"):
        meta = PEER_DIR / "node_modules" / pkg / "package.json"
        out[pkg] = json.loads(meta.read_text())["version"] if meta.is_file() else "missing"
    return out


def summarise(rows: list[dict], key: str, ours_median: float) -> dict:
    """Summary figures of the peer over pieces: per preset median r, the median of those, controls, the ratio.

    ``rows[k][key]`` is {preset: sync dict} for piece k; ``ours_median``: our median r measured
    the same way (128 px, in-process) in the same run.
    """
    names = list(rows[0][key])
    per = {n: round(float(np.median([r[key][n]["r"] for r in rows])), 3) for n in names}
    med = round(float(np.median(list(per.values()))), 3)
    every = [r[key][n] for r in rows for n in names]
    return {"sync_r_butterchurn_median": med, "sync_r_butterchurn_presets": per,
            "sync_r_butterchurn_all_median": round(float(np.median([s["r"] for s in every])), 3),
            "sync_r_butterchurn_max": round(float(max(s["r"] for s in every)), 3),
            "sync_control_shifted_butterchurn_median": round(float(np.median([s["control_shifted"] for s in every])), 3),
            "sync_best_lag_butterchurn_median": float(np.median([s["best_lag_frames"] for s in every])),
            "sync_ratio_vs_butterchurn": round(ours_median / med, 2) if med > 0 else None}
