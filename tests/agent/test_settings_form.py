"""The settings page's form, without the page: what it shows, the config file it writes
(the person's comments kept, only what changed rewritten), what it refuses, and the
``[agent]`` table's place among the agent's settings. The page itself, in a real browser:
tests/agent/test_settings_page.py."""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from officepulse.agent.config import ConfigError, load_agent_settings, parse_config
from officepulse.agent.settings_form import Form, FormErrors, apply, form_of
from officepulse.agent.settings_page import Guard, PageContext, PageServer, write_file
from officepulse.settings import AgentSettings

PATH = Path("/home/ada/.config/officepulse/agent.toml")
MINE = """\
# Ada's agent. Keep this comment.
[agent]
name = "Ada"  # as the office shows me

[privacy]
# apps that never leave this computer
never_capture = [
    "KeePassXC",  # passwords
    "signal*",    # chats
]
redact = ['\\d{4}']  # card numbers
"""
EFFECTIVE = {"server_url": "ws://localhost:8080/agent", "name": "root", "idle_threshold": 180.0}


def shown(text: str = MINE) -> Form:
    return form_of(parse_config(text, PATH).file, EFFECTIVE)


def test_what_the_page_shows() -> None:
    form = shown()
    assert form.name == "Ada"  # from the file
    assert form.server_url == "ws://localhost:8080/agent"  # what the agent uses now
    assert form.idle_threshold == "180"
    assert form.never_capture == "KeePassXC\nsignal*"
    assert form.redact == "\\d{4}"
    assert form.enroll_token == ""  # never shown


def test_a_change_keeps_every_comment_and_every_untouched_line() -> None:
    before = shown()
    after = replace(
        before,
        name="Ada Lovelace",
        never_capture="KeePassXC\nZoom = nothing",  # signal* removed, Zoom added
        idle_threshold="300",
    )
    text, config = apply(MINE, after, before, PATH)
    assert (
        text
        == """\
# Ada's agent. Keep this comment.
[agent]
name = "Ada Lovelace"  # as the office shows me
idle_threshold = 300

[privacy]
# apps that never leave this computer
never_capture = [
    "KeePassXC",  # passwords
    {app = "Zoom", send = "nothing"},
]
redact = ['\\d{4}']  # card numbers
"""
    )
    assert [(p.glob, p.send) for p in config.rules.never_capture] == [
        ("KeePassXC", "private"),
        ("Zoom", "nothing"),
    ]
    assert config.file.agent.idle_threshold == 300


def test_nothing_changed_writes_the_file_as_it_was() -> None:
    assert apply(MINE, shown(), shown(), PATH)[0] == MINE


def test_a_new_file_gets_only_what_was_changed() -> None:
    empty = form_of(parse_config("", PATH).file, EFFECTIVE)
    form = replace(
        empty,
        server_url="https://office.example.com",
        enroll_token="opet_abc",
        redact="(?i)project \\w+\nit's",
        never_capture_send="nothing",
    )
    text, _ = apply("", form, empty, PATH)
    assert tomllib.loads(text) == {
        "agent": {"server_url": "https://office.example.com", "enroll_token": "opet_abc"},
        "privacy": {"redact": ["(?i)project \\w+", "it's"], "never_capture_send": "nothing"},
    }
    # A regular expression is written as a literal string when it can be: as typed.
    assert "'(?i)project \\w+'" in text


def test_emptied_lists_and_cleared_keys_leave_the_file() -> None:
    before = shown()
    text, _ = apply(MINE, replace(before, name="", never_capture="", redact=""), before, PATH)
    assert tomllib.loads(text) == {}
    assert text.startswith("# Ada's agent. Keep this comment.\n")


