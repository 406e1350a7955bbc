"""The .amxd container of a Max for Live device: chunks around the patcher JSON, as Live writes it.

Layout (an unfrozen, unencrypted device), every chunk a 4-byte ASCII tag, a
little-endian uint32 size (of the data after it), then the data, no padding:

    ampf  4  device type: b"mmmm" MIDI effect, b"aaaa" audio effect, b"iiii" instrument
    meta  4  01 00 00 00
    ptch  N  the patcher JSON, UTF-8, ending in one NUL byte

Sources: Ableton's own reader, github.com/Ableton/maxdevtools ``maxdiff/amxd_textconv.py``
(the chunk loop: tag, little-endian size, data; ``ampf`` must be 4 bytes naming the
device type; a ``ptch`` that starts with ``mx@c`` is a frozen device, otherwise JSON
with an optional trailing NUL), and that repository's ``maxdiff/tests/test_files/Test.amxd``,
a MIDI effect saved by Live: ``ampf`` 4 ``mmmm``, ``meta`` 4 ``01 00 00 00``, ``ptch``
36643 bytes of JSON ending ``"\\n}\\n\\x00"``, and ``"project": {"amxdtype": 1835887981}``
(the device type's four bytes as a big-endian int) inside the patcher. A device this
module writes is never frozen: Max reads the JS file next to it (see docs/max.md).
"""
from __future__ import annotations

import json
import struct

MIDI_EFFECT, AUDIO_EFFECT, INSTRUMENT = b"mmmm", b"aaaa", b"iiii"
DEVICE_TYPES = (MIDI_EFFECT, AUDIO_EFFECT, INSTRUMENT)
META = struct.pack("<I", 1)


def amxdtype(kind: bytes) -> int:
    """The ``project.amxdtype`` number Live writes for a device type (1835887981 for a MIDI effect)."""
    return int.from_bytes(kind, "big")


def chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data


def pack(patcher: dict, kind: bytes = MIDI_EFFECT) -> bytes:
    """The bytes of an .amxd holding ``patcher`` (a ``{"patcher": {...}}`` dict)."""
    if kind not in DEVICE_TYPES:
        raise ValueError(f"device type must be one of {DEVICE_TYPES}, got {kind!r}")
    text = json.dumps(patcher, indent="\t", ensure_ascii=False) + "\n"
    return chunk(b"ampf", kind) + chunk(b"meta", META) + chunk(b"ptch", text.encode("utf-8") + b"\0")


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(tag, data) of every chunk; ValueError when a size runs past the end or bytes are left over."""
    out, at = [], 0
    while at < len(data):
        if at + 8 > len(data):
            raise ValueError(f"{len(data) - at} stray byte(s) at offset {at}")
        tag, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        if at + 8 + size > len(data):
            raise ValueError(f"chunk {tag!r} at offset {at} says {size} bytes, only {len(data) - at - 8} remain")
        out.append((tag, data[at + 8:at + 8 + size]))
        at += 8 + size
    return out


def unpack(data: bytes) -> tuple[bytes, dict]:
    """(device type, patcher dict) of an unfrozen .amxd; ValueError for anything else."""
    found = chunks(data)
    tags = [t for t, _ in found]
    if tags[:1] != [b"ampf"] or b"ptch" not in tags:
        raise ValueError(f"not a Max for Live device: chunks {tags}")
    kind = found[0][1]
    if kind not in DEVICE_TYPES:
        raise ValueError(f"unknown device type {kind!r}")
    body = dict(found)[b"ptch"]
    if body[:4] == b"mx@c":
        raise ValueError("a frozen device (mx@c archive): open it in Max to read it")
    if body.endswith(b"\0"):
        body = body[:-1]
    return kind, json.loads(body.decode("utf-8"))
