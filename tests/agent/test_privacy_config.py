"""The agent's config file: where it is found, what it may say, and errors that name
the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from officepulse.agent.config import ConfigError, config_path, load_config, parse_config
from officepulse.agent.privacy import AppPattern
from officepulse.settings import SettingsError

EXAMPLE = """\
# what never leaves this computer
[privacy]
never_capture = ["KeePassXC", "signal*", { app = "Slack", send = "nothing" }]
never_capture_send = "private"
never_introspect = ["firefox", "code"]
redact = ['\\b\\d{4}(?:[ -]?\\d{4}){3}\\b', '(?i)project \\w+']
redact_mask = "[redacted]"
"""


def test_the_documented_example(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(EXAMPLE)
    config = load_config(str(path), environ={})
    assert config.found
    assert config.path == path
    rules = config.rules
    assert [(p.glob, p.send) for p in rules.never_capture] == [
        ("KeePassXC", "private"),
        ("signal*", "private"),
        ("Slack", "nothing"),
    ]
    assert [p.glob for p in rules.never_introspect] == ["firefox", "code"]
    assert rules.redact_text("card 1234 5678 9012 3456, Project Falcon") == (
        "card [redacted], [redacted]"
    )


def test_never_capture_send_is_the_default_for_plain_entries() -> None:
    config = parse_config(
        '[privacy]\nnever_capture = ["a", {app = "b"}, {app = "c", send = "private"}]\n'
        'never_capture_send = "nothing"\n',
        Path("agent.toml"),
    )
    sends = [p.send for p in config.rules.never_capture]
    assert sends == ["nothing", "nothing", "private"]
    assert isinstance(config.rules.never_capture[0], AppPattern)


def test_where_the_file_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path(None, {}) == (tmp_path / "xdg" / "officepulse" / "agent.toml", False)
    env = {"OFFICEPULSE_AGENT_CONFIG": str(tmp_path / "env.toml")}
    assert config_path(None, env) == (tmp_path / "env.toml", True)
    assert config_path(str(tmp_path / "flag.toml"), env) == (tmp_path / "flag.toml", True)


def test_no_file_at_the_default_place_means_no_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = load_config(None, environ={})
    assert not config.found
    assert config.rules.empty


def test_a_file_named_explicitly_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"config file {missing} does not exist"):
        load_config(None, environ={"OFFICEPULSE_AGENT_CONFIG": str(missing)})


def test_a_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(b"[privacy]\nredact = ['\xff']\n")
    with pytest.raises(ConfigError, match=rf"{path}: not UTF-8 text"):
        load_config(str(path), environ={})


def test_a_folder_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"cannot read config file {tmp_path}"):
        load_config(str(tmp_path), environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[privacy]\nnever_capture = ["a",\n redact = 3\n',
            "agent.toml, line 3, column 2: not valid TOML: invalid value",
        ),
        (
            '\n[privacy]\nnever_capture = ["a", 3]\n',
            "agent.toml, line 3: privacy.never_capture[1]: expected an app name or a table",
        ),
        (
            '[privacy]\nnever_introspect = []\nnevr_capture = ["a"]\n',
            "agent.toml, line 3: privacy.nevr_capture: unknown key (known keys: never_capture,",
        ),
        ('[privcy]\nnever_capture = ["a"]\n', "agent.toml, line 1: privcy: unknown key"),
        (
            '[privacy]\nnever_capture = [\n  "a",\n  { app = "x", send = "nothng" },\n]\n',
            "agent.toml, line 2: privacy.never_capture[1].send: "
            "'nothng' is not one of: private, nothing",
        ),
        (
            '[privacy]\nnever_capture = [{ app = "x", sned = "nothing" }]\n',
            "line 2: privacy.never_capture[0].sned: unknown key (known keys: app, send)",
        ),
        (
            "# c\n[privacy]\nredact = ['ok', '(unclosed']\n",
            "agent.toml, line 3: privacy.redact[1]: '(unclosed' is not a regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        ("[privacy]\nredact = ['a*']\n", "line 2: privacy.redact[0]: 'a*' matches the empty"),
        ("privacy.redact = 5\n", "agent.toml, line 1: privacy.redact: expected a list, got an"),
        ("privacy = 3\n", "agent.toml, line 1: privacy: expected a table, got an integer"),
        (
            "[privacy]\nnever_capture_send = 'hide'\n",
            "line 2: privacy.never_capture_send: 'hide' is not one of: private, nothing",
        ),
        (
            "[privacy]\nnever_introspect = ['']\n",
            "line 2: privacy.never_introspect[0]: expected a string of length >= 1",
        ),
        (
            "[privacy]\nredact_mask = 5\n",
            "line 2: privacy.redact_mask: expected a string, got an integer",
        ),
    ],
)
def test_bad_files_name_the_file_the_line_and_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("/home/a/.config/officepulse/agent.toml"))
    assert str(caught.value).startswith("/home/a/.config/officepulse/")
    assert message in str(caught.value)


def test_a_config_error_is_a_settings_error() -> None:
    # The command line prints settings errors as one line and exits 2; so these too.
    assert issubclass(ConfigError, SettingsError)
