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
import re
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import msgspec
import msgspec.inspect
from dotenv import dotenv_values
from platformdirs import user_data_dir

from officepulse.errors import OfficepulseError
from officepulse.versions import VersionError, parse

PREFIX = "OFFICEPULSE_"

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
# ``extra["unit"]`` names what the number counts, for the messages about a bad value.
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=86_400, extra={"unit": "seconds"})]
Rate = Annotated[float, msgspec.Meta(gt=0, extra={"unit": "messages per second"})]
Burst = Annotated[int, msgspec.Meta(ge=1, extra={"unit": "messages"})]
Count = Annotated[int, msgspec.Meta(ge=1)]


def _default_database() -> str:
    return str(Path(user_data_dir("officepulse", appauthor=False)) / "officepulse.sqlite3")


def _default_state_dir() -> str:
    return user_data_dir("officepulse-agent", appauthor=False)


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    database: str = msgspec.field(default_factory=_default_database)
    # How long a PostgreSQL store waits for a connection before it counts the database as
    # away (says so, and keeps what it holds until it is back).
    database_timeout: PositiveSeconds = 30.0
    assets_dir: str | None = None
    heartbeat_interval: PositiveSeconds = 10.0
    pulsetime: PositiveSeconds = 25.0
    max_frame_bytes: Annotated[
        int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024, extra={"unit": "bytes"})
    ] = 64 * 1024
    browser_send_timeout: PositiveSeconds = 5.0
    # How often an open dashboard's session is read again (ends made by another process).
    browser_session_recheck: PositiveSeconds = 30.0
    # None: open when listening on loopback only (embedded, one desktop), else required.
    agent_auth: Literal["open", "required"] | None = None
    # 0 keeps raw spans for ever (as ActivityWatch does); rollups are always kept.
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=36_500, extra={"unit": "days"})] = 0
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
    # An agent that vanished without closing (a laptop closed, a network gone) must not
    # hold its place: with hello takeover=false a twin waits for it (agent/link.py).
    ping_interval: PositiveSeconds = 30.0
    max_connections: Count = 10_000
    max_connections_per_ip: Count = 5_000
    # permessage-deflate with agents: off, as each compressed connection costs the server
    # about 100 KB (docs/performance.md, "Memory per agent connection").
    agent_deflate: bool = False
    max_browsers: Count = 2_000
    max_browsers_per_ip: Count = 50
    # Sockets (server/sockets.py): slow or idle connections end; None: from the fd limit.
    header_timeout: PositiveSeconds = 10.0
    max_sockets: Count | None = None
    trusted_proxies: list[Annotated[str, msgspec.Meta(min_length=1)]] | None = None
    # Updates: the agent version to tell agents about (the welcome), where to get it, and
    # the oldest agent admitted (refused below it with 4426, docs/protocol.md).
    agent_latest_version: str | None = None
    agent_download_url: str | None = None
    agent_min_version: str | None = None
    # Honest gaps (core/gaps.py): agent builds known besides the server's own (their hashes,
    # officepulse/builds.py), and the shortest stretch of "agent not running" marked.
    agent_builds: list[Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]] | None = None
    gap_min_seconds: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 60.0
    # Re-categorising history in the background (panel/recategorising.py): spans per
    # transaction, and seconds between batches, which leave the database to ingest and reads.
    recategorize_batch: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1_000
    recategorize_pause: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Service operation (ops/): log lines for collectors; who else may read /metrics.
    log_format: Literal["text", "json"] = "text"
    metrics_token: Annotated[str, msgspec.Meta(min_length=16)] | None = None
    # Scaled out (`officepulse gateway`, `officepulse panel`): the bus between the
    # processes, and this gateway's name on it (default: host name and process id).
    nats_url: str | None = None
    gateway_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None

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
        self._check_updates()

    def _check_updates(self) -> None:
        versions = {}
        for key in ("agent_latest_version", "agent_min_version"):
            given = getattr(self, key)
            if given is not None:
                try:
                    versions[key] = parse(given)
                except VersionError as exc:
                    raise ValueError(f"{exc} - at `$.{key}`") from None
        latest, least = versions.get("agent_latest_version"), versions.get("agent_min_version")
        if latest is not None and least is not None and least > latest:
            raise ValueError(
                f"the oldest agent admitted ({least}) is newer than the latest one "
                f"(agent_latest_version {latest}) - at `$.agent_min_version`"
            )
        url = self.agent_download_url
        if url is not None and not re.match(r"^https?://[^/\s]+\S*$", url):
            raise ValueError(
                "the download address must be an http:// or https:// URL "
                "- at `$.agent_download_url`"
            )

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
    agent_id: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^[A-Za-z0-9_-]{1,64}$", description="1 to 64 letters, digits, - or _"
            ),
        ]
        | None
    ) = None
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
    journal_budget_mb: Annotated[float, msgspec.Meta(gt=0, extra={"unit": "megabytes"})] = 64.0
    backfill_rate: Annotated[float, msgspec.Meta(gt=0, extra={"unit": "spans per second"})] = 5000.0
    ack_timeout: PositiveSeconds = 30.0
    ca_file: str | None = None
    allow_insecure: bool = False
    enroll_token: str | None = None
    credential_store: Literal["auto", "keyring", "file"] = "auto"
    # A keyring waiting for an unlock prompt nobody answers never replies (agent/credential.py).
    keyring_timeout: PositiveSeconds = 10.0
    refused_retry: PositiveSeconds = 300.0
    tray: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"


