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

SAMPLE_PARAMS = ("temperature", "phrases", "key", "scale", "register")

EXAMPLES = """examples:
  cmt-bridge midime sample -n 8 --temperature 0.5 -o out/
  cmt-bridge midime sample -n 2 --phrases 4 --key D --scale minor --register 60 -o out/
  cmt-bridge midime interpolate a.mid b.mid --steps 5 -o out/
  cmt-bridge midime learn my_melodies/*.mid -o mine.midime
  cmt-bridge midime sample --personal mine.midime -o out/
  cmt-bridge midime learn my_melodies/*.mid --name mine          # into the menu of personal models
  cmt-bridge midime styles                                       # the menu
  cmt-bridge midime sample --personal mine -o out/
  cmt-bridge midime sample --model musicvae-mel16bar -n 2 -o out16/     (16-bar sections)
  cmt-bridge midime sample --model musicvae-mel16bar --form "AABA AABA AABA AABC" -o out16/
  cmt-bridge midime learn --model musicvae-mel16bar my_tunes/*.mid -o mine16.midime"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("midime", help="MusicVAE 2- and 16-bar melodies: sample, interpolate, personalise (MidiMe)",
                       description="Sample and interpolate 2-bar melodies (or 16-bar sections with --model "
                                   "musicvae-mel16bar) with MusicVAE, and learn a personal MidiMe model from your "
                                   "own MIDI files.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = p.add_subparsers(dest="midime_cmd", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--model", default=None,
                       help="musicvae-mel2bar (default: 2 bars), musicvae-mel16bar (16 bars, hierarchical), or a "
                            "model folder (models are found in $CMT_BRIDGE_MODELS or onnx_models/)")
        add_param_options(q, PARAMS, ("seed",))
        q.add_argument("--bpm", type=float, default=120.0, help="tempo written into the .mid files (default 120)")
        q.add_argument("--force", action="store_true", help="replace files an earlier run wrote there")

    s = msub.add_parser("sample", help="new 2-bar melodies from MusicVAE (or a personal MidiMe)")
    s.add_argument("-n", "--num", type=int, default=8, help="how many samples (1..256, default 8), each of "
                                                            "--phrases phrases")
    add_param_options(s, PARAMS, SAMPLE_PARAMS)   # range, default and doc of the live parameters
    s.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder (default out/)")
    s.add_argument("--form", default=None, metavar="corpus|free|LETTERS",
                   help="16-bar model only: which bars repeat which. corpus (default): each section takes the "
                        "form of a training tune; free: none (the plain prior); or 16 letters, one per bar, same "
                        "letter = same bar, e.g. --form ABCDABCEABCDABCF")
    s.add_argument("--personal", default=None, metavar="NAME|FILE.midime",
                   help="a personal model from `midime learn`: a name from `midime styles` or a .midime file")
    common(s)
    s.set_defaults(func=cmd_sample)

    i = msub.add_parser("interpolate", help="morph from one 2-bar melody to another (A first, B last, all distinct)")
    i.add_argument("a", type=Path, help="MIDI file: the start (its first 2 bars of melody)")
    i.add_argument("b", type=Path, help="MIDI file: the end")
    i.add_argument("--steps", type=int, default=5, help="phrases, end points included (1..64, default 5)")
    i.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder (default out/)")
    common(i)
    i.set_defaults(func=cmd_interpolate)

    ln = msub.add_parser("learn", help="learn a personal MidiMe model from your melodies (seconds, no torch)")
    ln.add_argument("files", type=Path, nargs="+", help="MIDI files with a monophonic melody")
    where = ln.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--out", type=Path, help="the .midime file to write")
    where.add_argument("--name", help="keep it in the menu of personal models under this name (see `midime styles`)")
    ln.add_argument("--epochs", type=int, default=None, help="training epochs (default 800)")
    ln.add_argument("--latent", type=int, default=4, help="MidiMe latent size (4..8 suggested, default 4)")
    ln.add_argument("--preview", type=int, default=8, help="personal samples written next to the model (default 8)")
    common(ln)
    ln.set_defaults(func=cmd_learn)

    st = msub.add_parser("styles", help="the menu of personal MidiMe models (the live `style` parameter picks one)")
    st.set_defaults(func=cmd_styles)


def _load(args):
    from .vae16 import load_model

    return load_model(args.model)


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


def _write_set(out: Path, stem: str, named: list[tuple[str, list, float]], title: str, bpm: float,
               text: tuple[str, ...] = ()) -> list[Path]:
    """One .mid per (label, notes, beats) item, one .mid of all in a row, one PNG of all in a row (a colour each);
    ``text``: meta events in every .mid (the seed)."""
    from bridge.api import render_pianoroll as render, write_notes

    from . import phrases

    out.mkdir(parents=True, exist_ok=True)
    written = []
    lines: dict[str, list] = {}
    marks = []
    at = 0.0
    for i, (label, notes, beats) in enumerate(named):
        notes = phrases.accent(list(notes))
        path = write_notes(out / f"{stem}_{i + 1:02d}.mid", notes, bpm=bpm, text=text)
        written.append(path)
        lines[label] = [n.shifted(at) for n in notes]
        marks.append((at, label))
        at += beats
    all_notes = [n for v in lines.values() for n in v]
    written.append(write_notes(out / f"{stem}_all.mid", all_notes, bpm=bpm, text=text))
    written.append(render(lines, out / f"{stem}.png", title=title, marks=marks))
    return written


def _token_set(named_tokens: list[tuple[str, "object"]]) -> list[tuple[str, list, float]]:
    """(label, tokens) -> (label, notes, beats) for :func:`_write_set`."""
    from . import melody, sampling

    return [(label, melody.notes_from_tokens(t), sampling.phrase_beats(t)) for label, t in named_tokens]


def cmd_sample(args) -> int:
    from bridge.api import claim_set, output_folder

    from . import form, sampling

    _check_range("-n", args.num, 1, 256)
    output_folder(args.out, "-o")
    claim_set(args.out, "sample", args.force)
    vars(args).update(param_values(args, PARAMS, SAMPLE_PARAMS))
    vae = _load(args)
    if args.form is not None:
        if not hasattr(vae, "draw_forms"):
            raise InputError(f"--form is for 16-bar models; {vae.name} makes 2-bar phrases")
        form.check(args.form)
    rng = _rng(args)
    what, personal = "MusicVAE", None
    if args.personal:
        from .midime import MidiMe

        from .styles import resolve

        path = resolve(args.personal)
        personal = MidiMe.load(path)
        personal.check_base(vae.name, vae.fingerprint, source=path.name)
        what = f"MidiMe {path.name}"
    spec = args.form or form.CORPUS
    tokens = sampling.melodies(vae, args.num, args.phrases, args.temperature, rng, personal, form=spec)
    named = []
    for i, rows in enumerate(tokens):
        notes = sampling.melody_notes(rows, args.key, args.scale, args.register)
        beats = sampling.phrase_beats(rows[0])
        named.append((f"sample {i + 1}", [n.shifted(k * beats) for k, p in enumerate(notes) for n in p],
                      beats * len(rows)))
    shaped = f", form {spec}" if hasattr(vae, "draw_forms") else ""
    shaped += "" if args.key == "off" else f", {args.key} {args.scale}"
    shaped += f", register {args.register}" if args.register else ""
    per = f" of {args.phrases} phrases" if args.phrases > 1 else ""
    written = _write_set(args.out, "sample", named,
                         f"{what}: {args.num} samples{per}, temperature {args.temperature:g}{shaped}, "
                         f"seed {args.seed_used}", args.bpm, (f"seed {args.seed_used}",))
    _report(written)
    return 0


def cmd_interpolate(args) -> int:
    import sys

    from bridge.api import claim_set, output_folder

    _check_range("--steps", args.steps, 1, 64)
    output_folder(args.out, "-o")
    claim_set(args.out, "interpolation", args.force)
    from . import phrases
    from .morph import morph

    vae = _load(args)
    a, b = phrases.first_window(args.a, vae.steps), phrases.first_window(args.b, vae.steps)
    made = morph(vae, a, b, args.steps, _rng(args))
    for remark in made.remarks:
        print(f"midime: {remark}", file=sys.stderr)
    labels = {"A": f"A: {args.a.name}", "B": f"B: {args.b.name}"}
    named = [(labels.get(src, f"step {i + 1}"), t) for i, (src, t) in enumerate(zip(made.sources, made.tokens))]
    written = _write_set(args.out, "interpolation", _token_set(named),
                         f"MusicVAE interpolation {args.a.name} -> {args.b.name}: {args.steps} steps, "
                         f"{made.distinct} distinct, seed {args.seed_used}", args.bpm, (f"seed {args.seed_used}",))
    _report(written)
    return 0


def cmd_learn(args) -> int:
    _check_range("--latent", args.latent, 1, 32)
    import numpy as np

    from bridge.api import render_pianoroll as render

    from . import melody, phrases, sampling
    from .midime import EPOCHS, MidiMe

    from bridge.api import output_path

    epochs = args.epochs or EPOCHS
    _check_range("--epochs", epochs, 1, 100000)
    if args.name:
        from .styles import path_for

        args.out = path_for(args.name)
        if args.out.exists():
            raise InputError(f"the menu already has a model {args.name!r} ({args.out}): choose another --name")
    output_path(args.out, "-o", force=args.force, inputs=args.files)
    vae = _load(args)
    found, notes, bars = [], 0, 0.0
    for path in args.files:
        line = phrases.file_melody(path)
        notes += len(line)
        bars += max(n.end for n in line) / melody.BEATS_PER_BAR
        found.append(phrases.melody_windows(line, steps=vae.steps))
    source = args.files[0].name if len(args.files) == 1 else f"{len(args.files)} files"
    windows = phrases.need_enough(np.concatenate(found), source, bars=round(bars, 1), notes=notes,
                                  least=phrases.MIN_WINDOWS if vae.bars <= melody.BARS else 1)
    seed = _seed(args)
    mu = vae.learning_latents(windows, np.random.default_rng(seed))
    bar = Progress(epochs, f"learning {len(windows)} windows", unit="epochs")
    model = MidiMe.learn(mu, vae.name, vae.fingerprint, latent_dim=args.latent, epochs=epochs, seed=seed,
                         progress=bar.at)
    bar.close()
    model.info["sources"] = [p.name for p in args.files]
    written = [model.save(args.out)]
    rng = np.random.default_rng(seed)
    preview = sampling.decode(vae, model.sample_latents(max(1, args.preview), rng), 0.5, rng, "corpus")
    stem = args.out.with_suffix("")
    from bridge.api import write_notes

    beats = vae.steps / melody.STEPS_PER_BEAT
    samples = [n.shifted(i * beats) for i, t in enumerate(preview) for n in phrases.accent(melody.notes_from_tokens(t))]
    written.append(write_notes(stem.with_name(stem.name + "_samples.mid"), samples, bpm=args.bpm))
    shown = windows[:16 if vae.bars <= melody.BARS else 2]
    lines = {"learned": [n.shifted(i * beats) for i, t in enumerate(shown) for n in melody.notes_from_tokens(t)],
             "personal samples": [n.shifted((len(shown) + i) * beats) for i, t in enumerate(preview)
                                  for n in melody.notes_from_tokens(t)]}
    marks = [(0.0, "learned"), (len(shown) * beats, "personal samples")]
    written.append(render(lines, stem.with_name(stem.name + ".png"), marks=marks,
                          title=f"MidiMe {args.out.name}: {len(windows)} windows learned in "
                                f"{model.info['seconds']:.2f} s, then {len(preview)} personal samples"))
    _report(written)
    return 0


def cmd_styles(args) -> int:
    from .midime import MidiMe
    from .styles import folder, menu

    found = menu()
    print(f"personal models in {folder()}:" if found else
          f"no personal models yet in {folder()} (cmt-bridge midime learn FILES --name NAME)")
    for name, path in found.items():
        try:
            info = MidiMe.load(path).info
            print(f"  {name}  ({info.get('windows', '?')} windows from {', '.join(info.get('sources', [])) or '?'})")
        except Exception as e:   # a broken file is listed, marked, never fatal
            print(f"  {name}  (unreadable: {e})")
    return 0


def _report(paths: list[Path]) -> None:
    for p in paths:
        print(p)


def run(argv: list[str] | None = None) -> int:
    """``midime`` commands without the host's CLI (``python -m plugins...``): one-line errors, exit 2."""
    from bridge.api import run_commands

    return run_commands(add_commands, argv)
