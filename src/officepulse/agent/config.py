"""The agent's config file: a TOML file holding the person's privacy lists, and the
few settings the settings page sets (``[agent]``).

Where it is: the path given by the ``agent_config`` setting, else the
environment variable ``OFFICEPULSE_AGENT_CONFIG``, else ``agent.toml`` in the
user config folder (``~/.config/officepulse/agent.toml`` on Linux, honouring
``XDG_CONFIG_HOME``; ``~/Library/Application Support/officepulse/agent.toml``
on macOS; ``%LOCALAPPDATA%\\officepulse\\agent.toml`` on Windows). A missing
file at the default place means no lists; a missing file that was named
explicitly is an error. Example::

    [privacy]
    never_capture = ["KeePassXC", "signal*", { app = "Slack", send = "nothing" }]
    never_capture_send = "private"   # or "nothing": what the plain entries send
    never_introspect = ["firefox", "code"]
    redact = ['\\b\\d{4}(?:[ -]?\\d{4}){3}\\b', '(?i)project \\w+']
    redact_mask = "…"
    domain_only = ["mail.google.com", "mybank.example"]   # the site's name, not its pages

    [agent]
    server_url = "https://office.example.com"
    enroll_token = "…"        # from the team lead; exchanged once for a credential
    name = "Ada"
    idle_threshold = 300      # seconds

``[agent]`` holds settings (settings.py): a flag, the environment and ``.env`` each win
over it, and it wins over the defaults. The settings page (settings_page.py) writes this
file, keeping the person's own comments.

A bad file stops the agent with a ``ConfigError`` naming the file, the line
and the key, and what is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from platformdirs import user_config_dir

from officepulse.agent.privacy import DEFAULT_MASK, NO_RULES, PrivacyRules, RuleError
from officepulse.settings import AgentSettings, PositiveSeconds, SettingsError, load

__all__ = [
    "AgentConfig",
    "AgentSection",
    "ConfigError",
    "ConfigFile",
    "config_path",
    "load_agent_settings",
    "load_config",
    "parse_config",
]

ENV_VAR = "OFFICEPULSE_AGENT_CONFIG"
FILE_NAME = "agent.toml"

AppGlob = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
SendChoice = Literal["private", "nothing"]


class NeverCapture(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An entry of ``never_capture`` written as a table, with its own choice."""

    app: AppGlob
    send: SendChoice | None = None


class PrivacyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    never_capture: tuple[AppGlob | NeverCapture, ...] = ()
    never_capture_send: SendChoice = "private"
    never_introspect: tuple[AppGlob, ...] = ()
    redact: tuple[Annotated[str, msgspec.Meta(min_length=1)], ...] = ()
    redact_mask: Annotated[str, msgspec.Meta(max_length=64)] = DEFAULT_MASK
    domain_only: tuple[Annotated[str, msgspec.Meta(min_length=1, max_length=253)], ...] = ()


NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class AgentSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[agent]``: settings under the flags, the environment and ``.env``; None: not set."""

    server_url: NonEmpty | None = None
    enroll_token: NonEmpty | None = None
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    idle_threshold: PositiveSeconds | None = None


class ConfigFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The file's contents. Other sections may come; unknown ones are refused."""

    agent: AgentSection = AgentSection()
    privacy: PrivacyConfig = PrivacyConfig()


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """What the file says, compiled, and where it came from (``found`` is False
    when there was no file and these are the defaults)."""

    path: Path
    found: bool
    file: ConfigFile
    rules: PrivacyRules


class ConfigError(SettingsError):
    """The config file cannot be used; the message names the file, line and key."""


def default_config_path() -> Path:
    return Path(user_config_dir("officepulse", appauthor=False)) / FILE_NAME


