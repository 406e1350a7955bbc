"""From a multi-part score (music21) to notes per CMT instrument class.

The mapping of part names to :data:`plugins.cmt.tokens.INSTRUMENTS` (documented in docs/cmt.md):

- chorales: Soprano -> lead, Alto and Tenor -> strings, Bass -> bass;
- quartets: Violin I -> lead, Violin II and Viola -> strings, Violoncello -> bass;
- piano / keyboard / organ / harpsichord -> piano, guitar / lute -> guitar,
  drums / percussion -> drums;
- anything else by its place in the score: the top part lead, the lowest part
  bass (when there are 3 parts or more), the rest strings.

music21 is only needed by whoever parses scores (data prep, tests); this module
does not import it.
"""
from __future__ import annotations

import logging
import re

from bridge.api import Note

log = logging.getLogger(__name__)

_KEYWORDS: tuple[tuple[str, str], ...] = (
    (r"sopran|^s\.?$|cantus|violin\s*(i|1)\b(?!i)|violino\s*(i|1)\b(?!i)|flute|oboe|melody", "lead"),
    (r"violon?cello|cello|contrabass|double bass|basso|^bass|^b\.?$|bassus", "bass"),
    (r"alt|^a\.?$|tenor|^t\.?$|violin|violino|viola|strings", "strings"),
    (r"piano|keyboard|organ|harpsichord|cembalo|clavier", "piano"),
    (r"guitar|lute", "guitar"),
    (r"drum|percussion", "drums"),
)


def instrument_for_part(name: str, index: int, count: int) -> str:
    """The instrument class of part ``index`` (0 = top) of ``count`` parts named ``name``."""
    key = (name or "").strip().lower()
    for pattern, ins in _KEYWORDS:
        if key and re.search(pattern, key):
            return ins
    if index == 0:
        return "lead"
    if count >= 3 and index == count - 1:
        return "bass"
    return "strings"


def measure_shift(part) -> float:
    """Beats to add so that the first full bar starts on a bar line (pickup bars)."""
    from_first = list(part.getElementsByClass("Measure"))
    if len(from_first) < 2:
        return 0.0
    first, second = from_first[0], from_first[1]
    bar = float(second.barDuration.quarterLength)
    pickup = float(second.offset) - float(first.offset)
    return (bar - pickup) % bar if 0 < pickup < bar else 0.0


def score_notes(score, max_parts: int = 8) -> tuple[dict[str, list[Note]], float]:
    """(notes per instrument class in beats, beats per bar) of a music21 score.

    Ties are merged, chords give one note per pitch, grace notes are dropped.
    The bar length is the first time signature's (4 when there is none).
    """
    from_parts = list(score.parts)[:max_parts] if hasattr(score, "parts") and len(score.parts) else [score]
    ts = list(score.recurse().getElementsByClass("TimeSignature"))
    beats_per_bar = float(ts[0].barDuration.quarterLength) if ts else 4.0
    shift = measure_shift(from_parts[0])
    out: dict[str, list[Note]] = {}
    for i, part in enumerate(from_parts):
        name = part.partName or part.id or ""
        ins = instrument_for_part(str(name), i, len(from_parts))
        for n in part.stripTies().flatten().notes:
            dur = float(n.duration.quarterLength)
            if dur <= 0:
                continue
            for p in n.pitches:
                out.setdefault(ins, []).append(
                    Note(int(p.midi), 90, float(n.offset) + shift, dur))
    return out, beats_per_bar
