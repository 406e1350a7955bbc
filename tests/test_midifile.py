"""bridge.midifile: round trips in beats, tempo independence, clear errors, melody picking."""
from __future__ import annotations

import mido
import pytest

from bridge.errors import ConfigError, InputError
from bridge.events import Note
from bridge.midifile import melody_notes, polyphony, read_notes, read_tracks, write_notes

SCALE = [Note(60 + p, 80 + i, i * 0.5, 0.5) for i, p in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]


def test_round_trip_keeps_pitch_velocity_beats(tmp_path):
    path = write_notes(tmp_path / "scale.mid", SCALE, bpm=97.0)
    back = read_notes(path)
    assert [(n.pitch, n.velocity, n.start, n.duration) for n in back] == \
           [(n.pitch, n.velocity, n.start, n.duration) for n in SCALE]


@pytest.mark.parametrize("bpm", [60.0, 140.0, 233.0])
def test_beats_do_not_depend_on_tempo(tmp_path, bpm):
    back = read_notes(write_notes(tmp_path / "t.mid", SCALE, bpm=bpm))
    assert [n.start for n in back] == [n.start for n in SCALE]
    tempos = [m.tempo for m in mido.MidiFile(tmp_path / "t.mid").tracks[0] if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(bpm)]


def test_tracks_get_own_channel_and_program(tmp_path):
    lead = [Note(72, 90, 0, 1), Note(74, 90, 1, 1)]
    bass = [Note(36, 70, 0, 2)]
    path = write_notes(tmp_path / "band.mid", {"lead": lead, "bass": bass}, programs={"lead": 73, "bass": 32})
    mid = mido.MidiFile(path)
    assert len(mid.tracks) == 3
    programs = {(m.channel, m.program) for t in mid.tracks for m in t if m.type == "program_change"}
    assert programs == {(0, 73), (1, 32)}
    tracks = read_tracks(path)
    assert set(tracks) == {"lead", "bass"}
    assert [n.pitch for n in tracks["lead"]] == [72, 74] and tracks["lead"][0].channel == 0
    assert tracks["bass"][0].channel == 1 and tracks["bass"][0].duration == 2.0


def test_overlapping_repeat_of_a_pitch_stays_paired(tmp_path):
    notes = [Note(60, 90, 0.0, 2.0), Note(60, 90, 1.0, 1.0)]
    back = read_notes(write_notes(tmp_path / "rep.mid", notes))
    assert [(n.start, n.duration) for n in back] == [(0.0, 1.0), (1.0, 1.0)]


def test_same_pitch_struck_twice_at_once_is_one_note(tmp_path):
    notes = [Note(60, 90, 1.0, 0.5), Note(60, 80, 1.0, 2.0), Note(64, 90, 1.0, 1.0)]
    path = write_notes(tmp_path / "dup.mid", notes)
    back = read_notes(path)
    assert [(n.pitch, n.start, n.duration) for n in back] == [(60, 1.0, 2.0), (64, 1.0, 1.0)]
    msgs = [m for m in mido.MidiFile(path).tracks[1] if m.type in ("note_on", "note_off")]
    assert [m.type for m in msgs].count("note_on") == 2 == [m.type for m in msgs].count("note_off")


def test_write_rejects_bad_program_and_tempo(tmp_path):
    with pytest.raises(ConfigError, match="program"):
        write_notes(tmp_path / "x.mid", {"a": SCALE}, programs={"a": 200})
    with pytest.raises(ConfigError, match="bpm"):
        write_notes(tmp_path / "x.mid", SCALE, bpm=5)


def test_missing_corrupt_and_empty_files_are_one_liners(tmp_path):
    with pytest.raises(InputError, match="no such MIDI file"):
        read_notes(tmp_path / "nope.mid")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    with pytest.raises(InputError, match="not a readable MIDI file") as e:
        read_notes(bad)
    assert "\n" not in str(e.value)
    text = tmp_path / "text.mid"
    text.write_text("hello, not midi")
    with pytest.raises(InputError, match="not a readable MIDI file"):
        read_notes(text)
    empty = write_notes(tmp_path / "empty.mid", [])
    with pytest.raises(InputError, match="has no notes"):
        read_notes(empty)


