"""``cmt-bridge tag song.wav``: tags over time (JSON), the sentence, a heat-map picture.

Heavy imports wait inside the command so ``cmt-bridge --help`` stays instant.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bridge.api import ConfigError, InputError

TAG_EXAMPLES = """what it does:
  Cuts the recording into windows (the model's length, 3 s for the shipped model) every --hop
  seconds, tags each window (instruments, texture, tempo, density, register, mode, dynamics,
  articulation), prints one sentence for the whole file (the window probabilities averaged),
  writes the tags over time as JSON (one row per window, with its start time) and draws them
  as a heat map. Silence is answered "silence"; a file shorter than a window is padded.

examples:
  cmt-bridge tag song.wav                          (writes song.tags.json and song.tags.png here)
  cmt-bridge tag song.mp3 -o out/song.json --picture out/song.png --style prompt
  cmt-bridge tag take.flac --hop 0.5 --threshold 0.4          (denser rows, every tag at 0.4)
  cmt-bridge tag take.ogg -o - --threshold piano=0.3 > tags.json    (JSON on stdout)

the sentence:
  plain   a fast, loud piece for strings and piano in a minor key
  prompt  an image evoking a fast, loud piece for strings and piano in a minor key, loud, fast,
          minor key, strings and piano"""
PROGRESS_MIN_WINDOWS = 40   # a progress bar from about a minute of audio on
DECIMALS = 4


def add_commands(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("tag", help="audio -> tags over time (JSON), a sentence and a heat map, with the tagger",
                       description="Tag a recording (WAV, FLAC, OGG, MP3 or anything FFmpeg decodes) with the "
                                   "tagger model: what it sounds like, as tags and a sentence.",
                       epilog=TAG_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("audio", type=Path, help="the recording (any sample rate, mono or stereo)")
    t.add_argument("-o", "--out", default=None,
                   help="the JSON file to write (default: <audio name>.tags.json here; '-': stdout)")
    t.add_argument("--picture", default=None,
                   help="the heat-map PNG (default: next to the JSON, .png; '' for none)")
    t.add_argument("--style", choices=("plain", "prompt"), default="plain",
                   help="the sentence: plain, or an image-generation prompt (default plain)")
    t.add_argument("--hop", type=float, default=None,
                   help="seconds between window starts (default 1.5; the window is the model's)")
    t.add_argument("--threshold", action="append", default=[], metavar="P|TAG=P",
                   help="probability a tag needs (default: the model's per-tag thresholds); repeatable")
    t.add_argument("--model", type=Path, default=None, help="model folder (default onnx_models/tagger)")
    t.set_defaults(func=cmd_tag)


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """``["0.4", "piano=0.3"]`` -> ``{"*": 0.4, "piano": 0.3}``."""
    out: dict[str, float] = {}
    for item in items:
        tag, _, value = item.rpartition("=")
        try:
            p = float(value)
        except ValueError:
            raise ConfigError(f"--threshold {item!r}: expected P or TAG=P with P in 0..1") from None
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"--threshold {item!r}: P must be in range 0..1")
        out[tag or "*"] = p
    return out


def _writable(path: Path, what: str) -> None:
    """A one-line error now, before the work, when ``path`` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder")
    if not parent.is_dir():
        raise InputError(f"cannot write {what} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"cannot write {what} {path}: permission denied")


def timeline_json(tl, captioner, sentence: str, style: str, source: Path, model: dict) -> dict:
    """The JSON document: the file, the model, then one row per window and the pooled result."""
    rows = []
    for i, start in enumerate(tl.starts_seconds):
        probs = tl.probabilities[i]
        chosen: dict[str, list[str]] = {}
        for c in ([] if tl.silent[i] else captioner.choose(probs)):
            chosen.setdefault(c.group, []).append(c.tag)
        rows.append({"start": round(float(start), 3), "end": round(float(start) + tl.window_seconds, 3),
                     "silent": bool(tl.silent[i]), "tags": chosen,
                     "probabilities": {t: round(float(p), DECIMALS) for t, p in zip(tl.tags, probs)}})
    pooled = tl.pooled()
    chosen = {}
    for c in ([] if tl.is_silence else captioner.choose(pooled)):
        chosen.setdefault(c.group, []).append(c.tag)
    return {"file": str(source), "duration_seconds": round(tl.duration_seconds, 3), "model": model,
            "sample_rate": tl.rate, "window_seconds": tl.window_seconds, "hop_seconds": round(tl.hop_seconds, 4),
            "padded": tl.padded, "silence": tl.is_silence, "style": style, "sentence": sentence,
            "tags": chosen, "probabilities": {t: round(float(p), DECIMALS) for t, p in zip(tl.tags, pooled)},
            "thresholds": captioner.thresholds, "tag_groups": captioner.groups, "windows": rows}


def cmd_tag(args) -> int:
    from .caption import Captioner
    from .picture import render_heatmap
    from .tagger import DEFAULT_HOP_SECONDS, Tagger, window_starts

    hop = DEFAULT_HOP_SECONDS if args.hop is None else args.hop
    if not hop > 0:
        raise ConfigError(f"--hop must be > 0 seconds, got {hop:g}")
    overrides = parse_thresholds(args.threshold)
    to_stdout = args.out == "-"
    out = None if to_stdout else Path(args.out) if args.out else Path(f"{args.audio.stem}.tags.json")
    picture = args.picture
    if picture is None:
        picture = str(out.with_suffix(".png")) if out is not None else f"{args.audio.stem}.tags.png"
    picture_path = Path(picture) if picture else None
    for path, what in ((out, "the JSON"), (picture_path, "the picture")):
        if path is not None:
            _writable(path, what)
    if not args.audio.is_file():
        raise InputError(f"{args.audio}: no such audio file")

    tagger = Tagger.load(args.model)
    captioner = Captioner(tagger.tags, tagger.groups, tagger.thresholds).with_thresholds(overrides)
    from bridge.api import read_audio

    samples = read_audio(args.audio, tagger.rate)
    windows = len(window_starts(len(samples), tagger.window, max(1, int(round(hop * tagger.rate)))))
    bar = None
    if windows >= PROGRESS_MIN_WINDOWS:
        from bridge.api import Progress

        bar = Progress(windows, f"tagging {args.audio.name}", unit="windows")
    try:
        tl = tagger.timeline(samples, hop, progress=bar.at if bar else None)
    finally:
        if bar is not None:
            bar.close()
    sentence = captioner.sentence(tl.pooled(), args.style, tl.is_silence)
    model = {"name": tagger.name, "version": tagger.bundle.manifest.get("version"), "folder": str(tagger.bundle.folder)}
    doc = timeline_json(tl, captioner, sentence, args.style, args.audio, model)
    text = json.dumps(doc, indent=1)
    if tl.padded:
        print(f"{args.audio}: {tl.duration_seconds:.2f} s is shorter than one {tl.window_seconds:g} s window; "
              f"padded with silence", file=sys.stderr)
    if to_stdout:
        print(text)
        print(sentence, file=sys.stderr)
    else:
        try:
            out.write_text(text + "\n")
        except OSError as e:
            raise InputError(f"cannot write the JSON {out} ({e.strerror or e})") from None
        print(sentence)
        print(out)
    if picture_path is not None:
        render_heatmap(tl, captioner.groups, captioner.thresholds, picture_path, title=f"{args.audio.name}: {sentence}")
        print(picture_path, file=sys.stderr if to_stdout else sys.stdout)
    return 0


def run(argv: list[str] | None = None) -> int:
    """These commands without the host's CLI (``python -m plugins.tagger``): one-line errors, exit 2."""
    from bridge.api import run_commands

    return run_commands(add_commands, argv)
