"""The tests mirror src/: a test of officepulse/gateway/ sits in tests/gateway/, of
officepulse/agent/sources/ in tests/agent/sources/, of a top-level module (errors.py) in
tests/ itself, and the tests of the whole project (docs, architecture, packaging) in
tests/project/. What tests share is in tests/support/, never imported from another test
file: a test file can then move, or go, without breaking one it does not know about."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import paths
from tests.support.scheduling import TOGETHER

SRC = paths.ROOT / "src" / "officepulse"
PROJECT = "project"  # tests of the whole checkout, not of one package
SUPPORT = "support"  # shared helpers: no tests in there


def misplaced(tests: Path, src: Path) -> list[str]:
    """Each test file, or test folder, of ``tests`` that does not mirror ``src``."""
    wrong = []
    for test in sorted(tests.rglob("test_*.py")):
        folder = test.parent.relative_to(tests)
        if folder.parts[:1] == (PROJECT,) and len(folder.parts) == 1:
            continue
        if folder.parts[:1] == (SUPPORT,):
            wrong.append(f"{test.relative_to(tests)}: tests/{SUPPORT}/ holds helpers only")
        elif folder == Path("."):
            module = test.stem.removeprefix("test_") + ".py"
            if not (src / module).is_file():
                wrong.append(f"{test.name}: no {src.name}/{module} (a package's: its folder)")
        elif not (src / folder / "__init__.py").is_file():
            wrong.append(f"{test.relative_to(tests)}: no package {src.name}/{folder.as_posix()}/")
    for folder in sorted({test.parent for test in tests.rglob("*.py")} - {tests}):
        inside = folder.relative_to(tests).parts
        if "data" in inside or "clients" in inside:
            continue  # not Python packages: data, and programs run by the system's Python
        if not (folder / "__init__.py").is_file():
            wrong.append(f"{folder.relative_to(tests)}/: no __init__.py")
    return wrong


def imports_of_test_files(tests: Path) -> list[str]:
    """Each import, in any file under ``tests``, of a test_*.py module of the tests."""
    found = []
    for source in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            ours = [name.split(".") for name in names if name.split(".")[0] == "tests"]
            if any(parts[-1].startswith("test_") for parts in ours):
                line = ast.get_source_segment(source.read_text(), node)
                found.append(f"{source.relative_to(tests)}:{node.lineno}: {line}")
    return found


def test_every_test_file_sits_where_src_puts_its_subject() -> None:
    assert misplaced(paths.TESTS, SRC) == []


def test_no_test_file_imports_another() -> None:
    assert imports_of_test_files(paths.TESTS) == []


def test_the_files_make_test_runs_together_are_there() -> None:
    """A file moved or renamed would leave its group, and run beside the others again."""
    assert [name for name in TOGETHER if not (paths.ROOT / name).is_file()] == []


def test_the_checks_find_a_misplaced_test_and_an_import_of_one(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "gateway").mkdir(parents=True)
    (src / "gateway" / "__init__.py").touch()
    (src / "errors.py").touch()
    tests = tmp_path / "tests"
    for folder in ("gateway", "nowhere", SUPPORT, PROJECT, "bare"):
        (tests / folder).mkdir(parents=True)
        if folder != "bare":
            (tests / folder / "__init__.py").touch()
    (tests / "gateway" / "test_limits.py").write_text("from tests.support.x import y\n")
    (tests / "test_errors.py").touch()
    (tests / PROJECT / "test_docs.py").touch()
    (tests / "test_ingest.py").write_text("from tests.gateway import test_limits\n")
    (tests / "nowhere" / "test_x.py").write_text("from tests.gateway.test_limits import z\n")
    (tests / SUPPORT / "test_helper.py").touch()
    (tests / "bare" / "helper.py").touch()

    assert misplaced(tests, src) == [
        "nowhere/test_x.py: no package src/nowhere/",
        "support/test_helper.py: tests/support/ holds helpers only",
        "test_ingest.py: no src/ingest.py (a package's: its folder)",
        "bare/: no __init__.py",
    ]
    assert imports_of_test_files(tests) == [
        "nowhere/test_x.py:1: from tests.gateway.test_limits import z",
        "test_ingest.py:1: from tests.gateway import test_limits",
    ]
