"""Documentation cannot drift: every setting is documented, and the protocol
document's example session runs against a real server as written."""

from __future__ import annotations

import json
import re

from websockets.sync.client import connect

from officepulse.agent.link import REFUSAL_CODES
from officepulse.panel.api.openapi import openapi
from officepulse.protocol.errors import CloseCode
from officepulse.settings import HELP, AgentSettings, ServerSettings, env_name
from tests.support import paths
from tests.support.servers import ServerProcess

ROOT = paths.ROOT


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for cls in (ServerSettings, AgentSettings):
        for name in cls.__struct_fields__:
            assert name in HELP, f"{name} has no --help text"
            assert f"| `{name}` |" in readme, f"{name} is not in the README's settings tables"
            if cls is ServerSettings or name in ("server_url", "name", "source"):
                assert env_name(name) in example or name in (
                    "assets_dir",
                    "browser_send_timeout",
                ), name


def test_the_example_session_in_the_protocol_document(server: ServerProcess) -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    block = doc.split("## A whole session in JSON (v1)", 1)[1].split("```", 2)[1]
    sent = [json.loads(line[2:]) for line in block.splitlines() if line.startswith("→ ")]
    promised = [json.loads(line[2:]) for line in block.splitlines() if line.startswith("← ")]
    received = []
    with connect(server.ws_url) as ws:
        for message in sent:
            ws.send(json.dumps(message))
            if message["type"] in ("hello", "ping"):
                received.append(json.loads(ws.recv(timeout=5)))
    assert [r["type"] for r in received] == [p["type"] for p in promised]
    welcome = received[0]
    assert set(welcome) == set(promised[0])
    assert {k: welcome[k] for k in ("v", "heartbeat_interval", "pulsetime", "max_frame_bytes")} == {
        k: promised[0][k] for k in ("v", "heartbeat_interval", "pulsetime", "max_frame_bytes")
    }
    stored = re.search(r"Stored: `(\w+)` from (\S+) to (\S+), `([\w-]+)` from (\S+) on", doc)
    assert stored is not None
    rows = server.get(
        "/api/v1/usage?start=2026-11-27T00:00:00Z&end=2026-11-28T00:00:00Z&group_by=app"
    )["rows"]
    # Chrome's span is open and has no length yet: no time to report.
    assert {r["app"]: r["seconds"] for r in rows} == {"Code": 14.5}


def test_the_v2_session_in_the_protocol_document(server: ServerProcess) -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    block = doc.split("## A v2 session in JSON", 1)[1].split("```", 2)[1]
    sent = [json.loads(line[2:]) for line in block.splitlines() if line.startswith("→ ")]
    promised = [json.loads(line[2:]) for line in block.splitlines() if line.startswith("← ")]
    received = []
    with connect(server.ws_url) as ws:
        for message in sent:
            ws.send(json.dumps(message))
            if message["type"] in ("hello", "spans"):
                received.append(json.loads(ws.recv(timeout=5)))
        listed = server.get("/api/v1/agents")["agents"]
    assert [r["type"] for r in received] == [p["type"] for p in promised]
    assert [r.get("seq") for r in received[1:]] == [p["seq"] for p in promised[1:]]
    assert set(received[0]) == set(promised[0])
    (bob,) = listed
    assert bob["current"]["app"] == "Google-chrome"  # presence, live
    assert bob["current"]["app_name"] == "Google Chrome"  # as app_names said
    rows = server.get(
        "/api/v1/usage?start=2026-11-27T00:00:00Z&end=2026-11-28T00:00:00Z&group_by=app"
    )["rows"]
    assert {r["app"]: r["seconds"] for r in rows} == {"Code": 300.0, "Google-chrome": 60.0}


def test_every_api_path_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for path, operations in openapi()["paths"].items():
        for method in operations:
            operation = f"{method.upper()} {path}"
            assert f"`{operation}" in readme, f"{operation} is not in the README's API section"


def test_every_close_code_is_in_the_protocol_document() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    table = doc.split("## Close codes", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        # A cell may list several codes: `a`, `b`.
        rows.setdefault(int(cells[0]), set()).update(c.strip(" `") for c in cells[1].split(","))
    for code in CloseCode:
        assert code.value in rows, f"close code {code.value} ({code.slug}) is not documented"
        if code is CloseCode.UNAUTHORIZED:
            # Never sent bare: each refusal has a finer code, documented under 4011.
            assert REFUSAL_CODES - {CloseCode.AGENT_BLOCKED.slug} <= rows[code.value]
        elif code.value >= 4000 and code is not CloseCode.REPLACED:
            assert code.slug in rows[code.value], (code, rows[code.value])


def modules_missing_from(doc: str) -> list[str]:
    """The modules of src/officepulse that docs/architecture.md does not name: by their
    path, or by their file name in a table row that names their folder."""
    rows = [line for line in doc.splitlines() if line.startswith("| ")]
    source = paths.ROOT / "src" / "officepulse"
    missing = []
    for module in sorted(source.rglob("*.py")):
        if module.name in ("__init__.py", "__main__.py"):
            continue
        path = module.relative_to(source).as_posix()
        folder = module.parent.relative_to(source).as_posix() + "/"
        if path in doc:
            continue
        if folder != "./" and any(f"`{folder}" in row and module.name in row for row in rows):
            continue
        missing.append(path)
    return missing


def test_the_architecture_document_names_every_module() -> None:
    doc = (paths.ROOT / "docs" / "architecture.md").read_text()
    assert modules_missing_from(doc) == []
    # The rule finds a module the document leaves out.
    assert "gateway/ingest.py" in modules_missing_from(doc.replace("gateway/ingest.py", "x"))
