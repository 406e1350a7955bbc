"""The README's "train your own" block names every shipped model's export and every step of its recipe, as the
manifest records it (the config's ``reproduce_training``): a model shipped from a new config cannot leave it stale."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from export.families import families

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SHIPPED = [(family, name) for family in families().values() for name in family.shipped]


@pytest.mark.parametrize("family,name", SHIPPED, ids=[name for _, name in SHIPPED])
def test_readme_exports_each_shipped_model_with_its_recipe(family, name):
    assert re.search(rf"cmt-bridge export-onnx {re.escape(name)}(\s|$)", README), \
        f"README: no `cmt-bridge export-onnx {name}` line for the shipped {family.name} model"
    recipe = getattr(family.config_table()[name], "reproduce_training", None)
    if recipe is None:
        return
    missing = [step for step in recipe().split(" && ") if step not in README]
    assert not missing, f"README: the {name} recipe lacks {missing}"
