"""Tagger units: the sentence (templates, thresholds, determinism), windowing, pooling, silence, decoding of
WAV / FLAC / OGG / MP3 written here by soundfile and PyAV, bad files; the runtime on the fixture model
(tests/tagger_fixture.py: hand-set weights, plumbing only)."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from bridge.errors import ConfigError, InputError, ModelError
from bridge.api import read_audio
from plugins.tagger.caption import SILENCE, Captioner, join_and
from plugins.tagger.tagger import Tagger, cut_windows, rms_dbfs, window_starts
from tagger_fixture import GROUPS, RATE, TAGS, THRESHOLDS, make_tagger_folder, tone


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_tagger_folder(tmp_path_factory.mktemp("tagger"))


@pytest.fixture(scope="module")
def tagger(folder):
    return Tagger.load(folder)


def caption() -> Captioner:
    return Captioner(TAGS, GROUPS, THRESHOLDS)


def probs(**kw: float) -> dict[str, float]:
    return {t: kw.get(t, 0.05) for t in TAGS}


# -- the sentence ----------------------------------------------------------------------------------
def test_plain_sentence_from_the_seed_example():
    p = probs(fast=0.9, loud=0.8, strings=0.95, piano=0.7, minor=0.85)
    assert caption().sentence(p, "plain") == "a fast, loud piece for strings and piano in a minor key"


def test_prompt_style_repeats_the_tags_most_confident_first():
    p = probs(fast=0.6, loud=0.8, strings=0.95, piano=0.7, minor=0.9)
    assert caption().sentence(p, "prompt") == ("an image evoking a fast, loud piece for strings and piano in a minor "
                                               "key, minor key, loud, fast, strings and piano")


def test_exclusive_groups_pick_their_top_tag_only_above_threshold():
    c = caption()
    # fast and medium both above 0.5: only the top one; minor is top but below threshold: no mode at all
    p = probs(fast=0.7, medium=0.9, minor=0.45, major=0.4, piano=0.9)
    chosen = {(x.group, x.tag) for x in c.choose(p)}
    assert ("tempo", "medium") in chosen and ("tempo", "fast") not in chosen
    assert not any(g == "mode" for g, _ in chosen)
    assert c.sentence(p) == "a moderate piece for piano"
    # instruments are multi-label: every one above its threshold, most confident first
    p = probs(piano=0.6, drums=0.99, synth_pad=0.8, bass=0.51, organ=0.49)
    assert c.sentence(p) == "a piece for drums, synth pad, piano and bass"


def test_texture_register_articulation_and_an_article():
    p = probs(solo=0.9, slow=0.8, soft=0.7, legato=0.6, high=0.9, woodwind=0.8, major=0.7)
    assert caption().sentence(p) == "a slow, soft, legato, high-pitched solo piece for woodwind in a major key"
    p = probs(ensemble=0.9)
    assert caption().sentence(p) == "an ensemble piece"
    assert caption().sentence(probs()) == "a piece of music"
    assert caption().sentence(probs(), "prompt") == "an image evoking a piece of music"


def test_silence_and_a_bad_style():
    assert caption().sentence(probs(piano=0.9), "plain", silent=True) == SILENCE
    with pytest.raises(ConfigError, match="style must be one of plain, prompt"):
        caption().sentence(probs(), "haiku")


def test_the_same_tags_give_the_same_sentence_whatever_the_dict_order():
    p = probs(fast=0.8, loud=0.8, strings=0.8, piano=0.8, brass=0.8, minor=0.8, dense=0.8)
    first = caption().sentence(p, "prompt")
    items = list(p.items())
    for seed in range(10):
        random.Random(seed).shuffle(items)
        assert caption().sentence(dict(items), "prompt") == first
    # ties are broken by vocabulary order, so equal confidences still give one sentence
    assert "for piano, strings and brass" in first
    # an array in vocabulary order is the same as the dict
    assert caption().sentence(np.array([p[t] for t in TAGS]), "prompt") == first


def test_thresholds_come_from_the_manifest_or_parameters():
    p = probs(piano=0.4, fast=0.3)
    assert caption().sentence(p) == "a piece of music"
    assert caption().with_thresholds({"*": 0.35}).sentence(p) == "a piece for piano"
    assert caption().with_thresholds({"fast": 0.25}).sentence(p) == "a fast piece"
    # another vocabulary entirely (nothing about it is in the code): spoken as the tag names
    c = Captioner(["bright_timbre", "dark_timbre", "harp"], {"timbre": ["bright_timbre", "dark_timbre"],
                                                            "instrument": ["harp"]}, {"bright_timbre": 0.2})
    assert c.sentence({"bright_timbre": 0.3, "dark_timbre": 0.1, "harp": 0.6}) == "a bright timbre piece for harp"
    with pytest.raises(ConfigError, match="unknown tag 'violin'"):
        caption().with_thresholds({"violin": 0.3})
    with pytest.raises(ConfigError, match="0..1"):
        caption().with_thresholds({"piano": 1.5})


def test_join_and():
    assert [join_and(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == ["", "a", "a and b", "a, b and c"]


# -- windows and pooling ---------------------------------------------------------------------------
def test_windows_cover_the_file_with_the_last_one_flush_with_the_end():
    assert window_starts(100, 30, 15) == [0, 15, 30, 45, 60, 70]
    assert window_starts(90, 30, 15) == [0, 15, 30, 45, 60]
    assert window_starts(20, 30, 15) == [0]
    starts, w = cut_windows(np.arange(20, dtype=np.float32) + 1, 30, 15)
    assert starts == [0] and w.shape == (1, 30) and w[0, 19] == 20 and not w[0, 20:].any()
    with pytest.raises(InputError):
        window_starts(10, 0, 5)


def test_timeline_reads_rate_and_window_from_the_manifest(tagger):
    assert (tagger.rate, tagger.window_seconds, tagger.window) == (RATE, 1.0, RATE)   # not 16 kHz / 3 s
    x = np.concatenate([tone(2.0), tone(2.0, amplitude=0.01), np.zeros(2 * RATE, np.float32)])
    tl = tagger.timeline(x, hop_seconds=0.5)
    assert list(tl.starts_seconds) == [i * 0.5 for i in range(11)]
    assert tl.probabilities.shape == (11, len(TAGS)) and tl.embeddings.shape == (11, 8)
    loud, soft = TAGS.index("loud"), TAGS.index("soft")
    assert tl.probabilities[0, loud] > 0.9 and tl.probabilities[5, soft] > 0.9
    assert list(tl.silent) == [False] * 8 + [True] * 3      # windows from 4 s on hear only zeros
    assert not tl.probabilities[tl.silent].any()
    # pooled = the mean over sounding windows only
    np.testing.assert_allclose(tl.pooled(), tl.probabilities[:8].mean(axis=0), rtol=1e-6)


def test_silence_and_short_input(tagger):
    tl = tagger.timeline(np.zeros(3 * RATE, np.float32))
    assert tl.is_silence and not tl.pooled().any()
    tl = tagger.timeline(tone(0.2))
    assert tl.padded and len(tl.starts_seconds) == 1 and not tl.is_silence
    with pytest.raises(InputError, match="too short to tag"):
        tagger.timeline(tone(0.01))
    with pytest.raises(InputError, match="hop must be > 0"):
        tagger.timeline(tone(2.0), hop_seconds=0)


def test_batches_give_the_same_rows_as_single_windows(tagger):
    x = np.random.default_rng(0).normal(0, 0.2, 40 * RATE).astype(np.float32)   # 79 windows: 5 batches
    tl = tagger.timeline(x, hop_seconds=0.5)
    i = 37
    p, e, silent = tagger.tag_window(x[int(tl.starts_seconds[i] * RATE):][:RATE])
    np.testing.assert_allclose(tl.probabilities[i], p, rtol=1e-5)
    np.testing.assert_allclose(tl.embeddings[i], e, rtol=1e-5)
    assert rms_dbfs(np.zeros(10)) == float("-inf") and abs(rms_dbfs(np.ones(10)) - 0.0) < 1e-9


def test_a_graph_with_a_fixed_batch_gives_the_same_rows(tmp_path, tagger):
    fixed = Tagger.load(make_tagger_folder(tmp_path / "b3", batch=3))
    assert fixed.fixed_batch and fixed.batch == 3 and not tagger.fixed_batch
    x = np.random.default_rng(2).normal(0, 0.2, 5 * RATE).astype(np.float32)   # 9 windows: 3 calls of 3
    a, b = fixed.timeline(x, 0.5), tagger.timeline(x, 0.5)
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5)
    np.testing.assert_allclose(fixed.tag_window(x[:RATE])[0], tagger.tag_window(x[:RATE])[0], rtol=1e-5)
    x = x[:int(4.6 * RATE)]                                                     # 9 windows again, the last flush
    assert len(fixed.timeline(x, 0.5).starts_seconds) == 9


def test_the_runtime_refuses_a_manifest_it_cannot_use(tmp_path):
    folder = make_tagger_folder(tmp_path / "m")
    m = json.loads((folder / "manifest.json").read_text())
    del m["thresholds"]
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="lacks thresholds"):
        Tagger.load(folder)
    m = json.loads(json.dumps(m)) | {"thresholds": THRESHOLDS, "tags": TAGS[:-1]}
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="tag_groups name tags not in 'tags' \\(staccato\\)"):
        Tagger.load(folder)
    with pytest.raises(ModelError, match="no tagger model in"):
        Tagger.load(tmp_path / "nowhere")
    other = make_tagger_folder(tmp_path / "w", rate=8000, window_seconds=1.0)
    m = json.loads((other / "manifest.json").read_text()) | {"window_seconds": 2.0}
    (other / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="the graph takes 8000 samples, the manifest says 2 s at 8000 Hz = 16000"):
        Tagger.load(other)


# -- decoding --------------------------------------------------------------------------------------
def _write_soundfile(path, x, rate, fmt, subtype=None):
    import soundfile

    soundfile.write(str(path), np.stack([x, x], axis=1), rate, format=fmt, subtype=subtype)


def _write_mp3(path, x, rate):
    import av

    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        frame_size = 1152
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        for i in range(0, len(pcm), frame_size):
            frame = av.AudioFrame.from_ndarray(pcm[None, i:i + frame_size], format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.mark.parametrize("ext, write", [
    ("wav", lambda p, x, r: _write_soundfile(p, x, r, "WAV", "PCM_16")),
    ("flac", lambda p, x, r: _write_soundfile(p, x, r, "FLAC")),
    ("ogg", lambda p, x, r: _write_soundfile(p, x, r, "OGG", "VORBIS")),
    ("mp3", _write_mp3),
])
def test_formats_decode_and_resample_to_the_models_rate(tmp_path, ext, write):
    rate = 44100
    x = tone(2.0, rate=rate, amplitude=0.5, freq=440.0)
    path = tmp_path / f"tone.{ext}"
    write(path, x, rate)
    y = read_audio(path, RATE)
    assert abs(len(y) / RATE - 2.0) < 0.1          # MP3 adds encoder delay/padding of a few ms
    middle = y[len(y) // 4: 3 * len(y) // 4]
    spectrum = np.abs(np.fft.rfft(middle))
    assert abs(np.argmax(spectrum) * RATE / len(middle) - 440.0) < 3.0
    assert 0.3 < np.sqrt(np.mean(middle ** 2)) / (0.5 / np.sqrt(2)) < 1.2


def test_a_misnamed_file_still_decodes_and_bad_files_get_one_line(tmp_path):
    good = tmp_path / "really_flac.mp3"
    _write_soundfile(good, tone(1.0, rate=RATE), RATE, "FLAC")
    assert len(read_audio(good, RATE)) == RATE
    for name, data in (("notes.txt", b"hello, I am not audio\n" * 50), ("empty.wav", b""),
                       ("cut.wav", (tmp_path / "really_flac.mp3").read_bytes()[:40])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as e:
            read_audio(tmp_path / name, RATE)
        assert "not a readable audio file" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="no such audio file"):
        read_audio(tmp_path / "missing.wav", RATE)