HELP: dict[str, str] = {
    "host": "address to listen on (0.0.0.0 for every interface)",
    "port": "port to listen on",
    "database": "SQLite file, or a postgresql:// URL, that keeps agents and their activity",
    "database_timeout": "seconds a PostgreSQL database may take to give a connection (at "
    "start, and for each read or write) before it counts as away; unused with SQLite",
    "assets_dir": "folder holding node_modules/ with htmx (default: the copy built into the "
    "installed package, else node_modules/ near the code)",
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
    "ping_interval": "seconds between the server's pings on each agent connection; one not "
    "answered within half of that closes the connection",
    "max_connections": "agent connections open at once, at most",
    "max_connections_per_ip": "agent connections open at once from one IP address, at most",
    "agent_deflate": "accept permessage-deflate from agents that offer it: fewer bytes on "
    "the wire, about 100 KB more memory per agent connection",
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
    "log_format": "text (readable lines) or json (one object per line: time, level, logger, "
    "message, and the agent, gateway and request ids where there are some)",
    "metrics_token": "a secret of 16 characters or more: a request to /metrics with "
    "`Authorization: Bearer` and it is answered from anywhere (without it, from loopback only)",
    "nats_url": "the NATS server that gateways and panels talk through (nats://host:4222); "
    "needed by officepulse gateway and officepulse panel, unused by officepulse server",
    "gateway_id": "this gateway's name among the gateways (letters, digits, _ . : -); "
    "default: the host name and process id",
    "agent_latest_version": "the current officepulse agent's version (like 0.2.0): agents "
    "that are older show that an update is available, in their tray and log",
    "agent_download_url": "where people get the current agent (an http:// or https:// "
    "address), shown with the update notice and the refusal below agent_min_version",
    "agent_min_version": "the oldest agent version admitted: older agents are refused "
    "(close code 4426, update-required) and told to update",
    "agent_builds": "comma-separated SHA-256 hashes of agent builds this server knows besides "
    "its own (python -m officepulse.builds prints one); agents of other builds are flagged "
    "as unknown builds on their person's page",
    "gap_min_seconds": 'the shortest stretch of "agent not running while the computer was '
    "on\" marked on a person's page",
    "recategorize_batch": "spans re-categorised per transaction after the category rules "
    "change (in the background): ingest and reads wait for one batch at most",
    "recategorize_pause": "seconds between those batches: more spreads a re-categorisation "
    "over longer, leaving the database to ingest and reads",
    "agent_auth": "open (any agent may connect) or required (agents need a credential from "
    "an enrollment token); default: open only when listening on loopback",
    "enroll_token": "an enrollment token from the team lead, exchanged once for this agent's "
    "own credential",
    "credential_store": "where the agent keeps its credential: auto (the system keyring where "
    "there is a usable one, else a file only you can read in state_dir), keyring or file",
    "keyring_timeout": "seconds the system keyring may take to answer; then the agent "
    "counts it as locked (auto: keeps its credential in a file; keyring: stops)",
    "refused_retry": "seconds between tries once the server has refused this agent (blocked, "
    "credential revoked)",
    "server_url": "websocket URL of the server's /agent endpoint (its http:// or https:// "
    "address is taken to mean it)",
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
    "compress": "ask the server for permessage-deflate compression (an officepulse server "
    "takes it only with agent_deflate)",
    "agent_config": "the agent's config file with privacy lists (default: agent.toml in the "
    "user config folder)",
    "journal_budget_mb": "disk the journal may use while offline before it compacts old spans",
    "backfill_rate": "spans per second sent at most while catching up after an outage",
    "ack_timeout": "seconds without an acknowledgement before a connection counts as stalled",
    "ca_file": "PEM file of the certificate authority (or the self-signed certificate) that "
    "signed the server's certificate, when it is not one the system trusts",
    "tray": "show an icon in the system tray or menu bar: the agent's state, pause, the "
    "dashboard, settings",
    "allow_insecure": "allow a plain ws:// server_url to a server that is not on this computer "
    "(anyone on the way can read and change what the agent sends)",
}

S = TypeVar("S", ServerSettings, AgentSettings)
ALL_KEYS = frozenset(ServerSettings.__struct_fields__) | frozenset(AgentSettings.__struct_fields__)


class SettingsError(OfficepulseError):
    """A setting is missing or has a bad value; the message names it."""


def env_name(key: str) -> str:
    return PREFIX + key.upper()


