"""Settings: read once at start-up into one typed object per process.

Each setting has one name, used three ways: ``port`` is ``--port`` on the command
line, ``OFFICEPULSE_PORT`` in the environment and in ``.env``. Flags beat the
environment, which beats ``.env``, which beats the defaults. A bad value stops
start-up with a message that names the key and where it came from.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import msgspec.inspect
from dotenv import dotenv_values
from platformdirs import user_data_dir

PREFIX = "OFFICEPULSE_"

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
Rate = Annotated[float, msgspec.Meta(gt=0)]
Burst = Annotated[int, msgspec.Meta(ge=1)]
Count = Annotated[int, msgspec.Meta(ge=1)]


def _default_database() -> str:
    return str(Path(user_data_dir("officepulse", appauthor=False)) / "officepulse.sqlite3")


def _default_state_dir() -> str:
    return user_data_dir("officepulse-agent", appauthor=False)


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    database: str = msgspec.field(default_factory=_default_database)
    assets_dir: str | None = None
    heartbeat_interval: PositiveSeconds = 10.0
    pulsetime: PositiveSeconds = 25.0
    max_frame_bytes: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    browser_send_timeout: PositiveSeconds = 5.0
    # How often an open dashboard's session is read again (ends made by another process).
    browser_session_recheck: PositiveSeconds = 30.0
    # None: open when listening on loopback only (embedded, one desktop), else required.
    agent_auth: Literal["open", "required"] | None = None
    # 0 keeps raw spans for ever (as ActivityWatch does); rollups are always kept.
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=36_500)] = 0
    tls_cert: str | None = None
    tls_key: str | None = None
    dev_tls: bool = False
    allowed_hosts: list[Annotated[str, msgspec.Meta(min_length=1)]] | None = None
    # Limits. The defaults only stop floods: a benchmark's agents send thousands of
    # messages a second each, a real one a few (README, "Putting it on the internet").
    rate_per_agent: Rate = 20_000.0
    burst_per_agent: Burst = 40_000
    rate_per_ip: Rate = 200_000.0
    burst_per_ip: Burst = 400_000
    handshake_timeout: PositiveSeconds = 10.0
    max_connections: Count = 10_000
    max_connections_per_ip: Count = 5_000
    max_browsers: Count = 2_000
    max_browsers_per_ip: Count = 50
    # Sockets (server/sockets.py): slow or idle connections end; None: from the fd limit.
    header_timeout: PositiveSeconds = 10.0
    max_sockets: Count | None = None
    trusted_proxies: list[Annotated[str, msgspec.Meta(min_length=1)]] | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def __post_init__(self) -> None:
        for entry in self.trusted_proxies or ():
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                # The path suffix lets load() name the setting and where it came from.
                raise ValueError(
                    f"{entry!r} is not an IP address or network (such as 10.0.0.5 or "
                    "10.0.0.0/24) - at `$.trusted_proxies`"
                ) from None

    def agent_auth_mode(self) -> Literal["open", "required"]:
        if self.agent_auth is not None:
            return self.agent_auth
        return "open" if is_loopback(self.host) else "required"


def is_loopback(host: str) -> bool:
    """A name or address that can only mean this computer (no DNS asked: a
    resolver could say anything)."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AgentSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    server_url: str = "ws://localhost:8080/agent"
    name: str = msgspec.field(default_factory=getpass.getuser)
    agent_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    state_dir: str = msgspec.field(default_factory=_default_state_dir)
    source: Literal[
        "auto",
        "x11",
        "sway",
        "hyprland",
        "kde",
        "gnome",
        "focused-window",
        "gnome-eval",
        "macos",
        "windows",
        "scripted",
        "none",
    ] = "auto"
    timeline: str | None = None
    speed: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    start: datetime | None = None
    loop: bool = False
    poll_interval: PositiveSeconds = 1.0
    idle_threshold: PositiveSeconds = 180.0
    encoding: Literal["msgpack", "json"] = "msgpack"
    compress: bool = True
    agent_config: str | None = None
    journal_budget_mb: Annotated[float, msgspec.Meta(gt=0)] = 64.0
    backfill_rate: Annotated[float, msgspec.Meta(gt=0)] = 5000.0
    ack_timeout: PositiveSeconds = 30.0
    ca_file: str | None = None
    allow_insecure: bool = False
    enroll_token: str | None = None
    credential_store: Literal["auto", "keyring", "file"] = "auto"
    refused_retry: PositiveSeconds = 300.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"


