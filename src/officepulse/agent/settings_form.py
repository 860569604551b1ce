"""The settings page's form, pure: what it shows from the config file and the settings,
and the config file's new text once the person's changes are made (with tomlkit, so the
person's comments, order and layout stay as they were).

Only what the person changed is written: a key whose field still shows what it showed is
left alone, comments and all, and an item kept in a list keeps its comment. Lists are one
entry a line; a never-capture entry that chooses what it sends is written ``Slack =
nothing`` (or ``= private``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.items
from tomlkit.exceptions import TOMLKitError

from officepulse.agent.config import AgentConfig, ConfigError, ConfigFile, parse_config
from officepulse.agent.privacy import DEFAULT_MASK
from officepulse.agent.transport import agent_url, check_server_url
from officepulse.errors import FormError

__all__ = ["AGENT_FIELDS", "Form", "FormErrors", "apply", "form_of"]

# The [agent] keys the page sets; the rest of the page is [privacy].
AGENT_FIELDS = ("server_url", "enroll_token", "name", "idle_threshold")
LIST_FIELDS = ("never_capture", "never_introspect", "redact")
_SEND = re.compile(r"^(?P<app>.*?)\s*=\s*(?P<send>private|nothing)\s*$")


@dataclass(frozen=True, slots=True)
class Form:
    """The page's fields as text, the way they are shown and sent back. ``enroll_token``
    is never shown: empty means "keep the one there is"."""

    server_url: str = ""
    enroll_token: str = ""
    name: str = ""
    idle_threshold: str = ""
    never_capture: str = ""
    never_capture_send: str = "private"
    never_introspect: str = ""
    redact: str = ""
    redact_mask: str = DEFAULT_MASK

    @classmethod
    def of(cls, data: Mapping[str, str]) -> Form:
        """The form as posted; missing fields are empty, unknown ones ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: str(v) for k, v in data.items() if k in names})


