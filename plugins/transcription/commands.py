"""``cmt-bridge transcribe in.wav -o out.mid`` and ``cmt-bridge synthesize in.mid -o out.wav``.

Heavy imports wait inside the commands so ``cmt-bridge --help`` stays instant.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.api import InputError, add_param_options, param_values

TRANSCRIBE_EXAMPLES = """examples:
  cmt-bridge transcribe solo.wav -o solo.mid                  (also writes solo.png, a piano roll)
  cmt-bridge transcribe take.mp3 -o take.mid                  (FLAC, OGG, MP3: any format FFmpeg decodes)
  cmt-bridge transcribe solo.wav -o solo.mid --instrument flute --png roll.png
  cmt-bridge transcribe solo.wav -o solo.mid --tempo 96          (default: the tempo estimated from the notes)
  cmt-bridge transcribe duet.wav -o duet.mid --duet              (two instruments together: one track each)
  cmt-bridge transcribe duet.wav -o duet.mid --duet --views 0    (one EQ view: a third faster; --views=-4,0,4: three)
  cmt-bridge transcribe --live --device 2 --seconds 30 -o take.mid    (an input device; needs sounddevice)"""
SYNTH_EXAMPLES = """examples:
  cmt-bridge synthesize tune.mid -o tune.wav --instrument violin
  cmt-bridge synthesize --morph a.mid b.mid -o ab.wav --instrument flute --to-instrument trumpet
        (latent morph: starts as a.mid on flute, ends as b.mid on trumpet; writes ab.png, its spectrum)
  cmt-bridge synthesize tune.mid -o orbit.wav --orbit 1.0 --orbit-seconds 4 --seed 3
        (latent trajectory: the notes stay, their sound circles through the latent space once every 4 s)"""

def file_tempo(args, onsets_s: list[float]) -> float:
    """``--tempo``, else the tempo estimated from the onsets (seconds), said on stderr. The notes keep their
    times in seconds either way: the tempo sets the grid they are written on, so they line up with the song."""
    from .tempo import estimate_tempo

    if args.tempo is not None:
        return float(args.tempo)
    bpm = estimate_tempo(onsets_s)
    print(f"tempo {bpm:g} BPM (estimated from {len(onsets_s)} onsets; --tempo BPM sets it)", file=sys.stderr)
    return bpm


def add_commands(sub: argparse._SubParsersAction) -> None:
    from .labels import INSTRUMENT_NAMES

    t = sub.add_parser("transcribe", help="audio (WAV, FLAC, OGG, MP3...) -> MIDI notes + piano roll, with the cross-modal VAE",
                       description="Transcribe a monophonic recording (WAV, FLAC, OGG, MP3 or anything FFmpeg decodes; any sample rate) into MIDI notes.",
                       epilog=TRANSCRIBE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("audio", type=Path, nargs="?", help="an audio file: WAV, FLAC, OGG, MP3... (mono or stereo, mixed down; resampled to 16 kHz)")
    t.add_argument("--live", action="store_true", help="transcribe an audio input device instead of a file")
    t.add_argument("--device", default="", help="with --live: input device index or name (default: the default input)")
    t.add_argument("--seconds", type=float, default=10.0, help="with --live: how long to listen (default 10)")
    t.add_argument("-o", "--out", type=Path, required=True, help="the .mid file to write")
    t.add_argument("--instrument", choices=INSTRUMENT_NAMES, default=None,
                   help="GM program of the MIDI track (default: the instrument the model recognises)")
    t.add_argument("--png", type=Path, default=None, help="piano-roll PNG (default: next to the .mid)")
    t.add_argument("--tempo", type=float, default=None, metavar="BPM",
                   help="tempo of the .mid (20..300; default: estimated from the notes' onsets)")
    t.add_argument("--duet", action="store_true",
                   help="two of the five instruments playing together: one track per instrument heard, every note "
                        "attributed (model onnx_models/transcription-duet)")
    t.add_argument("--views", default=None, metavar="DB[,DB...]",
                   help="with --duet: the EQ tilts (dB) the file is heard through, their probabilities averaged. "
                        "Each view is one more pass of the model (default -3,3; 0 is one view, the fastest; "
                        "--views=-4,0,4 is three: write = before a list that starts with a minus)")
    t.add_argument("--force", action="store_true", help="overwrite an existing .mid / .png")
    from .params import PARAMS

    add_param_options(t, PARAMS, ("onset_threshold",))   # the live parameter's range and default
    t.add_argument("--model", type=Path, default=None,
                   help="model folder (default onnx_models/transcription, with --duet onnx_models/transcription-duet)")
    t.set_defaults(func=cmd_transcribe)

    s = sub.add_parser("synthesize", help="MIDI -> audio (WAV) with the cross-modal VAE's audio decoder",
                       description="Render the melody of a MIDI file through symbol encoder -> audio decoder -> "
                                   "Griffin-Lim.", epilog=SYNTH_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("midi", type=Path, nargs="?", help="a MIDI file (its notes are played as one monophonic line)")
    s.add_argument("-o", "--out", type=Path, required=True, help="the .wav file to write (16 kHz mono)")
    s.add_argument("--instrument", choices=INSTRUMENT_NAMES, default="flute", help="default flute")
    s.add_argument("--morph", type=Path, nargs=2, metavar=("A.mid", "B.mid"),
                   help="interpolate in latent space from A's label sequence to B's over the piece")
    s.add_argument("--to-instrument", choices=INSTRUMENT_NAMES, default=None,
                   help="--morph: B's instrument (default: --instrument)")
    s.add_argument("--orbit", type=float, default=None, metavar="RADIUS",
                   help="latent trajectory: circle around the notes' latent, RADIUS in latent spreads (try 0.5-2)")
    s.add_argument("--orbit-seconds", type=float, default=4.0, help="--orbit: seconds per turn (default 4)")
    s.add_argument("--seed", type=int, default=0, help="--orbit: which plane of the latent space to circle in")
    s.add_argument("--png", type=Path, default=None,
                   help="--morph / --orbit: where to draw the spectrum (default: the .wav's name, .png)")
    s.add_argument("--force", action="store_true", help="overwrite an existing .wav / .png")
    s.add_argument("--model", type=Path, default=None, help="model folder (default onnx_models/transcription)")
    s.set_defaults(func=cmd_synthesize)


def cmd_transcribe(args) -> int:
    from bridge.api import Note, output_path, write_notes
    from bridge.api import render_pianoroll as render

    from .audio import read_audio
    from .labels import instrument
    from .params import PARAMS
    from .transcriber import Transcriber

    threshold = param_values(args, PARAMS, ("onset_threshold",))["onset_threshold"]
    if args.live == (args.audio is not None):
        raise InputError("transcribe needs either an audio file or --live")
    if args.tempo is not None and not 20.0 <= args.tempo <= 300.0:
        raise InputError(f"--tempo must be in range 20..300 BPM, got {args.tempo:g}")
    inputs = [args.audio] if args.audio is not None else []
    output_path(args.out, "-o", force=args.force, inputs=inputs)
    output_path(args.png or args.out.with_suffix(".png"), "--png", force=args.force, inputs=inputs)
    if args.views is not None and not args.duet:
        raise InputError("--views is for --duet (the solo model hears one view)")
    if args.duet:
        if args.live:
            raise InputError("--duet transcribes a file; --live listens to one instrument")
        return transcribe_duet(args, threshold)
    model = Transcriber.load(args.model)
    if args.live:
        return transcribe_live(args, model, threshold)
    samples = read_audio(args.audio)
    notes = model.transcribe(samples, onset_threshold=threshold)
    bpm = file_tempo(args, [n.start for n in notes])
    beats = [Note(n.pitch, n.velocity, n.start * bpm / 60, (n.end - n.start) * bpm / 60) for n in notes]
    name = args.instrument
    if name is None and notes:
        name = model.instrument_guess(samples)
    program = instrument(name).program if name else 0
    write_notes(args.out, beats, bpm=bpm, programs={0: program})
    png = args.png or args.out.with_suffix(".png")
    title = f"{args.audio.name}: {len(notes)} notes at {bpm:g} BPM" + (f" ({name})" if name else "")
    render(beats, png, title=title)
    print(args.out)
    print(png)
    if not notes:
        print(f"{args.audio}: no notes found (silent or unpitched audio)", file=sys.stderr)
    return 0


def transcribe_duet(args, threshold: float) -> int:
    """Two instruments in one file -> a .mid with one track (and GM program) per instrument heard."""
    from bridge.api import Note, render_pianoroll as render, write_notes

    from .audio import read_audio
    from .duet import VIEWS_DB, DuetTranscriber, check_views
    from .labels import instrument

    if args.instrument is not None:
        raise InputError("--duet names each track by the instrument it hears: leave out --instrument")
    views = VIEWS_DB if args.views is None else check_views(args.views)
    model = DuetTranscriber.load(args.model, views=views)
    heard = model.transcribe(read_audio(args.audio), onset_threshold=threshold)
    bpm = file_tempo(args, sorted(n.start for notes in heard.values() for n in notes))
    tracks = {name: [Note(n.pitch, n.velocity, n.start * bpm / 60, (n.end - n.start) * bpm / 60) for n in notes]
              for name, notes in heard.items()}
    write_notes(args.out, tracks, bpm=bpm, programs={name: instrument(name).program for name in tracks})
    png = args.png or args.out.with_suffix(".png")
    counts = ", ".join(f"{name} {len(notes)}" for name, notes in tracks.items()) or "no notes"
    render(tracks, png, title=f"{args.audio.name}: {counts} at {bpm:g} BPM")
    print(args.out)
    print(png)
    if not tracks:
        print(f"{args.audio}: no notes found (silent or unpitched audio)", file=sys.stderr)
    return 0


def transcribe_live(args, model, threshold: float) -> int:
    """Listen to an input device for ``--seconds``, then write the notes like a file's transcription."""
    import time

    from bridge.api import Note, render_pianoroll as render, write_notes

    from .audio_in import AudioInput
    from .labels import instrument

    if not args.seconds > 0:
        raise InputError(f"--seconds must be > 0, got {args.seconds:g}")
    notes = []
    live = AudioInput(model, lambda kind, n, at: notes.append(n) if kind == "off" else None, device=args.device,
                      onset_threshold=threshold)
    print(f"listening to {live.device_name} for {args.seconds:g} s "
          f"(+{1000 * live.latency_seconds:.0f} ms to a note-on)", file=sys.stderr)
    live.start()
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
    notes.sort(key=lambda n: n.start)
    bpm = file_tempo(args, [n.start for n in notes])
    beats = [Note(n.pitch, n.velocity, n.start * bpm / 60, (n.end - n.start) * bpm / 60) for n in notes]
    program = instrument(args.instrument).program if args.instrument else 0
    write_notes(args.out, beats, bpm=bpm, programs={0: program})
    png = args.png or args.out.with_suffix(".png")
    render(beats, png, title=f"{live.device_name}: {len(notes)} notes")
    print(args.out)
    print(png)
    if not notes:
        print(f"{live.device_name}: no notes heard", file=sys.stderr)
    return 0


