"""The host's own notes rendered in-process for the tagger: FluidSynth (pyfluidsynth, a real GM soundfont) and
the sine fallback put each note where it was played; the host source turns beats into seconds at the tempo."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bridge.errors import InputError
from bridge.generator import GeneratorContext
from bridge.played import PlayedNote
from plugins.tagger.render import RenderNote, SineRenderer, find_soundfont, make_renderer
from plugins.tagger.sources import HostSource

RATE = 16000


def fluid():
    try:
        import fluidsynth  # noqa: F401
    except ImportError:
        pytest.skip("pyfluidsynth / libfluidsynth not installed")
    if find_soundfont() is None:
        pytest.skip("no GM soundfont (Debian fluid-soundfont-gm)")
    r = make_renderer(RATE)
    assert r.name.startswith("FluidSynth")
    return r


def level(x: np.ndarray, a: float, b: float) -> float:
    seg = x[int(a * RATE):int(b * RATE)]
    return float(np.sqrt(np.mean(seg.astype(np.float64) ** 2)))


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * RATE / len(x))


@pytest.mark.parametrize("make", [fluid, lambda: SineRenderer(RATE)], ids=["fluidsynth", "sines"])
def test_notes_sound_where_they_were_played(make):
    r = make()
    audio = r.render([RenderNote(0.5, 0.9, 69, 100, 0, 0), RenderNote(-0.5, 0.2, 57, 90, 0, 0)], 1.5)
    assert len(audio) == int(1.5 * RATE)
    assert level(audio, 0.0, 0.15) > 0.01                  # the A3 that began before the window
    assert level(audio, 0.3, 0.49) < level(audio, 0.55, 0.85) / 10
    assert abs(peak_hz(audio[int(0.55 * RATE):int(0.85 * RATE)]) - 440.0) < 8.0
    assert level(r.render([], 1.0), 0.0, 1.0) < 1e-3       # nothing played: nothing heard, no tail
    r.close()


def test_fluidsynth_plays_each_channels_program_and_drums():
    r = fluid()
    piano = r.render([RenderNote(0.0, 1.0, 60, 100, 0, 0)], 1.0)
    strings = r.render([RenderNote(0.0, 1.0, 60, 100, 3, 48)], 1.0)
    drums = r.render([RenderNote(0.1, 0.3, 38, 110, 9, None)], 1.0)
    assert level(strings, 0.05, 1.0) > 1e-3 and level(drums, 0.1, 0.3) > 1e-2
    # different instruments: the spectra differ a lot more than one render from the next
    again = r.render([RenderNote(0.0, 1.0, 60, 100, 0, 0)], 1.0)
    sp = lambda x: np.log(np.abs(np.fft.rfft(x[2000:14000])) + 1e-6)  # noqa: E731
    assert np.abs(sp(piano) - sp(strings)).mean() > 3 * np.abs(sp(piano) - sp(again)).mean()
    r.close()


def test_the_sine_fallback_and_soundfont_errors(monkeypatch):
    assert np.array_equal(SineRenderer(RATE).render([RenderNote(0.1, 0.5, 60, 90)], 1.0),
                          SineRenderer(RATE).render([RenderNote(0.1, 0.5, 60, 90)], 1.0))
    with pytest.raises(InputError, match="soundfont /no/such.sf2 does not exist"):
        make_renderer(RATE, "/no/such.sf2")
    monkeypatch.setattr("plugins.tagger.render.SOUNDFONTS", ())
    monkeypatch.delenv("CMT_BRIDGE_SOUNDFONT", raising=False)
    assert isinstance(make_renderer(RATE), SineRenderer)


def test_the_host_source_turns_beats_into_seconds_at_the_tempo():
    now = [10.0]
    notes = [PlayedNote("midime", 8.0, 9.0, 69, 100, 0), PlayedNote("midime", 10.0, 11.0, 72, 100, 0)]
    ctx = GeneratorContext(tempo=lambda: 120.0, now=lambda: now[0],
                           played=lambda a, b: [n for n in notes if n.start < b and n.end > a])
    src = HostSource(ctx, RATE, SineRenderer(RATE)).start()
    audio = src.latest(2 * RATE)      # 2 s = 4 beats at 120 BPM: beats 6..10; the note at 8..9 = 1.0..1.5 s
    assert len(audio) == 2 * RATE
    # the note starting at beat 10 (= now) has not sounded yet: not heard
    assert level(audio, 0.0, 0.95) < 1e-3 and level(audio, 1.05, 1.45) > 0.05 and level(audio, 1.55, 2.0) < 1e-3
    assert abs(peak_hz(audio[int(1.05 * RATE):int(1.45 * RATE)]) - 440.0) < 8.0
    assert "the host's own notes (sines" in src.describe


def test_the_generator_hears_the_host(tmp_path):
    from bridge.runtime import ModelBundle
    from plugins.tagger.generator import TaggerGenerator
    from tagger_fixture import make_tagger_folder

    sent = []
    now = [0.0]
    notes: list[PlayedNote] = []
    ctx = GeneratorContext(tempo=lambda: 120.0, now=lambda: now[0], send=lambda m, *a: sent.append((m, a)),
                           played=lambda a, b: [n for n in notes if n.start < b and n.end > a])
    gen = TaggerGenerator({"tagger": ModelBundle.load(make_tagger_folder(tmp_path / "m"))}, ctx)
    gen.perform("host", [""])
    gen.next_phrase()
    assert [a[0] for m, a in sent if m == "caption"] == ["silence"]      # the host has played nothing yet
    notes += [PlayedNote("cmt", b, b + 0.5, 60 + b % 12, 110, 0, 0) for b in range(0, 8)]
    now[0] = 8.0
    gen.next_phrase()
    tags = json.loads([a[0] for m, a in sent if m == "tags"][-1])
    assert not tags["silent"] and tags["source"].startswith("the host's own notes")
    gen.close()