class FormErrors(FormError):
    """Fields that cannot be saved: ``errors`` maps each to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def form_of(file: ConfigFile, effective: Mapping[str, Any]) -> Form:
    """What the page shows: the file's values, and for an ``[agent]`` key the file does
    not set, the value the agent uses now (``effective``: its settings)."""
    privacy = file.privacy
    capture = [
        entry
        if isinstance(entry, str)
        else (f"{entry.app} = {entry.send}" if entry.send else entry.app)
        for entry in privacy.never_capture
    ]
    agent = file.agent
    idle = (
        agent.idle_threshold
        if agent.idle_threshold is not None
        else effective.get("idle_threshold")
    )
    return Form(
        server_url=agent.server_url or str(effective.get("server_url") or ""),
        name=agent.name or str(effective.get("name") or ""),
        idle_threshold=_number(float(idle)) if idle is not None else "",
        never_capture="\n".join(capture),
        never_capture_send=privacy.never_capture_send,
        never_introspect="\n".join(privacy.never_introspect),
        redact="\n".join(privacy.redact),
        redact_mask=privacy.redact_mask,
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _capture_item(line: str) -> str | dict[str, str]:
    found = _SEND.match(line)
    if found is None or not found.group("app"):
        return line
    return {"app": found.group("app"), "send": found.group("send")}


def _toml_string(text: str) -> tomlkit.items.String:
    # A regular expression reads best as a literal string: no backslash doubled.
    literal = "'" not in text and not any(c in text for c in "\n\r") and text.isprintable()
    return tomlkit.string(text, literal=literal)


def _item(value: str | dict[str, str]) -> Any:
    if isinstance(value, str):
        return _toml_string(value)
    table = tomlkit.inline_table()
    table.update(value)
    return table


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def _edit_list(table: Any, key: str, new: list[Any]) -> None:
    """Make ``table[key]`` hold ``new``: items kept keep their place and comment when the
    order allows, else the list is written anew."""
    old = table.get(key)
    if not new:
        if key in table:
            del table[key]
        return
    if isinstance(old, tomlkit.items.Array):
        kept = [_plain(v) for v in old if _plain(v) in new]
        if kept == [v for v in new if v in kept]:
            for index in reversed(range(len(old))):
                if _plain(old[index]) not in new:
                    del old[index]
            for value in new:
                if value not in kept:
                    old.append(_item(value))
            return
    array = tomlkit.array()
    array.extend(_item(v) for v in new)
    if len(new) > 1:
        array.multiline(True)
    table[key] = array


def _section(doc: tomlkit.TOMLDocument, name: str) -> Any:
    if name not in doc:
        doc.add(name, tomlkit.table())
    return doc[name]


def _check(form: Form) -> dict[str, str]:
    """What can be told from the fields alone, each said the way the page shows it."""
    errors: dict[str, str] = {}
    if form.server_url.strip():
        url, _ = agent_url(form.server_url.strip())
        # Any server may be named here; the agent says at start if plain ws:// is refused.
        refusal = check_server_url(url, allow_insecure=True)
        if refusal is not None:
            errors["server_url"] = (
                "the server's address, like https://office.example.com or ws://localhost:8080/agent"
            )
    if form.idle_threshold.strip():
        try:
            idle = float(form.idle_threshold)
        except ValueError:
            idle = math.nan
        if not 0 < idle <= 86_400:
            errors["idle_threshold"] = "a number of seconds above 0 and at most 86400"
    if form.never_capture_send not in ("private", "nothing"):
        errors["never_capture_send"] = "private or nothing"
    if len(form.redact_mask) > 64:
        errors["redact_mask"] = "at most 64 characters"
    return errors


def _edit(doc: tomlkit.TOMLDocument, form: Form, shown: Form) -> None:
    agent = doc.get("agent")
    for key in AGENT_FIELDS:
        new, before = getattr(form, key).strip(), getattr(shown, key).strip()
        if key == "enroll_token" and not new:
            continue  # empty: keep the token there is
        if new == before and (key != "enroll_token"):
            continue
        if not new:
            if agent is not None and key in agent:
                del agent[key]
            continue
        agent = _section(doc, "agent")
        if key == "idle_threshold":
            number = float(new)
            agent[key] = int(number) if number == int(number) else number
        else:
            agent[key] = new
    if agent is not None and not agent and "agent" in doc:
        del doc["agent"]
    privacy = doc.get("privacy")
    for key in LIST_FIELDS:
        new_lines, old_lines = _lines(getattr(form, key)), _lines(getattr(shown, key))
        if new_lines == old_lines:
            continue
        items = [_capture_item(x) for x in new_lines] if key == "never_capture" else new_lines
        if privacy is None and not items:
            continue
        privacy = _section(doc, "privacy")
        _edit_list(privacy, key, items)
    for key, default in (("never_capture_send", "private"), ("redact_mask", DEFAULT_MASK)):
        new = getattr(form, key)
        if new == getattr(shown, key):
            continue
        privacy = _section(doc, "privacy")
        if new == default:
            if key in privacy:
                del privacy[key]
        else:
            privacy[key] = new
    if privacy is not None and not privacy and "privacy" in doc:
        del doc["privacy"]


def apply(text: str, form: Form, shown: Form, path: Path) -> tuple[str, AgentConfig]:
    """The config file's text with the changes from ``shown`` to ``form`` made, and what it
    then says (checked as the agent will read it). ``FormErrors`` names each field that
    cannot be saved; nothing is written by this function."""
    errors = _check(form)
    if errors:
        raise FormErrors(errors)
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise FormErrors({"file": f"{path} is not valid TOML now ({exc}); fix it first"}) from exc
    _edit(doc, form, shown)
    new_text = tomlkit.dumps(doc)
    try:
        config = parse_config(new_text, path)
    except ConfigError as exc:
        raise FormErrors({_field_of(str(exc)): _after_key(str(exc))}) from exc
    return new_text, config


def _field_of(message: str) -> str:
    """Which field a ConfigError is about ("privacy.redact[1]: bad ..." → "redact")."""
    for name in (*AGENT_FIELDS, *LIST_FIELDS, "never_capture_send", "redact_mask"):
        if re.search(rf"\b{name}\b", message):
            return name
    return "file"


def _after_key(message: str) -> str:
    # "…agent.toml, line 3: privacy.redact[1]: bad regular expression …": what follows the key.
    found = re.search(r": (?:agent|privacy)\.\w+(\[(\d+)\])?(?:\.\w+)?: (.*)$", message, re.S)
    if found is None:
        return message
    index = f"line {int(found.group(2)) + 1} of the list: " if found.group(2) else ""
    return index + found.group(3)