def cmd_synthesize(args) -> int:
    from bridge.api import output_path, read_notes, read_tempo

    from .audio import write_wav
    from .transcriber import Transcriber

    if (args.midi is None) == (args.morph is None):
        raise InputError("synthesize needs one MIDI file, or --morph A.mid B.mid")
    if args.morph is not None and args.orbit is not None:
        raise InputError("--morph and --orbit are two modes: choose one")
    if args.orbit is not None and (args.orbit < 0 or args.orbit_seconds <= 0):
        raise InputError("--orbit needs a radius >= 0 and --orbit-seconds > 0")
    inputs = list(args.morph or [args.midi])
    plain = args.morph is None and args.orbit is None
    output_path(args.out, "-o", force=args.force or plain, inputs=inputs)
    png = None if plain else output_path(args.png or args.out.with_suffix(".png"), "--png", force=args.force,
                                         inputs=inputs)

    def seconds_of(path: Path) -> list[tuple[float, float, int, int]]:
        notes = read_notes(path)      # an unreadable file is reported here, in one line
        spb = 60.0 / read_tempo(path)
        return [(n.start * spb, n.end * spb, n.pitch, n.velocity) for n in notes]

    model = Transcriber.load(args.model)
    from . import synth

    if plain:
        write_wav(args.out, synth.synthesize_notes(model, seconds_of(args.midi), args.instrument))
        print(args.out)
        return 0
    if args.morph is not None:
        a, b = args.morph
        to = args.to_instrument or args.instrument
        audio, spec, curve = synth.morph_notes(model, seconds_of(a), seconds_of(b), args.instrument, to)
        title, label = f"morph {a.name} ({args.instrument}) -> {b.name} ({to})", "share of B"
    else:
        audio, spec, angle = synth.orbit_notes(model, seconds_of(args.midi), args.instrument, args.orbit,
                                               args.orbit_seconds, args.seed)
        import numpy as np

        curve = 0.5 + 0.5 * np.cos(angle) if args.orbit > 0 else None
        title = f"{args.midi.name} ({args.instrument}), latent orbit radius {args.orbit:g}, {args.orbit_seconds:g} s a turn"
        label = "orbit (cos)"
    write_wav(args.out, audio)
    synth.spectrum_png(spec, png, title, curve, label)
    print(args.out)
    print(png)
    return 0


def run(argv: list[str] | None = None) -> int:
    """These commands without the host's CLI (``python -m plugins...``): one-line errors, exit 2."""
    from bridge.api import run_commands

    return run_commands(add_commands, argv)