def flag_and_env(key: str) -> str:
    """How a setting is named in a message when it may have come from either."""
    return f"--{key.replace('_', '-')} ({env_name(key)})"


def unreadable(key: str, path: str | Path, exc: OSError) -> SettingsError:
    """The file named by setting ``key`` cannot be read: said without Python's wording."""
    reason = exc.strerror or str(exc)
    return SettingsError(
        f"{flag_and_env(key)} names {path}, which cannot be read: {reason[:1].lower()}{reason[1:]}"
    )


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


def _merged(
    flags: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None,
    env_file: str | Path | None,
    base: Mapping[str, tuple[Any, str]] | None = None,
) -> dict[str, tuple[Any, str]]:
    """Every setting given, with where it was given (a flag, "environment", the file, or
    what ``base`` says: the agent's config file)."""
    merged: dict[str, tuple[Any, str]] = dict(base or {})
    if env_file is not None and Path(env_file).is_file():
        merged.update(_from_env(dotenv_values(env_file), str(env_file)))
    merged.update(_from_env(os.environ if environ is None else environ, "environment"))
    for key, value in (flags or {}).items():
        if value is not None:
            merged[key] = (value, f"--{key.replace('_', '-')}")
    return merged


def _said_by(key: str, where: str) -> str:
    """How the person gave ``key``: "--port", "OFFICEPULSE_PORT in .env"."""
    if where.startswith("--"):
        return where
    if where.startswith("[agent] in "):
        return f"{key} {where}"
    return f"{env_name(key)} in {'the environment' if where == 'environment' else where}"


def origin(
    key: str,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> str | None:
    """Where the value ``load`` gives ``key`` comes from, said as in ``_said_by``; None
    when it is the default."""
    given = _merged(flags, environ, env_file).get(key)
    return None if given is None else _said_by(key, given[1])


def load(
    cls: type[S],
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
    base: Mapping[str, tuple[Any, str]] | None = None,
) -> S:
    """Build ``cls`` from defaults, ``base`` (values with where they came from: the
    agent's config file), ``env_file``, ``environ`` and ``flags``."""
    merged = _merged(flags, environ, env_file, base)
    fields = set(cls.__struct_fields__)
    data = {k: _split_list(cls, k, v) for k, (v, _) in merged.items() if k in fields}
    try:
        return msgspec.convert(data, cls, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec says "Expected `int`, got `str` - at `$.port`": say it with the flag
        # or variable the person used, and what the setting takes.
        found = re.search(r" - at `\$\.(\w+)", str(exc))
        if found is None or found.group(1) not in merged:
            raise SettingsError(f"bad settings: {exc}") from exc
        key = found.group(1)
        value, where = merged[key]
        said = str(exc)[: found.start()]
        if not said.startswith(("Expected", "Invalid")):
            # Our own words, from a __post_init__ check: they say what is wrong already.
            raise SettingsError(f"{_said_by(key, where)}: {said} (got {value!r})") from exc
        raise SettingsError(
            f"{_said_by(key, where)} takes {takes(cls, key)} (got {value!r})"
        ) from exc


def takes(cls: type[msgspec.Struct], key: str) -> str:
    """What setting ``key`` of ``cls`` takes, for people: "a whole number from 0 to 65535"."""
    return _takes(typing.get_type_hints(cls, include_extras=True)[key])


def _takes(hint: Any) -> str:
    if get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    metas: list[msgspec.Meta] = []
    if get_origin(hint) is Annotated:
        hint, *extras = get_args(hint)
        metas = [m for m in extras if isinstance(m, msgspec.Meta)]
    described = next((m.description for m in metas if m.description), None)
    if described is not None:
        return described
    if hint is bool:
        return "true or false"
    if hint in (int, float):
        unit = next((m.extra["unit"] for m in metas if m.extra and "unit" in m.extra), None)
        kind = "a whole number" if hint is int else "a number"
        return kind + (f" of {unit}" if unit else "") + _bounds(metas)
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(str(v) for v in get_args(hint))
    if hint is datetime:
        return "a date and time in ISO 8601, like 2026-03-02T09:00:00+01:00"
    if get_origin(hint) is list:
        return "a comma-separated list"
    return "text"


def _bounds(metas: list[msgspec.Meta]) -> str:
    """ " from 0 to 65535", " above 0 and at most 86400", " of at least 1", or ""."""
    ge = next((m.ge for m in metas if m.ge is not None), None)
    le = next((m.le for m in metas if m.le is not None), None)
    if ge is not None and le is not None:
        return f" from {_number(ge)} to {_number(le)}"
    gt = next((m.gt for m in metas if m.gt is not None), None)
    low = f"at least {_number(ge)}" if ge is not None else ""
    low = f"above {_number(gt)}" if gt is not None else low
    high = f"at most {_number(le)}" if le is not None else ""
    if low and high:
        return f" {low} and {high}"
    if low or high:
        return f" of {low or high}" if ge is not None else f" {low or high}"
    return ""


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
