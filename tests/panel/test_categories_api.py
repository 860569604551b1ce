"""Categories over HTTP on a real server process: the rules (GET, PUT, reset), usage by
category (JSON and CSV), clear errors for bad rules, and the Categories page's forms.
Spans arrive from a real websocket agent speaking protocol v2 in JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from officepulse.core.categories import DEFAULT_RULES
from tests.support.categories import DAY, by_category, finished_job, send_spans
from tests.support.servers import ServerProcess, start_server

pytest_plugins = ["tests.support.postgres"]


def request(
    server: ServerProcess, method: str, path: str, body: bytes | None = None
) -> tuple[int, Any]:
    req = urllib.request.Request(server.url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status = exc.code
        exc.close()
    return status, json.loads(raw)


LECTURES = {
    "rules": [
        {"category": "Work > Learning", "pattern": "lecture", "fields": ["title"]},
        {"category": "Fun > Video", "pattern": "youtube\\.com", "fields": ["url"]},
        {"category": "Work > Programming", "pattern": "^code$", "fields": ["app"]},
    ]
}


def test_rules_are_read_replaced_and_reset_and_usage_follows(server: ServerProcess) -> None:
    send_spans(server)
    rules = server.get("/api/v1/categories")["rules"]
    assert len(rules) == len(DEFAULT_RULES)
    assert rules[0]["category"] == "Work > Programming"
    assert by_category(server) == {
        "Work > Programming": [300.0, 30.0],
        "Entertainment > Video": [90.0, 0.0],
    }
    status, saved = request(server, "PUT", "/api/v1/categories", json.dumps(LECTURES).encode())
    # Accepted at once; history is re-categorised by the job the answer names.
    assert status == 202
    assert saved["job"]["state"] in ("running", "done")
    assert finished_job(server, saved["job"]["id"])["changed"] == 2
    assert [r["category"] for r in saved["rules"]] == [
        "Work > Learning",
        "Fun > Video",
        "Work > Programming",
    ]
    assert saved["rules"][0] == {
        "category": "Work > Learning",
        "pattern": "lecture",
        "fields": ["title"],
        "ignore_case": True,
    }
    listed = server.get("/api/v1/categories")
    assert listed["rules"] == saved["rules"]
    assert (listed["job"]["id"], listed["job"]["state"]) == (saved["job"]["id"], "done")
    assert by_category(server) == {
        "Work > Programming": [300.0, 30.0],
        "Fun > Video": [60.0, 0.0],
        "Work > Learning": [30.0, 0.0],
    }
    rows = server.get(f"/api/v1/usage?{DAY}&group_by=agent,app,category")["rows"]
    assert {(r["agent"], r["name"], r["app"], r["category"], r["seconds"]) for r in rows} == {
        ("b0b", "Bob", "Code", "Work > Programming", 300.0),
        ("b0b", "Bob", "firefox", "Fun > Video", 60.0),
        ("b0b", "Bob", "firefox", "Work > Learning", 30.0),
    }
    with urllib.request.urlopen(
        server.url + f"/api/v1/usage?{DAY}&group_by=app,category&format=csv", timeout=10
    ) as response:
        csv_text = response.read().decode()
    assert csv_text.splitlines() == [
        "app,app_name,category,seconds,idle_seconds,in_progress_seconds",
        "Code,Code,Work > Programming,300.0,30.0,0.0",
        "firefox,firefox,Fun > Video,60.0,0.0,0.0",
        "firefox,firefox,Work > Learning,30.0,0.0,0.0",
    ]
    # Per day too (panel/day_usage.py), by the same categories.
    days = "/api/v1/usage/days?from=2026-11-26&to=2026-11-28&group_by=category"
    rows = server.get(days)["rows"]
    assert {(r["day"], r["category"], r["seconds"], r["idle_seconds"]) for r in rows} == {
        ("2026-11-27", "Work > Programming", 300.0, 30.0),
        ("2026-11-27", "Fun > Video", 60.0, 0.0),
        ("2026-11-27", "Work > Learning", 30.0, 0.0),
    }
    with urllib.request.urlopen(server.url + days + "&format=csv", timeout=10) as response:
        assert response.read().decode().splitlines() == [
            "day,category,seconds,idle_seconds,in_progress_seconds",
            "2026-11-27,Fun > Video,60.0,0.0,0.0",
            "2026-11-27,Work > Learning,30.0,0.0,0.0",
            "2026-11-27,Work > Programming,300.0,30.0,0.0",
        ]
    status, reset = request(server, "POST", "/api/v1/categories/reset", b"")
    assert status == 202
    assert reset["job"]["id"] > saved["job"]["id"]
    assert finished_job(server, reset["job"]["id"])["changed"] == 2
    assert len(reset["rules"]) == len(DEFAULT_RULES)
    assert by_category(server) == {
        "Work > Programming": [300.0, 30.0],
        "Entertainment > Video": [90.0, 0.0],
    }


def test_on_postgresql_too_the_change_returns_and_its_job_runs(
    tmp_path: Path, postgres_url: str
) -> None:
    server = start_server(tmp_path, "--database", postgres_url, "--recategorize-batch", "2")
    try:
        send_spans(server)
        status, saved = request(server, "PUT", "/api/v1/categories", json.dumps(LECTURES).encode())
        assert status == 202
        job = finished_job(server, saved["job"]["id"])
        assert (job["state"], job["done"], job["total"], job["changed"]) == ("done", 4, 4, 2)
        assert by_category(server) == {
            "Work > Programming": [300.0, 30.0],
            "Fun > Video": [60.0, 0.0],
            "Work > Learning": [30.0, 0.0],
        }
        status, missing = server.get_status("/api/v1/categories/jobs/999")
        assert status == 404
        assert "no re-categorising job has the id '999'" in missing["error"]
    finally:
        server.stop()


def test_bad_rules_get_a_clear_error_and_change_nothing(server: ServerProcess) -> None:
    send_spans(server)
    before = server.get("/api/v1/categories")
    cases = {
        b"": "the body is empty",
        b"[1, 2]": "Expected `object`, got `array`",
        b'{"rules": [{"category": "A"}]}': "missing required field `pattern` - at `$.rules[0]`",
        b'{"rules": [{"category": "A", "pattern": "x", "fields": ["window"]}]}': (
            "at `$.rules[0].fields[0]`"
        ),
        b'{"rules": [{"category": "A", "pattern": "x"}, {"category": "B", "pattern": "("}]}': (
            "rule 1 ('B'): bad regular expression '('"
        ),
        b'{"rules": [{"category": "A > ", "pattern": "x"}]}': "rule 0 ('A > '): ",
        b'{"rules": [{"category": "A", "pattern": ""}]}': "rule 0 ('A'): the pattern is empty",
        b'{"rules": [], "extra": 1}': "unknown field `extra`",
        b"{not json": "bad rules: JSON is malformed",
    }
    for body, message in cases.items():
        status, out = request(server, "PUT", "/api/v1/categories", body)
        assert status == 400, body
        assert message in out["error"], (body, out)
    assert server.get("/api/v1/categories") == before
    status, out = server.get_status(f"/api/v1/usage?{DAY}&group_by=category,title")
    assert status == 400
    assert "cannot contain 'title'" in out["error"]


def post_form(server: ServerProcess, path: str, fields: list[tuple[str, str]]) -> str:
    body = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(server.url + path, data=body, timeout=30) as response:
        text: str = response.read().decode()
    return text


def test_the_page_edits_drafts_and_saves_through_forms(server: ServerProcess) -> None:
    send_spans(server)
    with urllib.request.urlopen(server.url + "/categories", timeout=10) as response:
        page = response.read().decode()
    assert 'href="/categories" aria-current="page"' in page
    assert 'name="pattern-0"' in page
    # The tree of the last 7 days (by the server's clock: the spans may be older).
    if "Last 7 days by category" in page:
        assert '<span class="category-name">Programming</span>' in page
    one = [("count", "1"), ("category-0", "Fun"), ("pattern-0", "fire"), ("app-0", "on")]
    draft = post_form(server, "/categories/edit", [*one, ("op", "add")])
    assert 'name="category-1" value=""' in draft
    assert "Not saved yet." in draft
    moved = post_form(
        server,
        "/categories/edit",
        [
            *one[1:],
            ("count", "2"),
            ("category-1", "Code"),
            ("pattern-1", "code"),
            ("app-1", "on"),
            ("op", "up-1"),
        ],
    )
    assert moved.index('value="Code"') < moved.index('value="Fun"')
    bad = post_form(server, "/categories/save", [("count", "1"), ("category-0", "X")])
    assert "Not saved: rule 1: &#39;fields&#39; is empty" in bad
    assert server.get("/api/v1/categories")["rules"][0]["category"] == "Work > Programming"
    saved = post_form(server, "/categories/save", one)
    assert "Saved. History is being re-categorised in the background." in saved
    # With the editor, the job's progress (swapped in out of band), which asks again.
    assert '<div id="category-job" class="category-job running" hx-swap-oob="true"' in saved
    job = server.get("/api/v1/categories")["job"]
    assert finished_job(server, job["id"])["changed"] == 4
    assert by_category(server) == {"Fun": [90.0, 0.0], "Uncategorized": [300.0, 30.0]}
    assert server.get("/api/v1/categories")["rules"] == [
        {"category": "Fun", "pattern": "fire", "fields": ["app"], "ignore_case": False}
    ]
    reset = post_form(server, "/categories/reset", [])
    assert "Saved. History is being re-categorised in the background." in reset
    job = server.get("/api/v1/categories")["job"]
    assert finished_job(server, job["id"])["changed"] == 4
    with urllib.request.urlopen(server.url + "/categories/job", timeout=10) as response:
        # Over: no more polling, and the page is told to read its lists again.
        assert response.headers["HX-Trigger"] == "category-job-done"
        progress = response.read().decode()
    assert "hx-trigger" not in progress
    assert "4 of 4 spans changed category" in progress
    status, _ = server.get_status("/api/v1/agents")
    assert status == 200
    try:
        post_form(server, "/categories/edit", [("count", "1"), ("op", "sideways-0")])
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        assert b"unknown edit 'sideways-0'" in exc.read()
        exc.close()
    else:
        raise AssertionError("a bad edit was accepted")