def test_unreleased_note_ends_at_track_end(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack()
    track.append(mido.Message("note_on", note=64, velocity=100, time=0))
    track.append(mido.Message("note_on", note=67, velocity=0, time=96))  # stray off of another pitch
    track.append(mido.MetaMessage("end_of_track", time=96))
    mid.tracks.append(track)
    mid.save(tmp_path / "held.mid")
    [n] = read_notes(tmp_path / "held.mid")
    assert (n.pitch, n.start, n.duration) == (64, 0.0, 2.0)


def test_melody_takes_the_voice_with_most_notes_and_skips_drums():
    drums = [Note(36, 100, i * 0.25, 0.1, 9) for i in range(32)]
    bass = [Note(40, 80, 0, 4, 1), Note(43, 80, 4, 4, 1)]
    tune = melody_notes(drums + bass + [n for n in SCALE])
    assert [n.pitch for n in tune] == [n.pitch for n in SCALE]
    assert melody_notes({"drums": drums, "lead": SCALE, "pad": bass}) == SCALE


def test_legato_overlaps_are_cut_not_rejected():
    legato = [Note(60 + i, 90, i * 1.0, 1.05) for i in range(8)]
    assert polyphony(legato) == 0.0
    mono = melody_notes(legato)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(mono, mono[1:]))


def test_chords_are_polyphonic_input_error():
    chords = [Note(p, 90, bar * 4.0, 4.0) for bar in range(4) for p in (60, 64, 67)]
    with pytest.raises(InputError, match="polyphonic: MidiMe needs a single melody line") as e:
        melody_notes(chords, source="chords.mid")
    assert str(e.value).startswith("chords.mid is polyphonic")


def test_few_overlaps_are_tolerated():
    tune = [Note(60 + (i % 5), 90, i * 0.5, 0.5) for i in range(20)]
    tune.append(Note(55, 90, 3.0, 0.5))  # one doubled onset among 21: under 10%
    assert len(melody_notes(tune)) == 20


def test_only_drums_is_no_melody():
    with pytest.raises(InputError, match="no usable melody"):
        melody_notes([Note(36, 100, 0, 0.5, 9)], source="beat.mid")


def test_list_form_keeps_drum_channel_names_tracks_and_writes_meter(tmp_path):
    notes = [Note(72, 90, 0, 1, channel=0), Note(36, 100, 0, 0.25, channel=9)]
    path = write_notes(tmp_path / "kit.mid", notes, programs={0: 73}, names={0: "lead", 9: "drums"},
                       time_signature=(3, 4))
    mid = mido.MidiFile(path)
    sig = [m for m in mid.tracks[0] if m.type == "time_signature"][0]
    assert (sig.numerator, sig.denominator) == (3, 4)
    tracks = read_tracks(path)
    assert set(tracks) == {"lead", "drums"} and tracks["drums"][0].channel == 9
    assert not [m for t in mid.tracks for m in t if m.type == "program_change" and m.channel == 9]


def test_bad_time_signature_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="time signature"):
        write_notes(tmp_path / "x.mid", [Note(60, 90, 0, 1)], time_signature=(4, 3))


def test_read_tempo_gives_the_files_first_tempo_or_120(tmp_path):
    from bridge.midifile import read_tempo

    path = write_notes(tmp_path / "t.mid", [Note(60, 90, 0.0, 1.0)], bpm=90.0)
    assert read_tempo(path) == pytest.approx(90.0, abs=1e-3)
    bare = tmp_path / "bare.mid"
    mido.MidiFile(tracks=[mido.MidiTrack([mido.Message("note_on", note=60, velocity=90, time=0)])]).save(bare)
    assert read_tempo(bare) == 120.0
    with pytest.raises(InputError, match="no such MIDI file"):
        read_tempo(tmp_path / "missing.mid")
