"""The layer contracts stay complete: plugins may import no host module but bridge.api."""
from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_host_module_but_the_api_is_forbidden_to_plugins():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}
    forbidden = set(contracts["Plugins see only the plugin API of the host"]["forbidden_modules"])
    modules = {f"bridge.{p.stem}" for p in (ROOT / "bridge").glob("*.py")} - {"bridge.api", "bridge.__init__",
                                                                               "bridge.__main__"}
    assert forbidden == modules, f"add new host modules to the contract: {sorted(modules - forbidden)}"
