"""CMT export: a trained checkpoint -> model folder the host's ModelBundle loads, the bar sampler
plays, and video_to_midi turns a video into a multi-track MIDI file with."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bridge.errors import ModelError  # noqa: E402
from bridge.runtime import ModelBundle  # noqa: E402
from export.cmt import data as cmt_data  # noqa: E402
from export.cmt.configs import CONFIGS  # noqa: E402
from export.cmt.export import EXPECT, export  # noqa: E402
from export.cmt.train import train  # noqa: E402
from plugins.cmt import tokens as T  # noqa: E402
from plugins.cmt.sampling import BarSampler  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from dataclasses import replace

    from music21 import corpus

    tmp = tmp_path_factory.mktemp("cmtexport")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = tmp / "data"
        cmt_data.prepare(data, jobs=1, files=[corpus.getWork(w) for w in ("bach/bwv66.6", "bach/bwv7.7")])
        train(replace(CONFIGS["cmt-tiny"], steps=4, valid_every=4, ckpt_every=4), tmp / "run", data=data)
        return export(tmp / "run" / "ckpt-0000004.pt", tmp / "cmt", data=data)
    finally:
        torch.set_num_threads(before)


def test_export_validate_load_and_sample(model_dir, tmp_path):
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["validation"]["steps"] == 500 and manifest["validation"]["max_abs_diff"] < 1e-4
    bundle = ModelBundle.load(model_dir, threads=1, expect=EXPECT)
    sampler = BarSampler.from_bundle(bundle, seed=0, total_bars=4)
    for _ in range(4):
        notes, tok = sampler.bar(density=5, strength=3)
        assert tok[0, T.F["density"]] == 6 and tok[0, T.F["strength"]] == 4
        assert all(0 <= n.start < 4.0 for part in notes.values() for n in part)
    changed = tmp_path / "changed"
    shutil.copytree(model_dir, changed)
    manifest["vocab"]["pitch"] = 88
    (changed / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="other CMT tokens"):
        BarSampler.from_bundle(ModelBundle.load(changed, threads=1))


def test_video_to_midi_is_as_long_as_the_video(model_dir, tmp_path):
    import cv2
    import mido

    from bridge.midifile import read_notes
    from plugins.cmt.video2midi import video_to_midi

    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur((rng.random((120, 960)) * 255).astype(np.uint8), (0, 0), 3)
    tex = cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)
    clip = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 20, (160, 120))
    for i in range(120):                                           # 6 s: 3 still, 3 moving
        x = 0 if i < 60 else 3 * (i - 60)
        vw.write(cv2.cvtColor(np.ascontiguousarray(np.roll(tex, -x, axis=1)[:, :160]), cv2.COLOR_GRAY2BGR))
    vw.release()
    bundle = ModelBundle.load(model_dir, threads=1, expect=EXPECT)
    path, controls, notes = video_to_midi(bundle, clip, tmp_path / "out.mid", bars=4, seed=1)
    assert controls.bpm == pytest.approx(160.0) and controls.density[0] < controls.density[-1]
    back = read_notes(path)
    assert len(back) == sum(len(v) for v in notes.values()) > 0
    assert max(n.end for n in back) <= 16.0 + 1e-6
    assert {n.channel for n in back} == {T.INSTRUMENTS[T.INSTRUMENT_INDEX[k]].channel for k in notes}
    mid = mido.MidiFile(str(path))
    tempo = [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"][0]
    assert mido.tempo2bpm(tempo) == pytest.approx(160.0, rel=1e-3)
    programs = {m.channel: m.program for t in mid.tracks for m in t if m.type == "program_change"}
    for name in notes:
        ins = T.INSTRUMENTS[T.INSTRUMENT_INDEX[name]]
        if name != "drums":
            assert programs[ins.channel] == ins.program