def test_an_empty_token_keeps_the_one_there_is() -> None:
    text = '[agent]\nenroll_token = "opet_old"\n'
    before = form_of(parse_config(text, PATH).file, EFFECTIVE)
    assert apply(text, before, before, PATH)[0] == text
    new, _ = apply(text, replace(before, enroll_token="opet_new"), before, PATH)
    assert tomllib.loads(new)["agent"]["enroll_token"] == "opet_new"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("redact", "ok\n(unclosed", "line 2 of the list: '(unclosed' is not a regular expression"),
        ("idle_threshold", "soon", "a number of seconds above 0 and at most 86400"),
        ("idle_threshold", "0", "a number of seconds above 0 and at most 86400"),
        ("server_url", "office", "the server's address, like https://office.example.com"),
        ("never_capture_send", "sometimes", "private or nothing"),
        ("never_introspect", "firefox\n*\n  ", None),  # "*" is a glob like any other
    ],
)
def test_what_cannot_be_saved_is_said_by_field(field: str, value: str, error: str | None) -> None:
    before = shown()
    form = replace(before, **{field: value})
    if error is None:
        apply(MINE, form, before, PATH)
        return
    with pytest.raises(FormErrors) as caught:
        apply(MINE, form, before, PATH)
    assert list(caught.value.errors) == [field]
    assert caught.value.errors[field].startswith(error)


def test_a_broken_file_is_not_overwritten() -> None:
    with pytest.raises(FormErrors) as caught:
        apply("[privacy\n", Form(), Form(), PATH)
    assert "is not valid TOML now" in caught.value.errors["file"]


def test_agent_toml_sits_under_flags_environment_and_env_file(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        '[agent]\nname = "From the file"\nidle_threshold = 300\n'
        'server_url = "https://office.example.com"\n'
    )
    env_file = tmp_path / ".env"
    env_file.write_text("OFFICEPULSE_IDLE_THRESHOLD=240\n")
    environ = {"OFFICEPULSE_AGENT_CONFIG": str(config), "OFFICEPULSE_NAME": "From the env"}
    settings = load_agent_settings({}, env_file, environ)
    assert (settings.name, settings.idle_threshold) == ("From the env", 240.0)
    assert settings.server_url == "https://office.example.com"  # only the file says it
    flagged = load_agent_settings({"server_url": "ws://127.0.0.1:9/agent"}, env_file, environ)
    assert flagged.server_url == "ws://127.0.0.1:9/agent"
    alone = load_agent_settings({}, None, {"OFFICEPULSE_AGENT_CONFIG": str(config)})
    assert (alone.name, alone.idle_threshold) == ("From the file", 300.0)
    assert AgentSettings().name != "From the file"


def test_a_bad_agent_table_names_the_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[agent]\nidle_threshold = 5\nnickname = 'x'\n")
    environ = {"OFFICEPULSE_AGENT_CONFIG": str(config)}
    with pytest.raises(ConfigError, match=r"agent.toml, line 3: agent.nickname: unknown key"):
        load_agent_settings({}, None, environ)
    config.write_text("[agent]\nidle_threshold = -5\n")
    with pytest.raises(ConfigError, match=r"agent.toml, line 2: agent.idle_threshold: expected"):
        load_agent_settings({}, None, environ)
    # The probe reports a bad file rather than stopping on it.
    assert load_agent_settings({}, None, environ, bad_file_ok=True).idle_threshold == 180.0


def test_a_new_config_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "agent.toml"
    write_file(path, '[agent]\nenroll_token = "opet_secret"\n')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o640)  # the person's own choice is kept
    write_file(path, "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["agent.toml"]  # no scratch left


async def test_the_pages_listen_on_loopback_only(tmp_path: Path) -> None:
    context = PageContext(AgentSettings, lambda key: None, tmp_path / "agent.toml")
    with pytest.raises(ValueError, match=r"on this computer only, not on 0\.0\.0\.0"):
        await PageServer(context).start(host="0.0.0.0")


def test_a_link_opens_one_session_once_and_not_after_it_expired() -> None:
    guard = Guard(lifetime=600)
    token = guard.new_token(now=1000)
    late = guard.new_token(now=1000)
    session = guard.spend(token, now=1599)
    assert session is not None
    assert guard.knows(session)
    assert guard.spend(token, now=1599) is None  # spent
    assert guard.spend(late, now=1600) is None  # expired
    assert guard.spend("made up", now=1000) is None
    assert not guard.knows("made up")
    assert not guard.knows(None)
