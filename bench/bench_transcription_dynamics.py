"""Transcription dynamics (issue 14): does every note get a velocity that follows how hard it was played?

Melodies of 40 notes (seeded random walks, not from any corpus) with a random
velocity per note (25..126) are rendered by FluidSynth with FluidR3_GM (a
training soundfont) and MuseScore_General (never heard in training), at two
output gains (1.0 and 0.4: a recording's level is arbitrary), five
instruments. The model transcribes each; notes found within 60 ms at the
right pitch are matched, and the Spearman rank correlation between the true
and the transcribed velocity is reported per cell and overall.

Baseline in the same run: the loudness of the audio (RMS, dB) in the 50 ms
after each true onset, ranked the same way (what a level meter would say).

    .venv/bin/python bench/bench_transcription_dynamics.py

Writes bench/results/transcription_dynamics.json.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.events import Note  # noqa: E402
from bridge.midifile import write_notes  # noqa: E402
from plugins.transcription.audio import SAMPLE_RATE, read_audio  # noqa: E402
from plugins.transcription.transcriber import Transcriber  # noqa: E402

SOUNDFONTS = {"fluidr3 (training)": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "musescore (unseen)": "/usr/share/sounds/sf3/MuseScore_General.sf3"}
PROGRAMS = {"flute": 73, "violin": 40, "trumpet": 56, "piano": 0, "alto sax": 65}
GAINS = (1.0, 0.4)
BPM = 120.0


def spearman(a, b) -> float:
    """Spearman's rho with average ranks for ties (numpy only)."""
    def ranks(x):
        x = np.asarray(x, float)
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):   # ties share their mean rank
            m = x == v
            r[m] = r[m].mean()
        return r
    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def melody(seed: int) -> list[Note]:
    rng = np.random.default_rng(seed)
    notes, t, pitch = [], 0.5, int(rng.integers(62, 72))
    for _ in range(40):
        d = float(rng.choice([0.3, 0.45, 0.6]))
        notes.append(Note(pitch, int(rng.integers(25, 127)), t * BPM / 60, d * 0.9 * BPM / 60))
        t += d
        pitch = int(np.clip(pitch + rng.choice([-4, -2, -1, 1, 2, 3, 5]), 58, 84))
    return notes


def main() -> int:
    model = Transcriber.load(ROOT / "onnx_models" / "transcription")
    rows, overall = [], {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for font, sf in SOUNDFONTS.items():
            for gain in GAINS:
                for k, (inst, prog) in enumerate(PROGRAMS.items()):
                    notes = melody(100 + k)
                    mid = write_notes(tmp / "m.mid", notes, bpm=BPM, programs={0: prog})
                    wav = tmp / "m.wav"
                    subprocess.run(["fluidsynth", "-ni", "-g", str(gain), "-r", str(SAMPLE_RATE), "-F", str(wav), sf,
                                    str(mid)], check=True, capture_output=True)
                    x = read_audio(wav)
                    found = model.transcribe(x)
                    true, ours, level = [], [], []
                    for n in notes:
                        s = n.start * 60 / BPM
                        match = [f for f in found if f.pitch == n.pitch and abs(f.start - s) < 0.06]
                        if not match:
                            continue
                        a = int(s * SAMPLE_RATE)
                        seg = x[a:a + int(0.05 * SAMPLE_RATE)]
                        true.append(n.velocity)
                        ours.append(match[0].velocity)
                        level.append(20 * np.log10(np.sqrt(np.mean(seg ** 2)) + 1e-9))
                    key = (font, gain)
                    o = overall.setdefault(key, {"true": [], "ours": [], "level": []})
                    o["true"] += true
                    o["ours"] += ours
                    o["level"] += level
                    rows.append({"soundfont": font, "gain": gain, "instrument": inst, "notes": len(notes),
                                 "matched": len(true), "spearman_ours": round(spearman(true, ours), 3),
                                 "spearman_level_baseline": round(spearman(true, level), 3)})
                    print(f"{font:20s} gain {gain}: {inst:8s} {len(true)}/{len(notes)} matched, Spearman ours "
                          f"{rows[-1]['spearman_ours']:.3f}, level {rows[-1]['spearman_level_baseline']:.3f}",
                          flush=True)
    summary = {}
    for (font, gain), o in overall.items():
        summary[f"{font} gain {gain}"] = {"matched": len(o["true"]), "spearman_ours": round(spearman(o["true"], o["ours"]), 3),
                                          "spearman_level_baseline": round(spearman(o["true"], o["level"]), 3)}
    cells = [r["spearman_ours"] for r in rows]
    summary["min_cell_ours"] = round(float(np.nanmin(cells)), 3)
    summary["median_cell_ours"] = round(float(np.nanmedian(cells)), 3)
    summary["median_cell_level_baseline"] = round(float(np.nanmedian([r["spearman_level_baseline"] for r in rows])), 3)
    summary["target"] = 0.7
    out = ROOT / "bench" / "results" / "transcription_dynamics.json"
    out.write_text(json.dumps({"setup": {"melodies": "40-note seeded random walks, velocity 25..126 per note",
                                         "gains": list(GAINS), "bpm": BPM, "match": "same pitch, onset within 60 ms",
                                         "command": "python bench/bench_transcription_dynamics.py",
                                         "load_average": list(os.getloadavg())},
                               "summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
