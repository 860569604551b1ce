"""The layout's import rules hold: the contracts in pyproject.toml's [tool.importlinter]
(no import cycles; the gateway and the panel never import the server process that wires
them; the agent imports nothing of the server side), each checked by import-linter itself,
and each package of officepulse imports alone, with every module in it, in a fresh
interpreter (an import cycle hidden inside functions fails there first)."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import officepulse
from tests.support import paths

ROOT = paths.ROOT
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> list[tuple[str, str]]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return [(c["id"], c["name"]) for c in config["contracts"]]


def _contract_params() -> list[object]:
    return [cid for cid, _ in _contracts()]


def test_every_contract_has_an_id() -> None:
    ids = [cid for cid, _ in _contracts()]
    assert len(ids) == len(set(ids)), ids
    assert {"acyclic", "server-wires", "agent-alone"} <= set(ids)


@pytest.mark.parametrize("contract", _contract_params())
def test_import_contract_is_kept(contract: str) -> None:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(PYPROJECT), "--contract", contract],
        cwd=ROOT / "src",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"contract {contract!r} broken:\n{done.stdout}{done.stderr}"
    assert " KEPT" in done.stdout, done.stdout


def _packages() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(officepulse.__path__) if m.ispkg)


IMPORT_ALL = """
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
"""


@pytest.mark.parametrize("package", _packages())
def test_package_imports_alone(package: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, f"officepulse.{package}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"officepulse.{package} does not import alone:\n{done.stderr}"


def test_the_packages_are_the_layouts() -> None:
    # A package added or renamed is imported alone above; the ones the layout names are here.
    assert {"agent", "bus", "cli", "core", "gateway", "panel", "protocol", "security"} <= set(
        _packages()
    )


def _first_name(call: ast.Call) -> str | None:
    arg = call.args[0] if call.args else None
    return arg.id if isinstance(arg, ast.Name) else None


def _calls(attribute: str, first: str | None = None) -> list[str]:
    """Where src/officepulse calls ``<something>.<attribute>(...)`` (with the name
    ``first`` as its first argument, when given)."""
    found = []
    for path in sorted((ROOT / "src" / "officepulse").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == attribute
                and (first is None or _first_name(node) == first)
            ):
                found.append(f"{path.relative_to(ROOT / 'src')}:{node.lineno}")
    return found


def test_one_owner_saves_agents_and_publishes_presence() -> None:
    # gateway/agents.py is the one owner of agent state; stores write their own rows.
    savers = {c.split(":")[0] for c in _calls("save_agent")}
    assert savers == {"officepulse/gateway/agents.py"}, _calls("save_agent")
    presence = _calls("publish", "PRESENCE_SUBJECT")
    assert {c.split(":")[0] for c in presence} == {"officepulse/gateway/agents.py"}, presence
