"""The shipped model end to end: FluidSynth renders a melody no training set has seen, the CLI and the
generator transcribe it; synthesize writes audio; bad input gives one-line errors or empty results."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.errors import InputError
from bridge.events import Note
from bridge.midifile import read_notes, read_tempo, write_notes

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "onnx_models" / "transcription"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
pytestmark = [pytest.mark.skipif(shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(),
                                 reason="needs fluidsynth and fluid-soundfont-gm"),
              pytest.mark.skipif(not (MODEL / "manifest.json").is_file(), reason="no shipped transcription model")]
ENV = {**os.environ, "CMT_BRIDGE_PLUGINS": "plugins.transcription.plugin", "PYTHONPATH": str(ROOT)}
# a hand-written tune (not from the corpus): steps, a leap, repeated notes, a held note; beats at 100 BPM
TUNE = [(67, 0.0, 0.5), (69, 0.5, 0.5), (71, 1.0, 1.0), (74, 2.0, 0.5), (74, 2.5, 0.5), (72, 3.0, 0.5),
        (71, 3.5, 0.5), (69, 4.0, 1.0), (66, 5.0, 0.5), (67, 5.5, 0.5), (62, 6.0, 0.5), (62, 6.5, 0.5),
        (67, 7.0, 2.0)]
BPM = 100.0
PROGRAMS = {"flute": 73, "trumpet": 56, "violin": 40}


def reference() -> list[tuple[float, int]]:
    return [(0.5 + start * 60 / BPM, pitch) for pitch, start, _ in TUNE]


def render(tmp: Path, instrument: str, rate: int = 16000) -> Path:
    notes = [Note(p, 80, 0.5 * BPM / 60 + s, d * 0.9) for p, s, d in TUNE]
    mid = write_notes(tmp / f"{instrument}.mid", notes, bpm=BPM, programs={0: PROGRAMS[instrument]})
    wav = tmp / f"{instrument}_{rate}.wav"
    subprocess.run(["fluidsynth", "-ni", "-g", "1.0", "-r", str(rate), "-F", str(wav), str(SOUNDFONT), str(mid)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return wav


def onset_f1(found: list[tuple[float, int]], ref: list[tuple[float, int]], tolerance: float = 0.05) -> float:
    used: set[int] = set()
    hits = 0
    for t, p in found:
        for j, (rt, rp) in enumerate(ref):
            if j not in used and rp == p and abs(rt - t) <= tolerance:
                used.add(j)
                hits += 1
                break
    return 2 * hits / max(len(found) + len(ref), 1)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", *args], env=ENV, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("instrument, rate", [("flute", 16000), ("violin", 44100), ("trumpet", 22050)])
def test_transcribe_cli_finds_the_tune(tmp_path, instrument, rate):
    wav = render(tmp_path, instrument, rate)
    out = tmp_path / "out.mid"
    r = cli("transcribe", str(wav), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.with_suffix(".png").is_file()
    bpm = read_tempo(out)
    assert bpm == pytest.approx(BPM, rel=0.02) or bpm == pytest.approx(2 * BPM, rel=0.02), bpm   # the song's tempo
    found = [(n.start * 60 / bpm, n.pitch) for n in read_notes(out)]
    assert onset_f1(found, reference()) >= 0.7, found  # measured 0.86..1.0


@pytest.mark.parametrize("fmt", ["flac", "ogg", "mp3"])
def test_transcribe_reads_flac_ogg_and_mp3_like_wav(tmp_path, fmt):
    """The same render as FLAC, OGG (Vorbis) and MP3 (lossy, with encoder delay) gives the tune's notes."""
    import soundfile

    from plugins.transcription.audio import read_audio

    wav = render(tmp_path, "flute", 44100)
    x, rate = soundfile.read(str(wav), dtype="float32")
    path = tmp_path / f"flute.{fmt}"
    if fmt == "mp3":
        from test_tagger_units import _write_mp3   # the tagger's format tests write MP3 the same way

        _write_mp3(path, x.mean(axis=1) if x.ndim == 2 else x, rate)
    else:
        soundfile.write(str(path), x, rate, format=fmt.upper(), subtype="VORBIS" if fmt == "ogg" else None)
    assert read_audio(path).dtype == np.float32
    out = tmp_path / f"{fmt}.mid"
    r = cli("transcribe", str(path), "-o", str(out))
    assert r.returncode == 0, r.stderr
    found = [(n.start * 60 / read_tempo(out), n.pitch) for n in read_notes(out)]
    if fmt != "mp3":
        assert onset_f1(found, reference(), tolerance=0.05) >= 0.7, found
    else:   # every note is heard (MP3's encoder delay is a few ms), but its artefacts add re-onsets:
        # F1 0.58 measured on this flute (issue 14's robustness work), so here recall is what is checked
        ref = reference()
        heard = sum(any(p == rp and abs(t - rt) <= 0.07 for t, p in found) for rt, rp in ref)
        assert heard >= 0.8 * len(ref), found