HELP: dict[str, str] = {
    "host": "address to listen on (0.0.0.0 for every interface)",
    "port": "port to listen on",
    "database": "SQLite file, or a postgresql:// URL, that keeps agents and their activity",
    "assets_dir": "folder holding node_modules/ with htmx (default: found near the code)",
    "heartbeat_interval": "seconds between heartbeats agents are asked to keep",
    "pulsetime": "heartbeats of the same activity closer than this many seconds merge",
    "max_frame_bytes": "largest websocket message accepted from an agent",
    "browser_send_timeout": "seconds a dashboard may lag before it is disconnected",
    "browser_session_recheck": "seconds between reads of each open dashboard's session, so "
    "that a sign-out made by another process (the CLI) closes it",
    "retention_days": "days raw spans (titles, URLs, timelines) are kept; totals are kept "
    "for ever; 0 keeps everything",
    "tls_cert": "PEM certificate (chain) file: serve https and wss (with tls_key)",
    "tls_key": "PEM private key file of tls_cert",
    "dev_tls": "serve https and wss with a self-signed certificate made once and kept in the "
    "user data folder (for trying it out)",
    "allowed_hosts": "comma-separated names this server is reached by (Host header); "
    "default: localhost, loopback addresses, this machine's names and addresses and host; "
    "* for any",
    "rate_per_agent": "messages per second one agent connection may send, on average",
    "burst_per_agent": "messages one agent connection may send at once above that rate",
    "rate_per_ip": "messages (and new connections) per second from one IP address, on average",
    "burst_per_ip": "messages (and new connections) one IP address may send at once above that",
    "handshake_timeout": "seconds a new agent connection has to send its hello",
    "max_connections": "agent connections open at once, at most",
    "max_connections_per_ip": "agent connections open at once from one IP address, at most",
    "max_browsers": "dashboards (live office websockets) open at once, at most",
    "max_browsers_per_ip": "dashboards open at once from one IP address, at most",
    "header_timeout": "seconds a connection has to send a request's headers (from when it "
    "opens, or from the previous answer on a kept-alive connection); then it is closed",
    "max_sockets": "connections (sockets) open at once, at most; at the limit one that has "
    "sent no request yet is closed to make room, else a new one gets 503; default: the "
    "file descriptor limit less a reserve",
    "trusted_proxies": "comma-separated addresses or networks (10.0.0.0/8) of reverse proxies "
    "whose X-Forwarded-For and PROXY protocol headers say who the client is; default: none",
    "log_level": "debug, info, warning or error",
    "agent_auth": "open (any agent may connect) or required (agents need a credential from "
    "an enrollment token); default: open only when listening on loopback",
    "enroll_token": "an enrollment token from the team lead, exchanged once for this agent's "
    "own credential",
    "credential_store": "where the agent keeps its credential: auto (the system keyring where "
    "there is a usable one, else a file only you can read in state_dir), keyring or file",
    "refused_retry": "seconds between tries once the server has refused this agent (blocked, "
    "credential revoked)",
    "server_url": "websocket URL of the server's /agent endpoint",
    "name": "the person's name shown on the dashboard",
    "agent_id": "stable id of this agent (default: made once and kept in state_dir)",
    "state_dir": "folder where the agent keeps its id, journal and (without a keyring) its "
    "credential",
    "source": "what to read: auto (chosen from the platform and session), x11, sway, "
    "hyprland, kde, gnome (officepulse's GNOME Shell extension), focused-window (the "
    "Focused Window D-Bus extension), gnome-eval, macos, windows, scripted (replay "
    "--timeline) or none",
    "timeline": "JSON-lines timeline file replayed by the scripted source",
    "speed": "scripted source: 1 = real time, 60 = a minute per second, 0 = as fast as possible",
    "start": "scripted source: ISO 8601 instant the timeline starts at (default: now)",
    "loop": "scripted source: start over at the end of the timeline",
    "poll_interval": "seconds between looks at the desktop",
    "idle_threshold": "seconds without input after which the person counts as away",
    "encoding": "msgpack (compact) or json (readable, for debugging)",
    "compress": "ask the server for permessage-deflate compression",
    "agent_config": "the agent's config file with privacy lists (default: agent.toml in the "
    "user config folder)",
    "journal_budget_mb": "disk the journal may use while offline before it compacts old spans",
    "backfill_rate": "spans per second sent at most while catching up after an outage",
    "ack_timeout": "seconds without an acknowledgement before a connection counts as stalled",
    "ca_file": "PEM file of the certificate authority (or the self-signed certificate) that "
    "signed the server's certificate, when it is not one the system trusts",
    "allow_insecure": "allow a plain ws:// server_url to a server that is not on this computer "
    "(anyone on the way can read and change what the agent sends)",
}

S = TypeVar("S", ServerSettings, AgentSettings)
ALL_KEYS = frozenset(ServerSettings.__struct_fields__) | frozenset(AgentSettings.__struct_fields__)


class SettingsError(Exception):
    """A setting is missing or has a bad value; the message names it."""


def env_name(key: str) -> str:
    return PREFIX + key.upper()


def _from_env(source: Mapping[str, str | None], where: str) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for name, value in source.items():
        # An empty value ("OFFICEPULSE_START=") means "use the default".
        if not name.startswith(PREFIX) or value is None or value == "":
            continue
        key = name[len(PREFIX) :].lower()
        if key not in ALL_KEYS:
            raise SettingsError(f"unknown setting {name} (from {where})")
        found[key] = (value, where)
    return found


def _is_list(t: msgspec.inspect.Type) -> bool:
    if isinstance(t, msgspec.inspect.UnionType):
        return any(_is_list(member) for member in t.types)
    return isinstance(t, msgspec.inspect.ListType)


def _split_list(cls: type[S], key: str, value: Any) -> Any:
    """A list setting comes from the environment or a flag as "a,b,c"."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    listed = {f.name for f in info.fields if _is_list(f.type)}
    if key in listed and isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def load(
    cls: type[S],
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> S:
    """Build ``cls`` from defaults, ``env_file``, ``environ`` and ``flags``."""
    merged: dict[str, tuple[Any, str]] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update(_from_env(dotenv_values(env_file), str(env_file)))
    merged.update(_from_env(os.environ if environ is None else environ, "environment"))
    for key, value in (flags or {}).items():
        if value is not None:
            merged[key] = (value, f"--{key.replace('_', '-')}")
    fields = set(cls.__struct_fields__)
    data = {k: _split_list(cls, k, v) for k, (v, _) in merged.items() if k in fields}
    try:
        return msgspec.convert(data, cls, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        for key in fields:
            if text.endswith(f"`$.{key}`"):
                value, where = merged[key]
                reason = text.rsplit(" - at ", 1)[0]
                raise SettingsError(
                    f"setting {env_name(key)} has value {value!r} (from {where}): {reason}"
                ) from exc
        raise SettingsError(f"bad settings: {text}") from exc