def config_path(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Path, bool]:
    """The config file to read, and whether it was named explicitly (then it must exist)."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser(), True
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser(), True
    return default_config_path(), False


def load_config(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> AgentConfig:
    """Read and check the config file (see the module docstring for where it is)."""
    path, named = config_path(explicit, environ)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named:
            raise ConfigError(f"config file {path} does not exist") from None
        return AgentConfig(path, False, ConfigFile(), NO_RULES)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> AgentConfig:
    """Check ``text`` as the contents of the config file at ``path``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}{_toml_reason(exc)}") from exc
    try:
        file = msgspec.convert(data, ConfigFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(_validation_message(exc, text, path)) from exc
    try:
        rules = _rules(file.privacy)
    except RuleError as exc:
        index = f"[{exc.index}]" if exc.index is not None else ""
        where = _where(text, ["privacy", exc.field])
        raise ConfigError(f"{path}{where}: privacy.{exc.field}{index}: {exc.message}") from exc
    return AgentConfig(path, True, file, rules)


def load_agent_settings(
    flags: Mapping[str, object] | None = None,
    env_file: str | Path | None = ".env",
    environ: Mapping[str, str] | None = None,
    *,
    bad_file_ok: bool = False,
) -> AgentSettings:
    """The agent's settings: flags, the environment, ``env_file``, then the config file's
    ``[agent]`` (found through the ``agent_config`` those give), then the defaults. A bad
    config file raises ``ConfigError``, unless ``bad_file_ok`` (the probe reports it)."""
    settings = load(AgentSettings, flags, environ, env_file)
    try:
        config = load_config(settings.agent_config, environ)
    except ConfigError:
        if bad_file_ok:
            return settings
        raise
    section = msgspec.structs.asdict(config.file.agent)
    given = {k: (v, f"[agent] in {config.path}") for k, v in section.items() if v is not None}
    if not given:
        return settings
    return load(AgentSettings, flags, environ, env_file, base=given)


def _rules(privacy: PrivacyConfig) -> PrivacyRules:
    capture = [
        (entry, privacy.never_capture_send)
        if isinstance(entry, str)
        else (entry.app, entry.send or privacy.never_capture_send)
        for entry in privacy.never_capture
    ]
    return PrivacyRules.build(
        never_capture=capture,
        never_introspect=privacy.never_introspect,
        redact=privacy.redact,
        mask=privacy.redact_mask,
        domain_only=privacy.domain_only,
    )


def _toml_reason(exc: tomllib.TOMLDecodeError) -> str:
    # tomllib says "Invalid value (at line 3, column 17)": put the place first.
    text = str(exc)
    found = re.search(r"^(.*) \(at (line \d+, column \d+|end of document)\)$", text)
    if found is None:
        return f": not valid TOML: {text}"
    return f", {found.group(2)}: not valid TOML: {found.group(1)[:1].lower()}{found.group(1)[1:]}"


_PATH_PART = re.compile(r"\.(\w+)|\[(\d+)\]")


def _validation_message(exc: msgspec.ValidationError, text: str, path: Path) -> str:
    """msgspec says "Expected `str`, got `int` - at `$.privacy.redact[0]`": name
    the key the way the file does, and find its line."""
    message = str(exc)
    reason, _, at = message.rpartition(" - at ")
    if not reason:
        reason, at = message, "`$`"
    keys: list[str] = []
    shown = ""
    for name, index in _PATH_PART.findall(at.strip("`").removeprefix("$")):
        if name:
            keys.append(name)
            shown += ("." if shown else "") + name
        else:
            shown += f"[{index}]"
    unknown = re.match(r"Object contains unknown field `(.+)`$", reason)
    if unknown is not None:
        keys.append(unknown.group(1))
        shown += ("." if shown else "") + unknown.group(1)
        reason = "unknown key" + _hint(keys[:-1])
    elif (enum := re.match(r"Invalid enum value (.+)$", reason)) is not None:
        reason = f"{enum.group(1)} is not one of: private, nothing"
    else:
        reason = _TYPE_NAMES.sub(lambda m: _TOML_TYPES.get(m.group(1), m.group(0)), reason)
        reason = reason[:1].lower() + reason[1:]
    return f"{path}{_where(text, keys)}: {shown or 'the file'}: {reason}"


_TYPE_NAMES = re.compile(r"`([^`]+)`")
_TOML_TYPES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "a table",
    "str | object": "an app name or a table like { app = ..., send = ... }",
    "datetime": "a date-time",
    "date": "a date",
    "time": "a time",
}


def _hint(parent: list[str]) -> str:
    fields: tuple[str, ...] = ()
    if parent == []:
        fields = ConfigFile.__struct_fields__
    elif parent == ["agent"]:
        fields = AgentSection.__struct_fields__
    elif parent == ["privacy"]:
        fields = PrivacyConfig.__struct_fields__
    elif parent[:2] == ["privacy", "never_capture"]:
        fields = NeverCapture.__struct_fields__
    if not fields:
        return ""
    return f" (known keys: {', '.join(fields)})"


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[\w-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[\w-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split_key(key: str) -> list[str]:
    return [
        part.strip().strip("\"'")
        for part in re.split(r"\.(?=(?:[^\"']|\"[^\"]*\"|'[^']*')*$)", key)
    ]


def _where(text: str, keys: list[str]) -> str:
    """ ", line N" for the line that sets ``keys`` (a table header or a key), or "".

    tomllib keeps no positions, so this reads the lines again: good enough for
    the tables and keys a config file has, and silent when it cannot tell."""
    if not keys:
        return ""
    table: list[str] = []
    best: int | None = None
    best_len = 0
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header is not None:
            table = _split_key(header.group(1))
            found = table
        else:
            key = _KEY.match(line)
            if key is None:
                continue
            found = table + _split_key(key.group(1))
        # The longest prefix of the path that this line sets; the first such line wins.
        common = 0
        while common < min(len(found), len(keys)) and found[common] == keys[common]:
            common += 1
        if common == len(found) and common > best_len:
            best, best_len = number, common
            if common == len(keys):
                break
    return f", line {best}" if best is not None else ""
