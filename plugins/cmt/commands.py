"""``cmt-bridge cmt video2midi clip.mp4 -o out.mid``: music for a video with the Controllable Music Transformer.

Heavy imports (OpenCV, onnxruntime) wait inside the command so ``cmt-bridge --help`` stays instant.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.api import ConfigError, InputError, add_param_options, input_file, output_path, param_values

from .params import PARAMS

CLI_PARAMS = ("control", "temperature", "top_p", "guide", "seed", "arrange", "velocity", "accent", "sensitivity")   # options built from the generator's own Param table

EXAMPLES = """examples:
  cmt-bridge cmt video2midi clip.mp4 -o clip.mid                 (also writes clip.png, a piano roll)
  cmt-bridge cmt video2midi clip.mp4 -o clip.mid --bars 16 --render clip_music.mp4
  cmt-bridge cmt video2midi clip.mp4 -o clip.mid --control 0.5 --temperature 0.9 --seed 7
  cmt-bridge cmt video2midi clip.mp4 -o clip.mid --tempo 90 --sensitivity 0.5 --parts lead,bass,strings
  cmt-bridge cmt video2midi clip.mp4 -o clip.mid --render clip_scored.mp4 --mix 0.4   (keeps the clip's sound)

The video's length sets the bar grid: --bars N whole bars fill it (default: the count nearest
--tempo, 110 BPM), which sets the tempo. Motion speed per bar sets the rhythmic density (--sensitivity
below 1 keeps a still shot calm), visual beats (sudden changes of motion) the rhythmic strength.
Each instrument gets its own track and channel (--channels, default lead 3, strings 4, piano 5,
bass 6, guitar 7, drums 10) with a General MIDI program, so it lands on its own track in a DAW.
The seed is printed and written into the .mid (a text event "seed N"): --seed N makes it again.
An existing -o, --png or --render file is kept unless --force."""


LIVE_EXAMPLES = """examples:
  cmt-bridge cmt live --camera 0                       (the same as: cmt-bridge run --play cmt --do cmt.camera=0)
  cmt-bridge cmt live --video clip.mp4 --tempo 100
  cmt-bridge cmt live --camera 0 --midi-out "IAC Driver Bus 1" --clock-out"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cmt", help="Controllable Music Transformer: music for a video",
                       description="Multi-track music from the CMT model, steered by a video's motion.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="cmt_cmd", required=True)
    v = csub.add_parser("video2midi", help="a video -> a multi-track .mid as long as the video (+ piano roll)",
                        description="Write a multi-track MIDI file aligned to a video.", epilog=EXAMPLES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("video", type=Path, help="a video file (anything OpenCV reads: mp4, mov, avi, mkv...)")
    v.add_argument("-o", "--out", type=Path, required=True, help="the .mid file to write")
    v.add_argument("--bars", type=int, default=None, help="whole bars that fill the video (sets the tempo)")
    v.add_argument("--beats-per-bar", type=int, default=4, help="beats per bar (default 4, 4/4)")
    v.add_argument("--tempo", type=float, default=None, metavar="BPM",
                   help="target tempo: the bar count whose tempo is nearest it fills the video (default 110)")
    add_param_options(v, PARAMS, CLI_PARAMS)
    v.add_argument("--png", type=Path, default=None, help="piano-roll PNG (default: next to the .mid)")
    v.add_argument("--render", type=Path, default=None, metavar="OUT.mp4",
                   help="also render the music with FluidSynth and mux it with the video (needs fluidsynth, ffmpeg)")
    v.add_argument("--soundfont", type=Path, default=None, help="GM soundfont for --render (default: FluidR3)")
    v.add_argument("--mix", type=float, default=0.0, metavar="GAIN",
                   help="--render: the clip's own audio under the music at this gain, 0..2 (default 0: music only)")
    v.add_argument("--force", action="store_true", help="overwrite existing output files")
    v.add_argument("--channels", default="", metavar="PART=CH,...",
                   help="MIDI channel per part, e.g. lead=11,bass=12 (default lead=3,strings=4,piano=5,bass=6,"
                        "guitar=7,drums=10)")
    v.add_argument("--parts", default="all", metavar="PART,...",
                   help="the parts that play: lead, strings, piano, bass, guitar, drums (default all)")
    v.add_argument("--model", type=Path, default=None, help="model folder (default onnx_models/cmt)")
    v.set_defaults(func=cmd_video2midi)

    from bridge.api import add_run_arguments

    lv = csub.add_parser("live", help="play CMT live, steered by a camera or a video (the host's run, preset)",
                         description="Start the host with the cmt generator playing, its density and strength "
                                     "driven by a camera or a video. Every option of `cmt-bridge run` works here.",
                         epilog=LIVE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = lv.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="camera number (0 = the first)")
    src.add_argument("--video", type=Path, metavar="PATH", help="a video file, played in time from the next bar")
    add_run_arguments(lv)
    lv.set_defaults(func=cmd_live)


def _check(args) -> None:
    vars(args).update(param_values(args, PARAMS, CLI_PARAMS))
    if args.seed < 0:   # -1: new music every run, from a seed that is printed and stored
        from .generator import draw_seed

        args.seed = draw_seed(-1)
    if args.bars is not None and not 1 <= args.bars <= 255:
        raise InputError(f"--bars must be in range 1..255, got {args.bars}")
    if not 1 <= args.beats_per_bar <= 8:
        raise InputError(f"--beats-per-bar must be in range 1..8, got {args.beats_per_bar}")
    if args.out.suffix.lower() not in (".mid", ".midi"):
        raise InputError(f"-o must name a .mid file, got {args.out}")
    from .params import parse_channels, parse_parts

    try:
        args.channels, args.parts = parse_channels(args.channels), parse_parts(args.parts)
    except ConfigError as e:
        raise InputError(f"--{e}") from None
    if args.tempo is not None and not 20.0 <= args.tempo <= 300.0:
        raise InputError(f"--tempo must be in range 20..300 BPM, got {args.tempo:g}")
    if not 0.0 <= args.mix <= 2.0:
        raise InputError(f"--mix must be in range 0..2, got {args.mix:g}")
    if args.mix and not args.render:
        raise InputError("--mix needs --render OUT.mp4 (it mixes the clip's audio into the rendered video)")
    input_file(args.video, "video file", missing=f"no video file {args.video}")
    outs = [(args.out, "-o"), (args.png or args.out.with_suffix(".png"), "--png")]
    if args.render:
        outs.append((args.render, "--render"))
    for path, flag in outs:
        output_path(path, flag, force=args.force, inputs=[args.video])
    if len({Path(p).expanduser().resolve() for p, _ in outs}) < len(outs):
        raise InputError("-o, --png and --render must name different files")


def cmd_video2midi(args) -> int:
    from bridge.api import ModelBundle, ModelError, model_folder, render_pianoroll as render

    from .sampling import EXPECT, MODEL_NAME, Sampling
    from .video2midi import render_video, video_to_midi

    _check(args)
    folder = model_folder(MODEL_NAME, args.model)
    if not (Path(folder) / "manifest.json").is_file():
        raise ModelError(f"no CMT model in {folder} (pass --model DIR, or export one: cmt-bridge export-onnx cmt)")
    bundle = ModelBundle.load(folder, threads=1, expect=EXPECT)
    from .video import video_controls

    bpb = float(args.beats_per_bar)
    print(f"analysing motion in {args.video.name} ...", file=sys.stderr)
    controls = video_controls(args.video, bpb, args.bars, sensitivity=args.sensitivity, tempo=args.tempo)
    from bridge.api import Progress

    from .parts import arrange, rules_from_manifest

    rules, channels, parts = rules_from_manifest(bundle.manifest), args.channels, args.parts

    def arranged(notes, strength):
        return arrange(notes, rules=rules, channels=channels, parts=parts, velocity=args.velocity,
                       accent=args.accent, strength=strength, beats_per_bar=bpb, enforce=args.arrange)

    print(f"seed {args.seed} (--seed {args.seed} makes this music again)", file=sys.stderr)
    bar = Progress(controls.bars, f"generating {controls.bars} bars", unit="bars")
    progress = bar.at
    path, c, notes = video_to_midi(bundle, args.video, args.out, controls.bars, bpb, args.seed, args.control,
                                   progress=progress, sampling=Sampling(args.temperature, args.top_p),
                                   controls=controls, guide=args.guide, arrange=arranged)
    bar.close()
    png = args.png or args.out.with_suffix(".png")
    n = sum(len(v) for v in notes.values())
    marks = [(b * bpb, f"d{d}s{s}") for b, (d, s) in enumerate(zip(c.density, c.strength))]
    render(notes, png, title=f"{args.video.name}: {c.bars} bars at {c.bpm:.1f} BPM, {n} notes, seed {args.seed}",
           beats_per_bar=args.beats_per_bar, marks=marks)
    print(path)
    print(png)
    if args.render:
        print(f"rendering {args.render.name} with FluidSynth + ffmpeg ...", file=sys.stderr)
        print(render_video(path, args.video, args.render, args.soundfont, mix=args.mix))
    return 0


def cmd_live(args) -> int:
    from bridge.api import run_host

    args.play = list(dict.fromkeys([*(args.play or []), "cmt"]))
    args.actions = []             # performed at launch like --do, any path as it is (commas included)
    if args.camera is not None:
        args.actions.append(("cmt", "camera", [args.camera]))
    elif args.video is not None:
        input_file(args.video, "video file", missing=f"no video file {args.video}")
        args.actions.append(("cmt", "video", [str(args.video.resolve())]))
    return run_host(args)


def run(argv: list[str] | None = None) -> int:
    """``cmt`` commands without the host's CLI (``python -m plugins.cmt``): one-line errors, exit 2."""
    from bridge.api import run_commands

    return run_commands(add_commands, argv)
