"""Live transcription through a real audio path: audio block -> note-on latency over JACK (issue 14).

A JACK server (dummy driver, ``--period`` frames at 48 kHz) runs; another process
(tests/jack_wav_player.py) plays FluidSynth renders of melodies into it; the
transcription's live input listens to that port through the JACK client library
(``AudioInput(device="jack:<player>:out")``, what ``/cmt/transcription/listen
jack:<port>`` opens) and each note-on is stamped (time.monotonic) the moment the
transcriber knows it. The player reports the JACK frame of its first sample, so
each true onset has a JACK time, turned into monotonic time with libjack's
jack_frames_to_time. Latency = note-on stamp - true onset.

Baseline in the same run: the same audio pushed in-process through the same
StreamTranscriber in blocks of one JACK period (no JACK, no threads): its
latency is the algorithm's own (look-ahead + block + compute). The ratio says
what the real path adds. Material: the tests' hand-written tune and three
seeded random-walk melodies (not from any corpus), five GM instruments.

    .venv/bin/python bench/bench_transcription_jack.py [--period 256]

Writes bench/results/transcription_jack.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import peers  # noqa: E402  (the tests' JACK harness: jackd dummy, stale-slot clean-up)
from bridge.events import Note  # noqa: E402
from bridge.midifile import write_notes  # noqa: E402

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
PROGRAMS = {"flute": 73, "violin": 40, "trumpet": 56, "piano": 0, "alto sax": 65}
TUNE = [(67, 0.0, 0.5), (69, 0.5, 0.5), (71, 1.0, 1.0), (74, 2.0, 0.5), (74, 2.5, 0.5), (72, 3.0, 0.5),
        (71, 3.5, 0.5), (69, 4.0, 1.0), (66, 5.0, 0.5), (67, 5.5, 0.5), (62, 6.0, 0.5), (62, 6.5, 0.5),
        (67, 7.0, 2.0)]
PLAYER = ROOT / "tests" / "jack_wav_player.py"
LEAD = 0.5  # seconds of silence before the first note


def melodies(n: int = 3) -> list[list[tuple[int, float, float]]]:
    """The tune plus ``n`` seeded random walks (beats; steps and leaps, 8ths and quarters)."""
    out = [TUNE]
    for seed in range(n):
        rng = np.random.default_rng(100 + seed)
        pitch, t, notes = int(rng.integers(60, 72)), 0.0, []
        for _ in range(16):
            d = float(rng.choice([0.5, 0.5, 1.0]))
            notes.append((pitch, t, d))
            t += d
            pitch = int(np.clip(pitch + rng.choice([-5, -3, -2, -1, 1, 2, 3, 4, 7]), 55, 84))
        out.append(notes)
    return out


def render(tmp: Path, notes, instrument: str, bpm: float, rate: int) -> tuple[Path, list[tuple[float, int]]]:
    mid = write_notes(tmp / "m.mid", [Note(p, 90, LEAD * bpm / 60 + s, d * 0.9) for p, s, d in notes], bpm=bpm,
                      programs={0: PROGRAMS[instrument]})
    wav = tmp / f"{instrument.replace(' ', '_')}_{len(list(tmp.iterdir()))}.wav"
    subprocess.run(["fluidsynth", "-ni", "-g", "1.0", "-r", str(rate), "-F", str(wav), SOUNDFONT, str(mid)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return wav, [(LEAD + s * 60 / bpm, p) for p, s, _ in notes]


def match(stamps: list[tuple[float, int]], onsets: list[tuple[float, int]], window: float = 0.25) -> list[float]:
    """Latency of each true onset's first note-on of the same pitch within ``window`` s after it."""
    lat, used = [], set()
    for t, p in onsets:
        best = None
        for i, (s, q) in enumerate(stamps):
            if i not in used and q == p and 0 <= s - t <= window and (best is None or s < stamps[best][0]):
                best = i
        if best is not None:
            used.add(best)
            lat.append(stamps[best][0] - t)
    return lat


def in_process(model, wav: Path, onsets, block: int) -> tuple[list[float], int]:
    """The baseline: the file pushed through the StreamTranscriber in blocks of ``block`` frames, no JACK."""
    import soundfile

    from bridge.api import StreamResampler
    from plugins.transcription.audio import SAMPLE_RATE
    from plugins.transcription.stream import StreamTranscriber

    x, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    stream, res = StreamTranscriber(model), StreamResampler(rate, SAMPLE_RATE)
    stamps = []
    for i in range(0, len(x), block):
        t0 = time.perf_counter()
        started, _ = stream.push(res.push(x[i:i + block]))
        dt = time.perf_counter() - t0
        stamps += [((i + block) / rate + dt, n.pitch) for n in started]   # known at the block's end + compute
    return match(stamps, onsets), len(onsets)


