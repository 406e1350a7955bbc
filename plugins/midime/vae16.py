"""The 16-bar MusicVAE at run time (hierdec-mel_16bar's conductor decoder), through ONNX.

The folder (``onnx_models/musicvae-mel16bar``) holds ``encoder`` (256 tokens ->
mu, sigma), ``conductor`` (z -> one embedding per bar, [B, 16, E]),
``bar_init`` / ``bar_step`` (the bottom decoder, reset at every bar) and,
built from those two by ``cmt-bridge export-onnx``, ``bar_sample``: one whole
bar (16 autoregressive steps) in one call. A 16-bar decode is 1 + 16
onnxruntime calls; without ``bar_sample``, 1 + 16 * 17. Each bar starts from
the previous bar's last token, so a note held over the barline stays held.

Same verbs as the 2-bar :class:`~plugins.midime.vae.MusicVAE` (encode,
decode, sample, interpolate, ...) on tokens [B, 256]; MidiMe works on either.
Decoding can follow a form (:mod:`.form`): a repeated bar is the bar it
repeats, written again; ``sample`` draws forms from the training tunes'
(the manifest's ``forms``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bridge.api import InputError, ModelBundle, ModelError

from . import form as forms_
from . import melody
from .vae import MusicVAE, _sample_graph

MODEL_NAME = "musicvae-mel16bar"
BARS = 16
STEPS = BARS * melody.STEPS_PER_BAR  # 256
BAR_SAMPLE = "bar_sample"
EXPECT = {
    "encoder": ({"melody"}, {"mu", "sigma"}),
    "conductor": ({"z"}, {"bars"}),
    "bar_init": ({"c"}, {"state"}),
    "bar_step": ({"c", "prev_token", "state"}, {"logits", "state"}),
}
OPTIONAL = {BAR_SAMPLE: ({"c", "prev_token", "noise", "temperature"}, {"tokens"})}


class MusicVAE16(MusicVAE):
    """The 16-bar melody MusicVAE of a loaded :class:`ModelBundle`."""

    MODEL_NAME = MODEL_NAME
    EXPECT = EXPECT
    STEPS = STEPS

    def _graphs(self, bundle: ModelBundle) -> None:
        try:
            self.forms = forms_.Forms.from_manifest(bundle.manifest.get("forms"))
        except (InputError, TypeError, AttributeError) as e:
            raise ModelError(f"{bundle.name}: manifest forms are not valid ({e})") from None
        self._conductor = bundle.graph("conductor")
        self._init = bundle.graph("bar_init")
        self._step = bundle.graph("bar_step")
        self._sample = _sample_graph(bundle, BAR_SAMPLE, OPTIONAL)

    def conduct(self, z: np.ndarray) -> np.ndarray:
        """Latents [B, Z] -> the conductor's bar embeddings float32 [B, 16, E]."""
        return self._conductor.run(z=self._latents(z))["bars"].astype(np.float32)

    def draw_forms(self, n: int, spec: str | None, rng: np.random.Generator) -> np.ndarray | None:
        """``n`` forms for a ``form`` setting (``corpus``, ``free`` or 16 letters; see :mod:`.form`)."""
        return forms_.resolve(spec, n, self.forms, rng)

    def sample(self, n: int, temperature: float = 0.5, rng: np.random.Generator | None = None,
               form: str | None = forms_.CORPUS) -> np.ndarray:
        """``n`` new 16-bar pieces: z ~ N(0, I), each with a form drawn from the training tunes' (``form=
        "corpus"``), none (``"free"``) or the given letters -> tokens [n, 256]."""
        rng = rng if rng is not None else np.random.default_rng()
        z = rng.standard_normal((int(n), self.z_dim)).astype(np.float32)
        return self.decode(z, temperature, rng, form=self.draw_forms(int(n), form, rng))

    def decode_noise(self, z: np.ndarray, temperature: float, noise: np.ndarray | None,
                     graph: bool = True, form: np.ndarray | None = None) -> np.ndarray:
        """Token t = argmax(logits_t + temperature * noise[:, t]) over 16 bars (see the 2-bar model's docs):
        the conductor once, then each bar in one ``bar_sample`` call (or its 16 steps one by one).

        ``form``: int [B, 16], bar k's source bar (k itself, or an earlier bar it repeats): a repeated bar is
        its source bar written again, and the bars after it follow on from it (their first input is its last
        token); the model writes every bar that is new material."""
        z = self._latents(z)
        batch = z.shape[0]
        if noise is not None:
            noise = np.ascontiguousarray(noise, dtype=np.float32)
            if noise.shape != (batch, self.steps, melody.NUM_CLASSES):
                raise InputError(f"noise must be [{batch}, {self.steps}, {melody.NUM_CLASSES}], "
                                 f"got {list(noise.shape)}")
        out = np.empty((batch, self.steps), dtype=np.int64)
        if batch == 0:
            return out
        bars = self.conduct(z)
        per = melody.STEPS_PER_BAR
        if form is not None:
            form = np.asarray(form, dtype=np.int64)
            if form.ndim == 1:
                form = np.tile(form, (batch, 1))
            if form.shape != (batch, BARS) or (form < 0).any() or (form > np.arange(BARS)).any():
                raise InputError(f"form must be [{batch}, {BARS}] source bars, each at or before its bar")
        prev = np.full(batch, melody.START, dtype=np.int64)
        temp = np.float32(temperature)
        use_graph = graph and self._sample is not None
        zeros = np.zeros((batch, per, melody.NUM_CLASSES), dtype=np.float32) if use_graph and noise is None else None
        for bar in range(bars.shape[1]):
            c = np.ascontiguousarray(bars[:, bar])
            span = slice(bar * per, (bar + 1) * per)
            if use_graph:
                bar_noise = zeros if noise is None else np.ascontiguousarray(noise[:, span])
                out[:, span] = self._sample.run(c=c, prev_token=prev, noise=bar_noise,
                                                temperature=np.array([temperature], np.float32))["tokens"]
            else:
                state = self._init.run(c=c)["state"]
                for t in range(span.start, span.stop):
                    res = self._step.run(c=c, prev_token=prev, state=state)
                    logits, state = res["logits"], res["state"]
                    if noise is not None and temp != 0:
                        logits = logits + temp * noise[:, t]
                    prev = logits.argmax(axis=1).astype(np.int64)
                    out[:, t] = prev
            if form is not None:   # a repeated bar is the bar it repeats, written again
                again = np.flatnonzero(form[:, bar] != bar)
                for r in again:
                    src = form[r, bar] * per
                    out[r, span] = out[r, src:src + per]
            prev = out[:, span.stop - 1].copy()
        return out


def load_model(model: str | Path | None = None, provider: str | None = None, threads: int = 1) -> MusicVAE:
    """A MusicVAE of either length: a model name (``musicvae-mel2bar``, ``musicvae-mel16bar``), a model
    folder, or None (the 2-bar default); the class follows the manifest's ``vocab.steps``."""
    if model is None:
        return MusicVAE.load(provider=provider, threads=threads)
    text = str(model)
    named = {MusicVAE.MODEL_NAME: MusicVAE, MODEL_NAME: MusicVAE16}
    if text in named and not Path(text).exists():
        return named[text].load(provider=provider, threads=threads)
    folder = Path(text).expanduser()
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise ModelError(f"no MusicVAE model in {folder} (pass --model DIR with a manifest.json, or a model "
                         f"name: {', '.join(named)})")
    try:
        steps = json.loads(manifest.read_text())["vocab"]["steps"]
    except (ValueError, KeyError, TypeError):
        raise ModelError(f"{manifest}: not a MusicVAE manifest (no vocab.steps)") from None
    return (MusicVAE16 if steps == STEPS else MusicVAE).load(folder, provider=provider, threads=threads)
