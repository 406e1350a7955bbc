"""Offscreen rendering of the shader with moderngl: parameter vectors in, RGB frames out.

Headless: a standalone OpenGL context through EGL (Mesa's llvmpipe software
renderer when there is no GPU; Debian packages libegl1 + libgl1-mesa-dri),
then OSMesa if EGL is missing. ``LP_NUM_THREADS`` sets llvmpipe's threads.
Any failure to get a context is a one-line :class:`ModelError`.

    with ShaderRenderer(512) as r:
        rgb = r.render(vector)          # uint8 [512, 512, 3], row 0 at the top
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bridge.api import InputError, ModelError

from .shader import FRAGMENT, VERTEX, Uniforms

log = logging.getLogger(__name__)

BACKENDS = ("egl", "osmesa")
MIN_SIZE, MAX_SIZE = 16, 4096


def check_size(size: int) -> int:
    """A frame side in pixels (16..4096), or InputError."""
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InputError(f"--size must be an integer in {MIN_SIZE}..{MAX_SIZE} pixels, got {size!r}")
    return size


def standalone_context():
    """A headless moderngl context (EGL, then OSMesa); ModelError naming what is missing."""
    try:
        import moderngl
    except ImportError:
        raise ModelError("visuals need moderngl (pip install moderngl)") from None
    reasons = []
    for backend in BACKENDS:
        try:
            ctx = moderngl.create_standalone_context(backend=backend)
        except Exception as e:  # noqa: BLE001 - glcontext raises plain Exceptions per backend
            reasons.append(f"{backend}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}")
            continue
        log.info("OpenGL %s via %s (%s)", ctx.version_code, backend, ctx.info.get("GL_RENDERER"))
        return ctx
    raise ModelError("no headless OpenGL context (" + "; ".join(reasons)
                     + "); install libegl1 and libgl1-mesa-dri (Debian/Ubuntu)")


class ShaderRenderer:
    """Draws :data:`~plugins.visuals.shader.FRAGMENT` into a ``size`` x ``size`` framebuffer."""

    def __init__(self, size: int = 512, fragment: str = FRAGMENT) -> None:
        import moderngl

        self.size = check_size(size)
        self.ctx = standalone_context()
        try:
            self.program = self.ctx.program(vertex_shader=VERTEX, fragment_shader=fragment)
        except moderngl.Error as e:
            self.ctx.release()
            raise ModelError(f"the visuals shader does not compile: {str(e).strip().splitlines()[-1]}") from None
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], np.float32)
        self.vbo = self.ctx.buffer(quad.tobytes())
        self.vao = self.ctx.vertex_array(self.program, [(self.vbo, "2f", "pos")])
        self.fbo = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer((self.size, self.size), 3)])
        self.fbo.use()
        self._set("resolution", (float(self.size), float(self.size)))
        self._mode = moderngl.TRIANGLE_STRIP

    def _set(self, name: str, value) -> None:
        if name in self.program:           # the compiler drops uniforms a shader does not use
            self.program[name].value = value

    def render(self, vector: np.ndarray) -> np.ndarray:
        """One frame: uint8 [size, size, 3] RGB, top row first."""
        for name, value in Uniforms.of(vector).values.items():
            self._set(name, value)
        self.fbo.use()
        self.vao.render(self._mode)
        raw = self.fbo.read(components=3, alignment=1)
        return np.frombuffer(raw, np.uint8).reshape(self.size, self.size, 3)[::-1]

    def close(self) -> None:
        if self.ctx is not None:
            for obj in (self.vao, self.vbo, self.fbo, self.program):
                obj.release()
            self.ctx.release()
            self.ctx = None

    def __enter__(self) -> "ShaderRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_renderer(size: int, generator: str | Path | None = None, seed: int = 0):
    """The shader renderer, or the user's ONNX generator in folder ``generator``."""
    if generator is None:
        return ShaderRenderer(size)
    from .decoder import OnnxImageGenerator

    return OnnxImageGenerator(generator, size, seed)
