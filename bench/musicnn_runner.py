"""Run musicnn 0.1.0 (MTT_musicnn) on clips, inside its bench-only venv (bench/setup_musicnn.sh).

    TF_USE_LEGACY_KERAS=1 $VENV/bin/python bench/musicnn_runner.py IN.npy OUT.npz

IN.npy: float32 [n, samples] mono 16 kHz clips. OUT.npz: ``probs`` [n, 50] (sigmoid,
mean over the 3 s patches of a clip), ``penultimate`` [n, 200] (its embedding,
mean over patches), ``labels`` (its 50 MTT tags), ``seconds`` (tagging wall time,
spectrograms included), ``threads``. Two traps handled (DESIGN.md): the checkpoint
is restored explicitly and every variable is checked against the checkpoint's
value (musicnn's own extractor swallows a failed restore and runs random
weights); input is peak-normalised to -20 dBFS because musicnn casts the
mel spectrogram to float16 before its log, so loud input overflows to inf.
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()
from musicnn import configuration as config  # noqa: E402
from musicnn import models  # noqa: E402

PEAK = 10 ** (-20 / 20)


def spectrogram_patches(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """musicnn's own front end (extractor.batch_data) on an array: [patches, n_frames, 96]."""
    rep = librosa.feature.melspectrogram(y=audio, sr=config.SR, hop_length=config.FFT_HOP,
                                         n_fft=config.FFT_SIZE, n_mels=config.N_MELS).T
    rep = np.log10(10000 * rep.astype(np.float16) + 1)
    if len(rep) < n_frames:
        rep = np.pad(rep, ((0, n_frames - len(rep)), (0, 0)))
    starts = range(0, len(rep) - n_frames + 1, n_frames)
    return np.stack([rep[s:s + n_frames] for s in starts]).astype(np.float32)


def main(inp: str, out: str, model: str = "MTT_musicnn") -> None:
    clips = np.load(inp).astype(np.float32)
    n_frames = librosa.time_to_frames(3, sr=config.SR, n_fft=config.FFT_SIZE, hop_length=config.FFT_HOP) + 1
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, *_, penultimate = models.define_model(x, is_training, model, len(config.MTT_LABELS))
        probs = tf.nn.sigmoid(y)
    sess = tf.compat.v1.Session(config=tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1,
                                                                inter_op_parallelism_threads=1))
    sess.run(tf.compat.v1.global_variables_initializer())
    ckpt = os.path.join(os.path.dirname(models.__file__), model) + "/"
    tf.compat.v1.train.Saver().restore(sess, ckpt)  # raises on failure (no bare except here)
    reader = tf.compat.v1.train.NewCheckpointReader(ckpt)
    variables = tf.compat.v1.global_variables()
    checked = 0
    for v in variables:
        name = v.name.split(":")[0]
        if reader.has_tensor(name):
            if not np.allclose(sess.run(v), reader.get_tensor(name)):
                raise SystemExit(f"musicnn variable {name} does not hold its checkpoint value")
            checked += 1
    if checked < len(variables) * 0.9:
        raise SystemExit(f"only {checked} of {len(variables)} musicnn variables are in its checkpoint")
    spectrogram_patches(clips[0], n_frames)  # warm-up (librosa's first call compiles)
    sess.run(probs, feed_dict={x: spectrogram_patches(clips[0], n_frames), is_training: False})
    t0 = time.perf_counter()
    specs, owner = [], []
    for i, clip in enumerate(clips):
        peak = float(np.abs(clip).max())
        patches = spectrogram_patches(clip * (PEAK / peak) if peak > 0 else clip, n_frames)
        specs.append(patches)
        owner += [i] * len(patches)
    t_spec = time.perf_counter() - t0
    allp = np.concatenate(specs)
    p_all, e_all = [], []
    for s in range(0, len(allp), 64):
        p, e = sess.run([probs, penultimate], feed_dict={x: allp[s:s + 64], is_training: False})
        p_all.append(p)
        e_all.append(e)
    p_all, e_all, owner = np.concatenate(p_all), np.concatenate(e_all), np.array(owner)
    p_out = [p_all[owner == i].mean(0) for i in range(len(clips))]
    e_out = [e_all[owner == i].mean(0) for i in range(len(clips))]
    seconds = time.perf_counter() - t0
    np.savez(out, probs=np.stack(p_out), penultimate=np.stack(e_out), labels=np.array(config.MTT_LABELS),
             seconds=seconds, spectrogram_seconds=t_spec, threads=1, variables_checked=checked)
    print(f"musicnn {model}: {len(clips)} clips in {seconds:.1f} s, {checked} variables checked against the checkpoint")


if __name__ == "__main__":
    main(*sys.argv[1:])