def test_transcribe_writes_the_tempo_asked_for_and_keeps_the_timing(tmp_path):
    wav = render(tmp_path, "flute")
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    assert cli("transcribe", str(wav), "-o", str(a)).returncode == 0
    r = cli("transcribe", str(wav), "-o", str(b), "--tempo", "72")
    assert r.returncode == 0, r.stderr
    assert read_tempo(b) == pytest.approx(72.0)
    secs = lambda path: [(n.start * 60 / read_tempo(path), n.pitch) for n in read_notes(path)]  # noqa: E731
    assert [p for _, p in secs(a)] == [p for _, p in secs(b)]
    assert max(abs(x - y) for (x, _), (y, _) in zip(secs(a), secs(b))) < 0.005   # the same seconds (ticks apart)
    r = cli("transcribe", str(wav), "-o", str(b))
    assert r.returncode == 2 and "--force" in r.stderr          # an earlier take is kept
    r = cli("transcribe", str(wav), "-o", str(wav.with_suffix(".mid")), "--png", str(wav), "--force")
    assert r.returncode == 2 and "is an input of this command" in r.stderr


def test_synthesize_cli_writes_audio_of_the_notes(tmp_path):
    mid = write_notes(tmp_path / "tune.mid", [Note(p, 90, s, d) for p, s, d in TUNE], bpm=BPM)
    out = tmp_path / "tune.wav"
    r = cli("synthesize", str(mid), "-o", str(out), "--instrument", "violin")
    assert r.returncode == 0, r.stderr
    with wave.open(str(out)) as w:
        seconds = w.getnframes() / w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    assert abs(seconds - (9.0 * 60 / BPM + 0.3)) < 0.05
    loud = np.sqrt(np.mean(x[int(1.0 * 16000):int(1.5 * 16000)] ** 2))
    assert loud > 0.01


