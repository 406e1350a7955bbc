"""cmt-bridge: play ONNX music models live, MIDI into a DAW and OSC into Max/Pd.

Plugin authors: everything a plugin may rely on is in :mod:`bridge.api`, whose
docstring is the plugin author's guide (a whole plugin in a dozen lines, what
the host does with it, how to ship it). The rest of ``bridge`` is the host's.
"""
from __future__ import annotations

from .hookspecs import hookimpl

__all__ = ["hookimpl"]
__version__ = "0.1.0"
