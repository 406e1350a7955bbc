"""Seeds of the live MidiMe phrases (issue 18): shown in ``/cmt/status`` and written into the session
recording as a text meta event at each phrase's start (``seed N``, as ``midime sample`` writes it);
setting ``seed`` to it makes the phrase again.

End to end: ``cmt-bridge run`` plays midime (seed -1: a fresh seed per batch), oscdump reads the
status replies, mido reads the recording. Units: the recorder and the playout's marks.
"""
from __future__ import annotations

import json
import time

import mido

from bridge.recorder import TICKS_PER_BEAT, Recorder
from fakeplugins.running import BridgeRun

PHRASE_TICKS = 8 * TICKS_PER_BEAT          # a 2-bar phrase in 4/4


def last_status(osc, after: int) -> tuple[dict | None, int]:
    """The newest whole /cmt/status oscdump printed after line ``after``; (status or None, lines read)."""
    lines = osc.path.read_text().splitlines()
    found = None
    for line in lines[after:]:
        if " /cmt/status s " in line:
            try:
                found = json.loads(line.split(" /cmt/status s ", 1)[1].strip()[1:-1])
            except ValueError:
                pass
    return found, len(lines)


def status_seed(run, osc, timeout: float = 30.0) -> int:
    end, read = time.monotonic() + timeout, 0
    while time.monotonic() < end:
        run.oscsend("/cmt/status")
        time.sleep(0.3)
        status, read = last_status(osc, read)
        seed = status and status["generators"]["midime"].get("seed")
        if seed is not None:
            return seed
    raise AssertionError("no midime seed in /cmt/status")


def phrases_by_seed(path) -> list[tuple[int, int, list[tuple[int, int, int]]]]:
    """(tick, seed, notes) per ``seed N`` text of the midime track; notes = (tick from the mark, pitch,
    velocity) of the note-ons in the phrase's 2 bars."""
    mid = mido.MidiFile(str(path))
    track = next(t for t in mid.tracks if t.name.startswith("midime"))
    events, tick = [], 0
    for msg in track:
        tick += msg.time
        events.append((tick, msg))
    marks = [(t, int(m.text.split()[1])) for t, m in events if m.type == "text" and m.text.startswith("seed ")]
    return [(t, seed, [(u - t, m.note, m.velocity) for u, m in events
                       if m.type == "note_on" and m.velocity > 0 and t <= u < t + PHRASE_TICKS])
            for t, seed in marks]


def test_the_playing_phrases_seed_is_in_the_status_and_the_recording_and_makes_it_again(osc_receiver):
    osc = osc_receiver()
    run = BridgeRun("--api", "none", "--play", "midime", "--tempo", "300", "--set", "midime.variations=1",
                    disable="midime16,tagger,cmt,transcription,visuals", reply_port=osc.port)
    try:
        run.wait_ready(90)
        shown = status_seed(run, osc)
        assert 0 <= shown < 2 ** 31
        time.sleep(4 * 8 * 60 / 300)                       # four more phrases, each with a fresh seed
        run.oscsend("/cmt/midime/seed", "i", shown)        # the liked phrase, again
        time.sleep(3 * 8 * 60 / 300)
        assert status_seed(run, osc) in (shown, shown + 1, shown + 2)
        run.oscsend("/cmt/stop")
        time.sleep(0.5)
        run.stop()                                         # the recording is written on the way out
        made = phrases_by_seed(run.record)
    finally:
        run.close()
    assert len(made) >= 6, made
    assert all(t % (4 * TICKS_PER_BEAT) == 0 for t, _, _ in made)          # at the phrases' bar lines
    seeds = [s for _, s, _ in made]
    assert seeds.index(shown) < len(seeds) - 1 and len(set(seeds)) >= 5   # seed -1: a fresh seed each phrase
    first, again = [notes for _, s, notes in made if s == shown][:2]
    assert first and again == first                                        # the same phrase, made again
    at = seeds.index(shown, seeds.index(shown) + 1)
    assert seeds[at + 1:at + 2] in ([], [shown + 1])                       # then N+1, N+2...


def test_the_recorder_writes_a_text_at_its_beat_in_the_channels_track(tmp_path):
    rec = Recorder(tmp_path / "take.mid", bpm=120)
    rec.text(8.0, 2, "seed 42")
    rec.add(8.0, [0x92, 60, 90])
    rec.add(9.0, [0x82, 60, 0])
    rec.text(16.0, 2, "seed 43")
    rec.add(16.5, [0x92, 62, 90])
    rec.add(17.0, [0x82, 62, 0])
    mid = mido.MidiFile(str(rec.write()))
    track = mid.tracks[1]
    ticks, texts = 0, []
    for msg in track:
        ticks += msg.time
        if msg.type == "text":
            texts.append((ticks, msg.text))
    assert texts == [(0, "seed 42"), (8 * TICKS_PER_BEAT, "seed 43")] and track.name == "channel 3"
