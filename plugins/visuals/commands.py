"""``cmt-bridge visualize song.wav -o video.mp4``: a music video steered by the music, with its audio.

Heavy imports (moderngl, PyAV, onnxruntime) wait inside the command so ``cmt-bridge --help`` stays instant.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from bridge.api import ConfigError, InputError

log = logging.getLogger(__name__)

EXAMPLES = """what it does:
  Tags the recording with the tagger (every --hop seconds: tags, a sentence, a 512-d embedding)
  and measures every frame's onset strength and band energies. The embedding steers a smooth,
  seeded walk through the shader's shapes, onsets kick the motion and flash the pulse, the tags
  choose the palette. Renders each frame offscreen (OpenGL; Mesa's software renderer is enough),
  encodes H.264 with the audio muxed in (AAC), and writes a contact sheet next to the video.
  The same file, settings and seed give the same video. Silence gives a calm, slow video.

examples:
  cmt-bridge visualize song.wav -o song.mp4                     (512 px, 30 fps, seed 0)
  cmt-bridge visualize song.mp3 -o out/v.mp4 --size 720 --fps 24 --seed 7 --text
  cmt-bridge visualize song.flac -o v.mp4 --schedule prompts.txt --stills 4
  cmt-bridge visualize song.wav -o v.mp4 --generator my_stylegan/    (your own ONNX decoder)"""
SHEET_TILES = 12
STILL_SIZE = 1024


SCHEDULE_FORMATS = ("deforum", "parseq")   # schedule.FORMATS (importing schedule here would load numpy for --help)


def add_commands(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("visualize", help="audio -> a music video (MP4 with the audio) steered by the tagger and onsets",
                       description="Make a music video from a recording (WAV, FLAC, OGG, MP3 or what FFmpeg "
                                   "decodes), in about real time on a CPU.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("audio", type=Path, help="the recording")
    v.add_argument("-o", "--out", type=Path, default=None, help="the MP4 to write (default <audio name>.mp4 here)")
    v.add_argument("--size", type=int, default=512, help="frame side in pixels (default 512)")
    v.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    v.add_argument("--seed", type=int, default=0, help="the walk's seed: same song + seed = same video (default 0)")
    v.add_argument("--hop", type=float, default=1.0, help="seconds between tagger windows (default 1)")
    v.add_argument("--sheet", default=None, help="the contact-sheet PNG (default <video>.sheet.png; '' for none)")
    v.add_argument("--text", action="store_true", help="overlay the sentence of the moment on the frames")
    v.add_argument("--schedule", type=Path, default=None,
                   help="also write the sentences as a prompt schedule (keyframes on bar lines)")
    v.add_argument("--schedule-format", choices=SCHEDULE_FORMATS, default="deforum", help="deforum (default) or parseq")
    v.add_argument("--stills", type=int, default=0, metavar="N",
                   help=f"also write N album-cover stills ({STILL_SIZE} px) with their sentences")
    v.add_argument("--generator", type=Path, default=None,
                   help="an ONNX image generator folder with a latent input (manifest: see docs/visuals.md)")
    v.add_argument("--model", type=Path, default=None, help="tagger model folder (default onnx_models/tagger)")
    v.set_defaults(func=cmd_visualize)


def check_args(args) -> None:
    from .render import check_size

    check_size(args.size)
    if not 1.0 <= args.fps <= 120.0:
        raise ConfigError(f"--fps must be in range 1..120, got {args.fps:g}")
    if not 0 <= args.seed < 2 ** 32:
        raise ConfigError(f"--seed must be in range 0..{2 ** 32 - 1}, got {args.seed}")
    if not 0.05 <= args.hop <= 30:
        raise ConfigError(f"--hop must be in range 0.05..30 seconds, got {args.hop:g}")
    if not 0 <= args.stills <= 100:
        raise ConfigError(f"--stills must be in range 0..100, got {args.stills}")


def cmd_visualize(args) -> int:
    from bridge.api import Progress, input_file, output_path

    check_args(args)
    source = input_file(args.audio, "audio file", missing=f"{args.audio}: no such audio file")
    out = output_path(args.out or Path(f"{source.stem}.mp4"), "the video")
    if out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise InputError(f"the video {out}: the name must end in .mp4 (or .m4v, .mov)")
    sheet = None if args.sheet == "" else output_path(args.sheet or out.with_suffix(".sheet.png"), "the contact sheet")
    schedule = output_path(args.schedule, "the schedule") if args.schedule else None

    import numpy as np

    from bridge.api import decode_audio as decode
    from bridge.api import resample_audio as resample
    from plugins.tagger.tagger import Tagger

    from .analysis import analyse, frame_vectors
    from .render import make_renderer
    from .sheet import contact_sheet, overlay_text, write_stills
    from .video import VideoWriter

    began = time.perf_counter()
    tagger = Tagger.load(args.model)
    samples, rate = decode(source)
    if len(samples) < 0.05 * rate:
        raise InputError(f"{source}: {len(samples) / max(rate, 1):.3f} s of audio is too short for a video")
    analysis = analyse(resample(samples, rate, tagger.rate), tagger, args.fps, args.hop)
    vectors = frame_vectors(analysis, args.seed)
    if analysis.timeline.is_silence:
        print(f"{source}: silence; a calm video", file=sys.stderr)
    n = len(vectors)
    picks = set(np.linspace(0, n - 1, min(SHEET_TILES, n)).round().astype(int).tolist())
    tiles: dict[int, np.ndarray] = {}
    centres = analysis.window_centres
    bar = Progress(n, f"visualize {source.name}", unit="frames")
    part = out.with_name(f".{out.name}.part")      # the video appears whole or not at all
    try:
        with make_renderer(args.size, args.generator, args.seed) as renderer, \
                VideoWriter(part, args.size, args.fps, (samples, rate)) as video:
            for i, vector in enumerate(vectors):
                rgb = renderer.render(vector)
                if args.text:
                    rgb = overlay_text(rgb, analysis.sentences[int(np.argmin(np.abs(centres - (i + 0.5) / args.fps)))])
                video.write(rgb)
                if i in picks:
                    tiles[i] = rgb
                bar.update()
            bar.close()
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    stills = _stills(analysis, vectors, args) if args.stills else []
    seconds = time.perf_counter() - began
    print(analysis.sentence)
    print(f"{out}  ({n} frames, {analysis.duration_s:.1f} s, made in {seconds:.1f} s: "
          f"{analysis.duration_s / max(seconds, 1e-9):.2f}x real time)")
    if sheet is not None:
        order = sorted(tiles)
        contact_sheet([tiles[i] for i in order], [(i + 0.5) / args.fps for i in order],
                      f"{source.name}: {analysis.sentence}", sheet)
        print(sheet)
    if schedule is not None:
        _schedule(analysis, schedule, args.schedule_format)
        print(schedule)
    if stills:
        print(write_stills(stills, out.parent, out.stem))
    return 0


def _stills(analysis, vectors, args) -> list:
    """N frames at evenly spaced sounding moments, re-rendered at STILL_SIZE, with their prompt sentences."""
    import numpy as np

    from .render import make_renderer

    n = len(vectors)
    picks = np.linspace(0, n - 1, args.stills + 2)[1:-1].round().astype(int)
    centres = analysis.window_centres
    out = []
    with make_renderer(max(args.size, STILL_SIZE), args.generator, args.seed) as big:
        for i in picks:
            w = int(np.argmin(np.abs(centres - (i + 0.5) / args.fps)))
            out.append((big.render(vectors[i]), (i + 0.5) / args.fps, analysis.prompts[w]))
    return out


def _schedule(analysis, path: Path, fmt: str) -> None:
    from .schedule import bar_times, estimate_beat, keyframes, render_schedule

    period, first = estimate_beat(analysis.features.onset, analysis.fps)
    bars = bar_times(analysis.duration_s, period, first)
    frames = keyframes(bars, analysis.window_centres, analysis.prompts, analysis.fps)
    try:
        path.write_text(render_schedule(frames, fmt) + "\n")
    except OSError as e:
        raise InputError(f"cannot write the schedule {path} ({e.strerror or e})") from None
    log.info("schedule: %.1f BPM, %d bars, %d keyframes", 60 / period, len(bars), len(frames))


def run(argv: list[str] | None = None) -> int:
    """These commands without the host's CLI (``python -m plugins.visuals``): one-line errors, exit 2."""
    from bridge.api import run_commands

    return run_commands(add_commands, argv)
