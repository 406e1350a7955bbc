"""Measure the visuals' embedding reference (plugins/visuals/reference.json) on calibration music.

Calibration pieces are generated (bench/visuals_music.py, seeds 1000..1000+N, never
the benchmark's held-out seeds 0..99) and rendered with FluidR3_GM (the benchmark
renders with MuseScore_General). Each is tagged every 1 s with the shipped tagger;
the reference is the mean and the top 8 principal axes of all sounding windows'
embeddings, stamped with the tagger graph's sha256.

    .venv/bin/python bench/visuals_reference.py [--pieces 24] [--seconds 12]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from plugins.tagger.tagger import Tagger  # noqa: E402
from plugins.visuals.analysis import model_sha256  # noqa: E402
from plugins.visuals.reference import REFERENCE_FILE, fit_reference  # noqa: E402
from visuals_music import render_piece  # noqa: E402

FIRST_SEED = 1000
FONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pieces", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("-o", "--out", type=Path, default=REFERENCE_FILE)
    args = ap.parse_args()
    tagger = Tagger.load()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.pieces):
            wav = render_piece(FIRST_SEED + k, Path(tmp) / f"c{k}.wav", args.seconds, font=FONT)
            tl = tagger.tag_file(wav, 1.0)
            rows.append(tl.embeddings[~tl.silent])
            print(f"calibration piece {k + 1}/{args.pieces}: {int((~tl.silent).sum())} windows", file=sys.stderr)
    emb = np.concatenate(rows)
    ref = fit_reference(emb, model_sha256(tagger))
    doc = ref.to_json() | {"measured_on": {"pieces": args.pieces, "seconds": args.seconds, "windows": len(emb),
                                           "seeds": [FIRST_SEED, FIRST_SEED + args.pieces - 1], "soundfont": FONT,
                                           "command": "python bench/visuals_reference.py"}}
    args.out.write_text(json.dumps(doc) + "\n")
    print(f"{args.out}: mean |e| {np.linalg.norm(ref.mean):.2f}, axis spreads {np.round(ref.scales, 2).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