def over_jack(model, server: peers.JackServer, wav: Path, onsets, name: str) -> tuple[list[float], int, int]:
    from bridge.sinks import _JackTime
    from plugins.transcription.audio_in import AudioInput

    stamps: list[tuple[float, int]] = []
    lock = threading.Lock()

    def on_note(kind, note, decided_at) -> None:
        if kind == "on":
            with lock:
                stamps.append((time.monotonic(), note.pitch))

    player = subprocess.Popen([sys.executable, str(PLAYER), str(wav), name, "--wait-connection"],
                              stdout=subprocess.PIPE, text=True, env=server.env)
    live = None
    try:
        if player.stdout.readline().strip() != "ready":
            raise RuntimeError("the JACK player did not start")
        live = AudioInput(model, on_note, device=f"jack:{name}:out")
        clock = _JackTime(live.jack.client)
        live.start()
        first = int(player.stdout.readline().split()[1])
        start = clock.time_of(first)
        player.stdout.readline()   # done
        time.sleep(0.3)
    finally:
        if live is not None:
            live.stop()
        player.kill()
        player.wait()
    xruns = live.jack.xruns if live is not None else 0
    return match([(s - start, p) for s, p in stamps], onsets), len(onsets), xruns


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--period", type=int, default=256, help="JACK period, frames at 48 kHz (default 256: 5.3 ms)")
    ap.add_argument("--model", type=Path, default=ROOT / "onnx_models" / "transcription")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "transcription_jack.json")
    args = ap.parse_args(argv)
    from plugins.transcription.transcriber import Transcriber

    model = Transcriber.load(args.model)
    server = peers.JackServer(rate=48000, period=args.period).start()
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    rows, all_jack, all_base = [], [], []
    mark = server.log_mark()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            for m, notes in enumerate(melodies()):
                for k, instrument in enumerate(PROGRAMS):
                    bpm = 100.0 + 20 * ((m + k) % 3)
                    wav, onsets = render(tmp, notes, instrument, bpm, server.rate)
                    base, n = in_process(model, wav, onsets, args.period)
                    lat, _, xr = over_jack(model, server, wav, onsets, f"benchplayer{m}{k}")
                    all_jack += lat
                    all_base += base
                    rows.append({"melody": m, "instrument": instrument, "bpm": bpm, "onsets": n,
                                 "found_jack": len(lat), "found_in_process": len(base), "client_xruns": xr,
                                 "latency_ms_median_jack": round(1000 * float(np.median(lat)), 1) if lat else None,
                                 "latency_ms_median_in_process": round(1000 * float(np.median(base)), 1) if base else None})
                    print(f"melody {m} {instrument:8s} {bpm:.0f} BPM: {len(lat)}/{n} notes over JACK, median "
                          f"{rows[-1]['latency_ms_median_jack']} ms (in-process {rows[-1]['latency_ms_median_in_process']} ms)",
                          flush=True)
        lost = server.lost_periods(mark)
    finally:
        server.stop()
    jack_ms = 1000 * np.array(all_jack)
    base_ms = 1000 * np.array(all_base)
    summary = {
        "notes": int(sum(r["onsets"] for r in rows)), "found_jack": len(all_jack), "found_in_process": len(all_base),
        "latency_ms_median_jack": round(float(np.median(jack_ms)), 1),
        "latency_ms_p95_jack": round(float(np.percentile(jack_ms, 95)), 1),
        "latency_ms_max_jack": round(float(jack_ms.max()), 1),
        "latency_ms_median_in_process": round(float(np.median(base_ms)), 1),
        "ratio_jack_vs_in_process": round(float(np.median(jack_ms) / np.median(base_ms)), 2),
        "jack_lost_periods": lost, "target_ms": 100,
    }
    result = {"setup": {"period_frames": args.period, "rate": 48000, "period_ms": round(1000 * args.period / 48000, 2),
                        "driver": "jackd --no-realtime -d dummy", "soundfont": SOUNDFONT, "melodies": 4,
                        "instruments": list(PROGRAMS), "load_average": list(os.getloadavg()), "cpus": os.cpu_count(),
                        "command": "python bench/bench_transcription_jack.py" +
                                   (f" --period {args.period}" if args.period != 256 else "")},
              "summary": summary, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
