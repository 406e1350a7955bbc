"""CMT data prep on a few corpus files: tokens round-trip, split by piece, cached and resumable."""
from __future__ import annotations

import json

import numpy as np

from export.cmt import data as cmt_data
from plugins.cmt import tokens as T


def _files():
    from music21 import corpus

    return [corpus.getWork(w) for w in ("bach/bwv66.6", "bach/bwv7.7", "bach/bwv250")]


def test_prepare_two_runs(tmp_path, monkeypatch):
    files = _files()
    index = cmt_data.prepare(tmp_path, jobs=1, files=files)
    assert index["pieces"] == 3 and index["parsed"] == 3 and index["skipped"] == {}
    assert sum(index[f"{s}_pieces"] for s in ("train", "valid", "test")) == 3
    on_disk = json.loads((tmp_path / "index.json").read_text())
    assert on_disk["fields"] == list(T.FIELDS)
    pieces = []
    for split in ("train", "valid", "test"):
        toks, bpb = cmt_data.load_split(split, tmp_path)
        with np.load(tmp_path / f"{split}.npz", allow_pickle=False) as z:
            ids = z["piece_ids"].tolist()
        assert all(cmt_data.split_of(pid) == split for pid in ids)
        for t, b in zip(toks, bpb):
            assert t[-1, T.F["type"]] == T.END
            np.testing.assert_array_equal(T.encode(T.decode(t, b), b), t)
            pieces.append(t)
    assert len(pieces) == 3 and all(len(t) > 200 for t in pieces)
    # resumable: a second run parses nothing and writes the same data
    monkeypatch.setattr(cmt_data, "parse_file", lambda p: (_ for _ in ()).throw(AssertionError(p)))
    again = cmt_data.prepare(tmp_path, jobs=1, files=files)
    assert again["parsed"] == 0
    assert {k: v for k, v in again.items() if k.endswith("_crc")} == {k: v for k, v in index.items() if k.endswith("_crc")}


def test_single_part_and_bad_files_are_skipped_with_a_reason(tmp_path):
    bad = tmp_path / "corpus" / "x" / "broken.krn"
    bad.parent.mkdir(parents=True)
    bad.write_text("this is not humdrum\n")
    pieces, skipped = cmt_data.parse_file(bad)
    assert pieces == [] and len(skipped) == 1 and "\n" not in next(iter(skipped.values()))
    from music21 import stream, note

    s = stream.Score([stream.Part([note.Note("C4", quarterLength=4.0) for _ in range(8)])])
    assert cmt_data.piece_tokens(s) == "fewer than 2 parts"


def test_transpose_moves_pitches_but_not_drums():
    from bridge.events import Note

    tok = T.encode({"lead": [Note(60, 90, 0.0, 1.0), Note(125, 90, 1.0, 1.0)], "drums": [Note(36, 90, 0.0, 1.0)]})
    up = cmt_data.transpose(tok, 5)
    back = T.decode(up)
    assert sorted(n.pitch for n in back["lead"]) == [65, 118] and back["drums"][0].pitch == 36
    np.testing.assert_array_equal(np.delete(up, T.F["pitch"], axis=1), np.delete(tok, T.F["pitch"], axis=1))
