"""Plugin CLI options built from a generator's Param table (bridge.options, re-exported by bridge.api)."""
from __future__ import annotations

import argparse

import pytest

from bridge.api import Generator, InputError, Param, add_param_options, param_values


class Toy(Generator):
    name = "toy"
    params = (Param("temperature", float, 0.5, 0.0, 2.0, doc="how wild"),
              Param("top_p", float, 0.95, 0.05, 1.0, doc="nucleus mass"),
              Param("mode", str, "up", choices=("up", "down")),
              Param("guide", bool, True, doc="keep to the grid"))

    def next_phrase(self):  # pragma: no cover - never played
        raise NotImplementedError


def parse(*argv):
    p = argparse.ArgumentParser()
    add_param_options(p, Toy, ("temperature", "top_p", "mode", "guide"))
    return p, p.parse_args(argv)


def test_options_carry_the_params_range_default_and_doc():
    p, args = parse()
    text = p.format_help()
    assert "--top-p" in text and "nucleus mass (0.05..1, default 0.95)" in text and "how wild (0..2" in text
    assert param_values(args, Toy, ("temperature", "top_p", "mode", "guide")) == \
        {"temperature": 0.5, "top_p": 0.95, "mode": "up", "guide": True}
    _, args = parse("--temperature", "1.5", "--mode", "down", "--no-guide")
    assert param_values(args, Toy.params, ("temperature", "mode", "guide")) == \
        {"temperature": 1.5, "mode": "down", "guide": False}


def test_out_of_range_names_the_flag_in_one_line():
    _, args = parse("--top-p", "3")
    with pytest.raises(InputError, match=r"^--top-p must be in range 0.05..1, got 3$"):
        param_values(args, Toy, ("top_p",))