def test_bad_and_silent_input(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio")
    r = cli("transcribe", str(bad), "-o", str(tmp_path / "x.mid"))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "not a readable audio file" in r.stderr
    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(bytes(2 * 48000))
    r = cli("transcribe", str(silent), "-o", str(tmp_path / "s.mid"))
    assert r.returncode == 0 and "no notes found" in r.stderr
    r = cli("synthesize", str(bad), "-o", str(tmp_path / "y.wav"))
    assert r.returncode == 2 and "not a readable MIDI file" in r.stderr


def test_generator_streams_the_transcription_in_beats(tmp_path):
    from bridge.generator import GeneratorContext, validate
    from bridge.runtime import ModelBundle
    from plugins.transcription.generator import TranscriptionGenerator
    from plugins.transcription.transcriber import EXPECT

    validate(TranscriptionGenerator, "plugins.transcription.plugin")
    wav = render(tmp_path, "flute")
    bundle = ModelBundle.load(MODEL, expect=EXPECT)
    reports: list[str] = []
    gen = TranscriptionGenerator({"transcription": bundle}, GeneratorContext(tempo=lambda: 90.0, report=reports.append))
    assert gen.next_phrase().notes == ()
    gen.set("channel", 3)
    phrases = gen.perform("file", [str(wav)])
    assert all(p.length == 4.0 for p in phrases) and reports
    found = [(4.0 * i + n.start, n.pitch) for i, p in enumerate(phrases) for n in p.notes]
    assert all(n.channel == 2 for p in phrases for n in p.notes)
    expected = [(t * 90.0 / 60, p) for t, p in reference()]  # seconds -> beats at 90 BPM
    assert onset_f1(found, expected, tolerance=0.05 * 1.5) >= 0.7  # measured 0.86
    gen.set("loop", True)
    assert gen.next_phrase() is phrases[0]
    with pytest.raises(InputError, match="no such audio file"):
        gen.perform("file", [str(tmp_path / "missing.wav")])


def test_streaming_note_ons_equal_the_offline_tracker(tmp_path):
    from plugins.transcription.audio import read_audio
    from plugins.transcription.stream import StreamTranscriber
    from plugins.transcription.tracking import NoteTracker
    from plugins.transcription.transcriber import Transcriber

    model = Transcriber.load(MODEL)
    samples = read_audio(render(tmp_path, "trumpet"))
    offline = NoteTracker()
    offline.push(model.labels_of(samples))   # with the audio level, as the stream's tracker reads it
    offline.flush()
    stream = StreamTranscriber(model, level_match=False)   # the same input as the offline labels
    ons = []
    for i in range(0, len(samples), 256):
        ons += [n.start_frame for n in stream.push(samples[i:i + 256])[0]]
    stream.close()
    assert ons and ons == [n.start_frame for n in offline.finished][:len(ons)]
    assert len(ons) >= len(offline.finished) - 1


def test_tempo_estimate_from_onsets():
    from plugins.transcription.tempo import FALLBACK_BPM, estimate_tempo

    rng = np.random.default_rng(0)
    beats = [s for _, s, _ in TUNE] + [9 + s for _, s, _ in TUNE]
    for bpm in (100.0, 120.0, 140.0, 160.0):
        onsets = [0.5 + b * 60 / bpm + rng.normal(0, 0.008) for b in beats]
        assert estimate_tempo(onsets) == pytest.approx(bpm, rel=0.01), bpm
    assert estimate_tempo([0.0, 0.5, 1.0]) == FALLBACK_BPM


def _tune_seconds(bpm: float = BPM) -> list[tuple[float, float, int, int]]:
    return [(0.5 + s * 60 / bpm, 0.5 + (s + d * 0.9) * 60 / bpm, p, 80) for p, s, d in TUNE]


def test_latent_graphs_are_synthesize_cut_in_two():
    """symbol_encoder -> audio_decoder gives synthesize's spectrum; a morph of a piece with itself is the piece."""
    from plugins.transcription import synth
    from plugins.transcription.transcriber import Transcriber

    model = Transcriber.load(MODEL)
    assert model.has_latents
    notes = _tune_seconds()
    _, spec, share = synth.morph_notes(model, notes, notes, "violin", "violin")
    frames = len(spec)
    pitch, velocity = synth.note_frames(notes, frames)
    plain = model.spectrum_of(pitch, velocity, "violin")
    z = model.latents_of(pitch, velocity, "violin")
    again = model.spectrum_of_latents(z)
    sounding = pitch >= 0
    np.testing.assert_allclose(again[sounding], plain[sounding], atol=1e-4)
    np.testing.assert_allclose(spec[sounding], plain[sounding], atol=1e-4)
    assert share[0] == 0.0 and share[-1] == 1.0


def test_morph_starts_as_a_and_ends_as_b_and_the_orbit_keeps_the_notes(tmp_path):
    from plugins.transcription import synth
    from plugins.transcription.transcriber import Transcriber

    model = Transcriber.load(MODEL)
    a = [(0.2 + 0.5 * i, 0.6 + 0.5 * i, 60 + 2 * (i % 5), 90) for i in range(12)]
    b = [(0.2 + 0.5 * i, 0.6 + 0.5 * i, 79 - 3 * (i % 4), 90) for i in range(12)]
    audio, _, _ = synth.morph_notes(model, a, b, "flute", "trumpet")
    heard = [(n.start, n.pitch) for n in model.transcribe(audio)]
    first = [p for t, p in heard if t < 1.5]
    last = [p for t, p in heard if t > 4.6]
    assert first and set(first) <= {p for _, _, p, _ in a}, heard      # the start is A's notes
    assert last and set(last) <= {p for _, _, p, _ in b}, heard        # the end is B's
    still, _, _ = synth.orbit_notes(model, a, "flute", 0.0)
    np.testing.assert_allclose(still, synth.synthesize_notes(model, a, "flute")[:len(still)], atol=1e-4)
    moved, spec, _ = synth.orbit_notes(model, a, "flute", 1.5, seconds=3.0, seed=2)
    assert np.abs(moved - still).max() > 0.01                          # the sound moves...
    heard = model.transcribe(moved)      # ...the notes stay: each is heard at its pitch while it sounds
    # (onsets are not compared: Griffin-Lim's phase gives re-onsets, F1 0.39 with or without the orbit)
    kept = sum(any(n.pitch == p and n.start < e and n.end > s for n in heard) for s, e, p, _ in a)
    assert kept == len(a), [(n.start, n.pitch) for n in heard]


def test_synthesize_cli_morph_and_orbit_write_audio_and_a_picture(tmp_path):
    a = write_notes(tmp_path / "a.mid", [Note(60 + i, 90, i * 0.5, 0.45) for i in range(8)], bpm=120)
    b = write_notes(tmp_path / "b.mid", [Note(72 - i, 90, i * 0.5, 0.45) for i in range(8)], bpm=120)
    r = cli("synthesize", "--morph", str(a), str(b), "-o", str(tmp_path / "ab.wav"), "--to-instrument", "violin")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ab.wav").stat().st_size > 10000 and (tmp_path / "ab.png").is_file()
    r = cli("synthesize", str(a), "-o", str(tmp_path / "o.wav"), "--orbit", "1", "--png", str(tmp_path / "o.png"))
    assert r.returncode == 0 and (tmp_path / "o.png").is_file(), r.stderr
    for args, message in ((["--morph", str(a), str(b), "-o", str(tmp_path / "ab.wav")], "--force"),
                          ([str(a), "--morph", str(a), str(b), "-o", str(tmp_path / "x.wav")], "one MIDI file"),
                          ([str(a), "-o", str(tmp_path / "y.wav"), "--orbit", "-1"], "radius >= 0"),
                          (["--morph", str(a), str(b), "-o", str(a)], "is an input")):
        r = cli("synthesize", *args)
        assert r.returncode == 2 and message in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr


def test_the_level_of_a_file_does_not_change_its_notes(tmp_path):
    """The transcriber scales a file to its training loudness (manifest features.reference_level_db): the same
    melody 20 dB quieter or 10 dB louder gives the same notes (onsets within a frame: the quietest bands sit
    at the features' floor, so the measured loudness moves by a fraction of a dB)."""
    from plugins.transcription.audio import read_audio
    from plugins.transcription.transcriber import Transcriber

    model = Transcriber.load(MODEL)
    assert model.reference_db is not None
    samples = read_audio(render(tmp_path, "flute")) * 0.5
    plain = [(n.start_frame, n.pitch) for n in model.transcribe(samples)]
    assert plain
    for gain in (0.1, 3.0):
        heard = [(n.start_frame, n.pitch) for n in model.transcribe(samples * gain)]
        assert [p for _, p in heard] == [p for _, p in plain]
        assert all(abs(a - b) <= 1 for (a, _), (b, _) in zip(heard, plain))


def test_live_input_is_brought_to_the_reference_level(tmp_path):
    """Live, the stream scales its input toward the training loudness from what it has heard: a melody 20 dB
    too quiet ends with the gain that offline scaling would give (within 2 dB), its notes are found, and the
    gain moves once by a jump and then never more than LEVEL_SLEW_DB a frame."""
    from plugins.transcription import features, stream as stream_mod
    from plugins.transcription.audio import read_audio
    from plugins.transcription.stream import StreamTranscriber
    from plugins.transcription.transcriber import Transcriber

    model = Transcriber.load(MODEL)
    quiet = read_audio(render(tmp_path, "flute")) * 0.1
    offline_gain = model.reference_db - features.loudness_of_levels(features.fast_level(quiet))
    stream = StreamTranscriber(model)
    gains, ons = [], []
    for i in range(0, len(quiet), 256):
        ons += stream.push(quiet[i:i + 256])[0]
        gains.append(stream.gain_db)
    stream.close()
    assert abs(gains[-1] - offline_gain) < 2.0 and gains[-1] > 10
    steps = [abs(b - a) for a, b in zip(gains, gains[1:])]
    assert sum(s > stream_mod.LEVEL_SLEW_DB * 2 + 1e-6 for s in steps) == 1   # a 256-sample block: <= 2 frames
    assert len(ons) >= len(TUNE) - 2
