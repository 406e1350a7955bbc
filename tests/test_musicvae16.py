"""The 16-bar MusicVAE family end to end on real (small) data: folk16 -> train -> export -> the runtime."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bridge.errors import BridgeError  # noqa: E402
from export.musicvae import folk  # noqa: E402
from export.musicvae16 import configs, export, train  # noqa: E402
from export.musicvae16.model import MusicVAE16 as TorchModel  # noqa: E402
from export.musicvae16.model import decoder_inputs  # noqa: E402
from plugins.midime.melody import HOLD, NUM_CLASSES  # noqa: E402
from plugins.midime.vae16 import MusicVAE16  # noqa: E402


@pytest.fixture(scope="module")
def folk16(tmp_path_factory):
    """The first two ABC files of music21's folk corpus as 16-bar windows, prepared for real."""
    root = tmp_path_factory.mktemp("data")
    old = os.environ.get("CMT_BRIDGE_DATA")
    os.environ["CMT_BRIDGE_DATA"] = str(root)
    idx = folk.prepare(root / "folk16", jobs=1, limit=2, dataset="folk16", steps=256)
    yield root / "folk16", idx
    if old is None:
        os.environ.pop("CMT_BRIDGE_DATA", None)
    else:
        os.environ["CMT_BRIDGE_DATA"] = old


