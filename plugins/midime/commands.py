"""``cmt-bridge midime sample | interpolate | learn``: MusicVAE and MidiMe from the command line.

Each command writes .mid files and one piano-roll PNG of everything it made.
Heavy imports (onnxruntime, numpy work) wait inside the commands so
``cmt-bridge --help`` stays instant.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.api import InputError, Progress, add_param_options, param_values

from .params import PARAMS   # the live generator's table: its ranges, defaults and docs

EXAMPLES = """examples:
  cmt-bridge midime sample -n 8 --temperature 0.5 -o out/
  cmt-bridge midime interpolate a.mid b.mid --steps 5 -o out/
  cmt-bridge midime learn my_melodies/*.mid -o mine.midime
  cmt-bridge midime sample --personal mine.midime -o out/"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("midime", help="MusicVAE 2-bar melodies: sample, interpolate, personalise (MidiMe)",
                       description="Sample and interpolate 2-bar melodies with MusicVAE, and learn a personal "
                                   "MidiMe model from your own MIDI files.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = p.add_subparsers(dest="midime_cmd", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--model", type=Path, default=None,
                       help="MusicVAE model folder (default: $CMT_BRIDGE_MODELS or onnx_models/, musicvae-mel2bar)")
        add_param_options(q, PARAMS, ("seed",))
        q.add_argument("--bpm", type=float, default=120.0, help="tempo written into the .mid files (default 120)")
        q.add_argument("--force", action="store_true", help="replace files an earlier run wrote there")

    s = msub.add_parser("sample", help="new 2-bar melodies from MusicVAE (or a personal MidiMe)")
    s.add_argument("-n", "--num", type=int, default=8, help="how many (1..256, default 8)")
    add_param_options(s, PARAMS, ("temperature",))   # range, default and doc of the live parameter
    s.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder (default out/)")
    s.add_argument("--personal", type=Path, default=None, help="a .midime file from `midime learn`")
    common(s)
    s.set_defaults(func=cmd_sample)

    i = msub.add_parser("interpolate", help="morph from one 2-bar melody to another")
    i.add_argument("a", type=Path, help="MIDI file: the start (its first 2 bars of melody)")
    i.add_argument("b", type=Path, help="MIDI file: the end")
    i.add_argument("--steps", type=int, default=5, help="phrases, end points included (1..64, default 5)")
    i.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder (default out/)")
    common(i)
    i.set_defaults(func=cmd_interpolate)

    ln = msub.add_parser("learn", help="learn a personal MidiMe model from your melodies (seconds, no torch)")
    ln.add_argument("files", type=Path, nargs="+", help="MIDI files with a monophonic melody")
    ln.add_argument("-o", "--out", type=Path, required=True, help="the .midime file to write")
    ln.add_argument("--epochs", type=int, default=None, help="training epochs (default 800)")
    ln.add_argument("--latent", type=int, default=4, help="MidiMe latent size (4..8 suggested, default 4)")
    ln.add_argument("--preview", type=int, default=8, help="personal samples written next to the model (default 8)")
    common(ln)
    ln.set_defaults(func=cmd_learn)


def _load(args):
    from .vae import MusicVAE

    return MusicVAE.load(args.model)


def _seed(args) -> int:
    """``--seed`` checked against the live parameter; -1 (its default) = a new seed every run, printed
    (and written into the .mid files) so the run can be made again."""
    import numpy as np

    seed = param_values(args, PARAMS, ("seed",))["seed"]
    if seed < 0:
        seed = int(np.random.SeedSequence().entropy % (2 ** 31))
    args.seed_used = seed
    print(f"seed {seed} (--seed {seed} makes these again)", file=sys.stderr)
    return seed


def _rng(args):
    import numpy as np

    return np.random.default_rng(_seed(args))


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise InputError(f"{name} must be in range {lo:g}..{hi:g}, got {value:g}")


def _write_set(out: Path, stem: str, named_tokens: list[tuple[str, "object"]], title: str, bpm: float,
               text: tuple[str, ...] = ()) -> list[Path]:
    """One .mid per phrase, one .mid of all in a row, one PNG of all in a row (a colour each); ``text``:
    meta events in every .mid (the seed)."""
    from bridge.api import render_pianoroll as render, write_notes

    from . import melody, phrases

    out.mkdir(parents=True, exist_ok=True)
    written = []
    lines: dict[str, list] = {}
    for i, (label, tokens) in enumerate(named_tokens):
        notes = phrases.accent(melody.notes_from_tokens(tokens))
        path = write_notes(out / f"{stem}_{i + 1:02d}.mid", notes, bpm=bpm, text=text)
        written.append(path)
        lines[label] = [n.shifted(i * melody.PHRASE_BEATS) for n in notes]
    all_notes = [n for v in lines.values() for n in v]
    written.append(write_notes(out / f"{stem}_all.mid", all_notes, bpm=bpm, text=text))
    marks = [(i * melody.PHRASE_BEATS, label) for i, label in enumerate(lines)]
    written.append(render(lines, out / f"{stem}.png", title=title, marks=marks))
    return written


def cmd_sample(args) -> int:
    from bridge.api import claim_set, output_folder

    _check_range("-n", args.num, 1, 256)
    output_folder(args.out, "-o")
    claim_set(args.out, "sample", args.force)
    vars(args).update(param_values(args, PARAMS, ("temperature",)))
    vae = _load(args)
    rng = _rng(args)
    what = "MusicVAE"
    if args.personal:
        from .midime import MidiMe

        personal = MidiMe.load(args.personal)
        personal.check_base(vae.name, vae.fingerprint, source=args.personal.name)
        tokens = vae.decode(personal.sample_latents(args.num, rng), args.temperature, rng)
        what = f"MidiMe {args.personal.name}"
    else:
        tokens = vae.sample(args.num, args.temperature, rng)
    written = _write_set(args.out, "sample", [(f"sample {i + 1}", t) for i, t in enumerate(tokens)],
                         f"{what}: {args.num} samples, temperature {args.temperature:g}, seed {args.seed_used}",
                         args.bpm, (f"seed {args.seed_used}",))
    _report(written)
    return 0


def cmd_interpolate(args) -> int:
    from bridge.api import claim_set, output_folder

    _check_range("--steps", args.steps, 1, 64)
    output_folder(args.out, "-o")
    claim_set(args.out, "interpolation", args.force)
    from . import phrases

    a, b = phrases.first_window(args.a), phrases.first_window(args.b)
    vae = _load(args)
    tokens = vae.interpolate(a, b, args.steps)
    named = [(f"A: {args.a.name}", a)] + [(f"step {i + 1}", t) for i, t in enumerate(tokens)] + \
            [(f"B: {args.b.name}", b)]
    written = _write_set(args.out, "interpolation", named[1:-1], "", args.bpm)[:-1]
    from bridge.api import render_pianoroll as render

    from . import melody

    lines = {label: [n.shifted(i * melody.PHRASE_BEATS) for n in melody.notes_from_tokens(t)]
             for i, (label, t) in enumerate(named)}
    marks = [(i * melody.PHRASE_BEATS, label) for i, label in enumerate(lines)]
    written.append(render(lines, args.out / "interpolation.png", marks=marks,
                          title=f"MusicVAE interpolation {args.a.name} -> {args.b.name}, {args.steps} steps "
                                f"(inputs first and last)"))
    _report(written)
    return 0


def cmd_learn(args) -> int:
    _check_range("--latent", args.latent, 1, 32)
    import numpy as np

    from bridge.api import render_pianoroll as render

    from . import melody, phrases
    from .midime import EPOCHS, MidiMe

    from bridge.api import output_path

    epochs = args.epochs or EPOCHS
    _check_range("--epochs", epochs, 1, 100000)
    output_path(args.out, "-o", force=args.force, inputs=args.files)
    found, notes, bars = [], 0, 0.0
    for path in args.files:
        line = phrases.file_melody(path)
        notes += len(line)
        bars += max(n.end for n in line) / melody.BEATS_PER_BAR
        found.append(phrases.melody_windows(line))
    source = args.files[0].name if len(args.files) == 1 else f"{len(args.files)} files"
    windows = phrases.need_enough(np.concatenate(found), source, bars=round(bars, 1), notes=notes)
    vae = _load(args)
    mu, _ = vae.encode(windows)
    bar = Progress(epochs, f"learning {len(windows)} windows", unit="epochs")
    seed = _seed(args)
    model = MidiMe.learn(mu, vae.name, vae.fingerprint, latent_dim=args.latent, epochs=epochs, seed=seed,
                         progress=bar.at)
    bar.close()
    model.info["sources"] = [p.name for p in args.files]
    written = [model.save(args.out)]
    rng = np.random.default_rng(seed)
    preview = vae.decode(model.sample_latents(max(1, args.preview), rng), 0.5, rng)
    stem = args.out.with_suffix("")
    from bridge.api import write_notes

    samples = [n.shifted(i * melody.PHRASE_BEATS) for i, t in enumerate(preview)
               for n in phrases.accent(melody.notes_from_tokens(t))]
    written.append(write_notes(stem.with_name(stem.name + "_samples.mid"), samples, bpm=args.bpm))
    shown = windows[:16]
    lines = {"learned": [n.shifted(i * melody.PHRASE_BEATS) for i, t in enumerate(shown)
                         for n in melody.notes_from_tokens(t)],
             "personal samples": [n.shifted((len(shown) + i) * melody.PHRASE_BEATS) for i, t in enumerate(preview)
                                  for n in melody.notes_from_tokens(t)]}
    marks = [(0.0, "learned"), (len(shown) * melody.PHRASE_BEATS, "personal samples")]
    written.append(render(lines, stem.with_name(stem.name + ".png"), marks=marks,
                          title=f"MidiMe {args.out.name}: {len(windows)} windows learned in "
                                f"{model.info['seconds']:.2f} s, then {len(preview)} personal samples"))
    _report(written)
    return 0


def _report(paths: list[Path]) -> None:
    for p in paths:
        print(p)


def run(argv: list[str] | None = None) -> int:
    """``midime`` commands without the host's CLI (``python -m plugins...``): one-line errors, exit 2."""
    from bridge.api import run_commands

    return run_commands(add_commands, argv)
