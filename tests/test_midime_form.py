"""Forms of 16-bar sections (plugins/midime/form.py): letters, parsing, counting, drawing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.api import ConfigError, InputError
from plugins.midime import form


def piece(letters: str, rng: np.random.Generator) -> np.ndarray:
    """A 256-token piece whose bars follow ``letters``: each new letter a random bar, repeats copied."""
    made: dict[str, np.ndarray] = {}
    bars = [made.setdefault(ch, rng.integers(2, 90, 16)) for ch in letters]
    return np.concatenate(bars)


def test_a_piece_gives_back_its_form_and_a_near_repeat_counts():
    rng = np.random.default_rng(0)
    p = piece("ABCDABCEABCDABCF", rng)
    assert form.letters(form.sources(p)) == "ABCDABCEABCDABCF"
    p[4 * 16 + 3] = 1                       # bar 5 now differs from bar 1 in one sixteenth: still a repeat
    assert form.letters(form.sources(p)) == "ABCDABCEABCDABCF"
    p[4 * 16 + 4:4 * 16 + 7] = 1            # four differ: new material
    assert form.letters(form.sources(p))[4] == "E"


def test_parse_reads_letters_with_spaces_and_refuses_anything_else():
    assert form.parse("aaba aaba aaba aabc").tolist() == [0, 0, 2, 0] * 3 + [0, 0, 2, 15]
    for bad in ("ABC", "ABCDABCEABCDABCZ", "ABCDABCEABCDABC1", ""):
        with pytest.raises(InputError, match="16 letters"):
            form.parse(bad)
    form.check("corpus"), form.check("free"), form.check("ABCDABCEABCDABCF")
    with pytest.raises(ConfigError, match="corpus"):
        form.check("sonata")


@given(st.lists(st.integers(0, 15), min_size=16, max_size=16))
def test_letters_and_parse_agree(picks):
    src = np.array([min(p, i) for i, p in enumerate(picks)])
    for _ in range(16):                    # a source is new material itself: follow each chain to its root
        src = src[src]
    text = form.letters(src)
    again = form.parse(text)
    assert form.letters(again) == text
    assert ((again == np.arange(16)) == (src == np.arange(16))).all()


def test_forms_are_counted_and_drawn_by_how_often_they_occur():
    rng = np.random.default_rng(1)
    windows = np.stack([piece("AAAAAAAAAAAAAAAA", rng)] * 3 + [piece("ABCDEFGHIJKLMNOP", rng)])
    counts = form.count(windows)
    assert counts == {"AAAAAAAAAAAAAAAA": 3, "ABCDEFGHIJKLMNOP": 1}
    forms = form.Forms(counts)
    assert forms.repeat_share() == pytest.approx(0.75)
    drawn = forms.draw(2000, rng)
    assert 0.70 < (drawn[:, 1] == 0).mean() < 0.80
    assert form.resolve("free", 3, forms, rng) is None
    assert form.resolve("corpus", 3, None, rng) is None        # a model folder from before forms
    assert form.resolve("ABABABABABABABAB", 2, forms, rng).shape == (2, 16)
    assert form.Forms.from_manifest({}) is None