@pytest.fixture(scope="module")
def exported(folk16, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    train.train(configs.get("musicvae16-tiny"), run, steps=6)
    return export.export("musicvae16-tiny", out=tmp_path_factory.mktemp("model") / "m16", run_dir=run)


def test_folk16_windows_are_16_bars_split_by_tune(folk16):
    out, idx = folk16
    assert idx["steps"] == 256 and idx["train_windows"] > 100
    w, tunes = folk.load_split("train", out, dataset="folk16")
    assert w.shape[1] == 256 and w.dtype == np.int64 and ((w >= 0) & (w < NUM_CLASSES)).all()
    assert (w[:, 0] != HOLD).all()                    # a window never starts inside an unknown note
    test_tunes = set(folk.load_split("test", out, dataset="folk16")[1].tolist())
    assert not set(tunes.tolist()) & test_tunes


def test_the_bar_decoder_is_reset_at_every_bar():
    """Bar k's logits depend on its own conductor embedding and its own inputs (the first of which is
    the previous bar's last token), never on earlier bars' decoder state."""
    torch.manual_seed(0)
    m = TorchModel(configs.get("musicvae16-tiny")).eval()
    x = torch.randint(0, NUM_CLASSES, (1, 256))
    z = torch.randn(1, m.cfg.z_dim)
    y = x.clone()
    y[0, 3 * 16:3 * 16 + 15] = (y[0, 3 * 16:3 * 16 + 15] + 7) % NUM_CLASSES   # bar 3, all but its last token
    with torch.no_grad():
        a = m.decode_teacher(z, decoder_inputs(x))
        b = m.decode_teacher(z, decoder_inputs(y))
    changed = (a - b).abs().amax(-1)[0] > 1e-6
    assert changed[3 * 16 + 1:4 * 16].all()           # bar 3 hears its own inputs
    assert not changed[:3 * 16 + 1].any() and not changed[4 * 16:].any()


def test_the_bar_encoder_gives_each_bar_its_own_code():
    """The per-bar encoder reads each bar alone: changing bar 5 changes bar 5's code and nothing else,
    while mu (read over all 16 codes) changes."""
    torch.manual_seed(0)
    m = TorchModel(configs.get("musicvae16-tiny")).eval()
    x = torch.randint(0, NUM_CLASSES, (1, 256))
    y = x.clone()
    y[0, 5 * 16:6 * 16] = (y[0, 5 * 16:6 * 16] + 3) % NUM_CLASSES
    with torch.no_grad():
        ca, cb = m.bar_codes(x), m.bar_codes(y)
        changed = (ca - cb).abs().amax(-1)[0] > 1e-6
        assert changed.tolist() == [i == 5 for i in range(16)]
        assert (m.encode(x)[0] - m.encode(y)[0]).abs().max() > 1e-6


def test_the_bar_code_path_trains_the_conductor_towards_the_codes(folk16):
    """With aux > 0 the loss carries the bar-code terms (a one-bar autoencoder through the bottom
    decoder, and conductor-to-code distance), and a few steps on real windows bring both down;
    with aux 0 the loss is the plain VAE loss."""
    from export.musicvae.train import loss_fn, make_batch

    cfg = configs.get("musicvae16-tiny").replace(batch=16, free_bits=0.0)
    tr, _ = folk.load_split("train", folk16[0], dataset="folk16")
    torch.manual_seed(0)
    m = TorchModel(cfg)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    batch = make_batch(cfg, tr, rng)
    first = None
    for _ in range(30):
        loss, stats = loss_fn(m, batch, 0.0, cfg.free_bits)
        first = first or stats
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert {"code_rec", "code_mse", "code_tf_acc"} <= set(stats)
    assert stats["code_mse"] < 0.5 * first["code_mse"] and stats["code_rec"] < first["code_rec"]
    plain = TorchModel(cfg.replace(aux=0.0))
    _, stats0 = loss_fn(plain, batch, 0.0, cfg.free_bits)
    assert "code_rec" not in stats0


def test_export_writes_checked_graphs_and_the_runtime_decodes_16_bars(exported):
    man = json.loads((exported / "manifest.json").read_text())
    assert set(man["graphs"]) == {"encoder", "conductor", "bar_init", "bar_step", "bar_sample"}
    assert man["validation"]["max_abs_diff"] < 1e-4
    assert man["validation"]["bar_sample"]["identical"] and man["validation"]["bar_sample"]["rows"] > 0
    assert man["vocab"]["steps"] == 256 and "free_running_acc" in man["quality"]
    assert man["training"]["command"].startswith("cmt-bridge train musicvae16-tiny")
    vae = MusicVAE16.load(exported)
    assert vae.steps == 256 and vae.bars == 16 and vae.has_sample_graph
    gold = man["golden"]
    mu, _ = vae.encode(np.array(gold["melody"]))
    assert np.allclose(mu, gold["mu"], atol=1e-4)
    assert (vae.decode(mu) == np.array(gold["greedy_tokens"])).all()
    rng = np.random.default_rng(3)
    noise = vae.gumbel(3, rng)
    z = rng.standard_normal((3, vae.z_dim)).astype(np.float32)
    assert (vae.decode_noise(z, 1.0, noise) == vae.decode_noise(z, 1.0, noise, graph=False)).all()
    steps = vae.interpolate(np.array(gold["melody"][0]), np.array(gold["melody"][1]), 4)
    assert steps.shape == (4, 256)


def test_the_runtime_refuses_a_model_of_the_other_length(exported):
    from bridge.api import ModelError
    from plugins.midime.vae import MusicVAE

    with pytest.raises(ModelError):
        MusicVAE.load(exported)


def test_the_flat_baseline_is_not_exported(folk16, tmp_path):
    cfg = configs.get("musicvae-mel16bar-flat").replace(name="flat-tiny", embed=8, enc_hidden=8, dec_hidden=8,
                                                         z_dim=4, batch=4, steps=2, valid_every=2, ckpt_every=2,
                                                         valid_windows=4, limit_train=20, minutes=None)
    train.train(cfg, tmp_path)
    ckpt = sorted(tmp_path.glob("ckpt-*.pt"))[-1]
    with pytest.raises(BridgeError, match="flat baseline"):
        export.export(ckpt, out=tmp_path / "out")


def test_a_time_budget_stops_training_and_checkpoints(folk16, tmp_path):
    cfg = configs.get("musicvae16-tiny").replace(steps=1000, minutes=0.001)
    result = train.train(cfg, tmp_path)
    assert 1 <= result["step"] < 1000
    assert (tmp_path / f"ckpt-{result['step']:07d}.pt").exists()


def test_midime16_generator_plays_16_bar_sections_and_learns_from_one(exported):
    """The live generator on the 16-bar model: sections of 64 beats, learning from 16 bars played."""
    from bridge.events import InputNote
    from bridge.generator import GeneratorContext
    from bridge.runtime import ModelBundle
    from plugins.midime.generator16 import MidiMe16Generator
    from plugins.midime.vae16 import EXPECT, MODEL_NAME

    class Context(GeneratorContext):
        def __init__(self, played):
            super().__init__()
            self.recent_input = lambda beats: played
            self.midi_input = lambda: "keyboard"
            self.progress = lambda task, fraction: None
            self.reports: list[str] = []
            self.report = self.reports.append

    shape = (0, 2, 4, 5, 7, 5, 4, 2)
    played = [InputNote(60 + shape[i % 8], 90, i * 0.5, i * 0.5 + 0.45) for i in range(16 * 8)]
    ctx = Context(played)
    gen = MidiMe16Generator(models={MODEL_NAME: ModelBundle.load(exported, expect=EXPECT)}, context=ctx)
    gen.set("seed", 3)
    [phrase] = gen.next_phrase()
    assert phrase.length == 64.0 and all(0 <= n.start < 64 for n in phrase.notes)
    assert phrase.meta["seed"] == 3                  # the section's seed (issue 18): set it, the section again
    gen.set("seed", -1)
    [drawn] = gen.next_phrase()
    gen.set("seed", drawn.meta["seed"])
    assert gen.next_phrase()[0].notes == drawn.notes
    out = gen.perform("learn", [])
    assert gen.personal is not None      # one section: MidiMe learns 8 draws of its posterior
    assert len(out) == 1 and out[0].meta["personal"] == "learned live"
    assert any("learned 1 16-bar windows" in r for r in ctx.reports)
    with pytest.raises(Exception, match="16..64"):
        gen.set("bars", 8)


def test_midime_cli_samples_interpolates_and_learns_16_bars(exported, tmp_path):
    """``cmt-bridge midime ... --model DIR`` with a 16-bar model: 64-beat .mid files and a piano roll."""
    import mido

    from bridge.api import Note, write_notes
    from plugins.midime.commands import run

    shape = (0, 2, 4, 5, 7, 5, 4, 2, 0, 4, 7, 12, 7, 4, 2, 0)
    for name, base in (("a", 60), ("b", 67)):
        write_notes(tmp_path / f"{name}.mid", [Note(base + shape[i % 16], 90, i * 0.5, 0.45) for i in range(128)])
    m = str(exported)
    assert run(["midime", "sample", "--model", m, "-n", "2", "--seed", "1", "-o", str(tmp_path / "s")]) == 0
    one = mido.MidiFile(tmp_path / "s" / "sample_01.mid")
    assert one.length > 0 and (tmp_path / "s" / "sample.png").stat().st_size > 1000
    beats = sum(msg.time for msg in mido.merge_tracks(one.tracks)) / one.ticks_per_beat
    assert beats <= 64
    assert run(["midime", "interpolate", str(tmp_path / "a.mid"), str(tmp_path / "b.mid"), "--model", m,
                "--steps", "3", "-o", str(tmp_path / "i")]) == 0
    assert len(list((tmp_path / "i").glob("interpolation_0*.mid"))) == 3
    assert run(["midime", "learn", str(tmp_path / "a.mid"), "--model", m, "--epochs", "20",
                "-o", str(tmp_path / "mine.midime")]) == 0
    assert run(["midime", "sample", "--model", m, "--personal", str(tmp_path / "mine.midime"), "-n", "1",
                "-o", str(tmp_path / "p")]) == 0


def test_pooling_by_bar_gives_every_bar_its_own_place_in_mu():
    """enc_pool="bars": mu and sigma read the encoder's output at each of the 16 bars (each through the same
    small map), side by side, so the middle of a piece is as near z as its ends; "last" reads the two final
    states only."""
    torch.manual_seed(0)
    cfg = configs.get("musicvae16-tiny")
    assert cfg.enc_pool == "bars"
    m = TorchModel(cfg).eval()
    assert m.to_mu.in_features == 16 * cfg.pool_dim
    x = torch.randint(0, NUM_CLASSES, (1, 256))
    y = x.clone()
    y[0, 8 * 16:9 * 16] = (y[0, 8 * 16:9 * 16] + 5) % NUM_CLASSES          # bar 9 only
    with torch.no_grad():
        assert (m.encode(x)[0] - m.encode(y)[0]).abs().max() > 1e-6
    last = TorchModel(cfg.replace(enc_pool="last"))
    assert last.to_mu.in_features == 2 * cfg.enc_hidden
    with pytest.raises(ValueError, match="enc_pool"):
        TorchModel(cfg.replace(enc_pool="mean"))


def test_sampling_follows_a_form_the_corpus_forms_or_none(exported):
    """The manifest counts the training windows' forms; a repeated bar is its source bar written again (the
    graph and the step loop agree), ``corpus`` draws a training form, ``free`` none."""
    from plugins.midime import form

    man = json.loads((exported / "manifest.json").read_text())
    assert man["forms"]["counts"] and man["sampling"]["form"] == "corpus"
    vae = MusicVAE16.load(exported)
    rng = np.random.default_rng(5)
    z = rng.standard_normal((3, vae.z_dim)).astype(np.float32)
    noise = vae.gumbel(3, rng)
    shape = form.parse("AABA CCDC AABA EEFE")
    out = vae.decode_noise(z, 1.0, noise, form=shape)
    assert (out == vae.decode_noise(z, 1.0, noise, graph=False, form=shape)).all()
    bars = out.reshape(3, 16, 16)
    for k, src in enumerate(shape):
        assert (bars[:, k] == bars[:, src]).all()
    free = vae.decode_noise(z, 1.0, noise)
    assert (free[:, :16] == out[:, :16]).all()           # the first bar is the model's either way
    vae.forms = form.Forms({"AAAAAAAAAAAAAAAA": 1})       # corpus forms are drawn from the manifest's table
    for p in vae.sample(2, 0.5, np.random.default_rng(1)):
        assert form.letters(form.sources(p, near=0)) == "A" * 16
    vae.forms = form.Forms(man["forms"]["counts"])
    free_bars = vae.sample(2, 0.5, np.random.default_rng(1), form="free").reshape(2, 16, 16)
    assert free_bars.shape == (2, 16, 16)
    with pytest.raises(BridgeError, match="form must be"):
        vae.decode_noise(z, 1.0, noise, form=np.array([1] + list(range(1, 16))))
