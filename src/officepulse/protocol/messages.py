"""Protocol v1 messages: typed, tagged, frozen msgspec Structs.

Every message is an object whose ``type`` field names it. The same Structs are
encoded as JSON (text frames) or MessagePack (binary frames); see docs/protocol.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

PROTOCOL_VERSION = 3
SUPPORTED_VERSIONS = frozenset({1, 2, 3})
MAX_BATCH_SPANS = 1000
MAX_APP_NAMES = 100
# An app's icon: a small PNG (a 48 px launcher icon is 2 to 6 KB).
MAX_ICON_BYTES = 16_384
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Sleeps and clock jumps in one ``facts`` message: an agent sends them as they happen,
# so a handful; a backlog after a long time offline is sent in several.
MAX_FACTS = 100

# Identifiers end up in HTML ids and URLs, so they are kept to a safe alphabet.
AgentId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]
LongText = Annotated[str, msgspec.Meta(max_length=4096)]
# Timestamps must say which instant they are: naive datetimes are refused.
Instant = Annotated[datetime, msgspec.Meta(tz=True)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
# A build's hash (officepulse/builds.py): SHA-256 in lower-case hex.
BuildHash = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
# Seconds a computer was suspended since it booted: at most ten years.
Asleep = Annotated[float, msgspec.Meta(ge=0, le=315_576_000)]


class Media(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a media player is playing (MPRIS, AppleScript, a player's title)."""

    player: ShortText
    title: LongText = ""
    artist: ShortText = ""
    playing: bool = True


class Activity(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What is in front of a person at one instant.

    ``app`` and ``title`` always; the rest where the agent could tell:
    ``url`` of a browser tab, ``program`` running in the foreground of a
    terminal (``vim``, or the tmux pane's command), ``project`` and ``file`` of
    an editor, the ``media`` playing. ``private`` marks an app on the person's
    never-capture list: the agent then sends ``app="private"`` and nothing else.
    ``paused`` marks time the person paused the agent: it sends ``app="paused"`` and
    nothing else, and reads nothing of the desktop meanwhile.
    """

    app: ShortText
    title: LongText = ""
    url: LongText | None = None
    process: ShortText | None = None
    pid: Annotated[int, msgspec.Meta(ge=0, le=2**32)] | None = None
    idle: bool = False
    private: bool = False
    paused: bool = False
    program: ShortText | None = None
    project: ShortText | None = None
    file: LongText | None = None
    media: Media | None = None


class Hello(msgspec.Struct, frozen=True, kw_only=True, tag="hello", tag_field="type"):
    """First message of every agent connection."""

    v: int
    agent_id: AgentId
    name: ShortText
    host: ShortText
    platform: ShortText
    agent_version: ShortText
    tz: ShortText
    # The agent's credential (from an earlier enrollment), and an enrollment token to
    # exchange for one: the server answers an ``enroll`` with ``enrolled`` before ``welcome``.
    token: ShortText | None = None
    enroll: ShortText | None = None
    # False: do not replace an open connection with this agent_id, be refused (4009)
    # while there is one. An agent that was itself replaced asks so, which keeps two
    # agents sharing an id from replacing each other for ever.
    takeover: bool = True
    # What the agent tells of itself and its computer (v3; older servers ignore them,
    # older agents leave them out): when this agent process ``started``, when the
    # computer booted (``boot``), the seconds it was suspended since (``asleep``), the
    # hash of the agent's own ``build`` (officepulse/builds.py), and when its journal
    # was begun (``journal_begun``: a journal begun anew lost what was not sent yet).
    started: Instant | None = None
    boot: Instant | None = None
    asleep: Asleep | None = None
    build: BuildHash | None = None
    journal_begun: Instant | None = None


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True, tag="heartbeat", tag_field="type"):
    """``activity`` was in front at ``ts``."""

    ts: Instant
    activity: Activity


class SpanOut(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One closed span in a ``spans`` batch: ``activity`` from ``start`` to ``end``,
    recorded in IANA time zone ``tz`` (None or left out: the hello's ``tz``). Sent as
    an array to keep batches small; servers that predate ``tz`` ignore the 4th element."""

    start: Instant
    end: Instant
    activity: Activity
    tz: ShortText | None = None


class Spans(msgspec.Struct, frozen=True, kw_only=True, tag="spans", tag_field="type"):
    """Closed spans from the agent's journal, in order. The i-th span has
    sequence number ``first_seq + i``; the server stores each sequence number
    once, so sending a batch again is always safe (v2)."""

    first_seq: Annotated[int, msgspec.Meta(ge=1, le=2**62)]
    spans: Annotated[list[SpanOut], msgspec.Meta(min_length=1, max_length=MAX_BATCH_SPANS)]


class Presence(msgspec.Struct, frozen=True, kw_only=True, tag="presence", tag_field="type"):
    """What is in front right now and since when, sent at once on every change
    so the office is live while older spans are still on their way (v2).
    ``activity`` None means nothing can be shown (no window, desktop unreadable);
    ``reason`` then says why, for the office's card ("cannot read this desktop: …").
    Servers that predate it ignore it."""

    since: Instant
    activity: Activity | None
    reason: LongText | None = None


class Stretch(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """From ``start`` to ``end`` (sent as a two-element array)."""

    start: Instant
    end: Instant


class ClockJump(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """The computer's wall clock was set ``by`` seconds forward (negative: back) just
    before ``at`` (its new time), beyond what the time that passed explains."""

    at: Instant
    # Up to a century either way: a clock reset to 1970 by a flat battery is a jump too.
    by: Annotated[float, msgspec.Meta(ge=-3_155_760_000, le=3_155_760_000)]


class Facts(msgspec.Struct, frozen=True, kw_only=True, tag="facts", tag_field="type"):
    """What the agent saw of its computer since it said hello or sent facts last (v3):
    at ``at`` it had been suspended ``asleep`` seconds in all since it booted; it slept
    in each of ``sleeps``, and its clock jumped as ``clock_jumps`` say."""

    at: Instant
    asleep: Asleep
    sleeps: Annotated[list[Stretch], msgspec.Meta(max_length=MAX_FACTS)] = []
    clock_jumps: Annotated[list[ClockJump], msgspec.Meta(max_length=MAX_FACTS)] = []


class Ping(msgspec.Struct, frozen=True, kw_only=True, tag="ping", tag_field="type"):
    """Asks for a Pong once every message sent before it has been processed."""

    id: Annotated[int, msgspec.Meta(ge=0, le=2**62)]


# A name people read: not empty, no longer than any other short text.
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class AppName(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``app`` (an activity's raw ``app``, e.g. the X11 WM_CLASS ``libreoffice-writer``)
    is called ``name`` by its desktop ("LibreOffice Writer"); ``icon`` its launcher's
    icon as a PNG of at most MAX_ICON_BYTES (base64 in JSON), where the desktop has one."""

    app: ShortText
    name: DisplayName
    icon: Annotated[bytes, msgspec.Meta(max_length=MAX_ICON_BYTES)] | None = None


class AppNames(msgspec.Struct, frozen=True, kw_only=True, tag="app_names", tag_field="type"):
    """What the desktop calls the apps this connection is about to mention, each sent
    once per connection (v2, and only to a server whose Welcome says ``app_names``)."""

    names: Annotated[list[AppName], msgspec.Meta(min_length=1, max_length=MAX_APP_NAMES)]


class AgentRelease(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The current agent release, as the server's operator set it: its ``version``, and
    ``url`` where people get it."""

    version: ShortText
    url: LongText | None = None


class Welcome(msgspec.Struct, frozen=True, kw_only=True, tag="welcome", tag_field="type"):
    """The server accepted the Hello. The agent heartbeats at least every
    ``heartbeat_interval`` seconds; heartbeats further apart than ``pulsetime``
    start a new span. ``agent_release``, when the server knows one, is the current agent
    (left out otherwise: older agents ignore it either way)."""

    v: int
    session: str
    server_version: str
    heartbeat_interval: Seconds
    pulsetime: Seconds
    max_frame_bytes: int
    resume_from_seq: int = 0
    max_batch_spans: int = MAX_BATCH_SPANS
    agent_release: AgentRelease | msgspec.UnsetType = msgspec.UNSET
    # The server takes ``app_names`` messages: older servers leave it out (an agent then
    # sends none: an unknown message type would close the connection).
    app_names: bool = False


class Enrolled(msgspec.Struct, frozen=True, kw_only=True, tag="enrolled", tag_field="type"):
    """The enrollment token in the Hello was accepted: ``credential`` is this agent's own
    secret, sent once. The agent keeps it and sends it as ``token`` in every Hello after."""

    credential: str


class Pong(msgspec.Struct, frozen=True, kw_only=True, tag="pong", tag_field="type"):
    id: int


class Ack(msgspec.Struct, frozen=True, kw_only=True, tag="ack", tag_field="type"):
    """Every span up to sequence number ``seq`` is durably stored, or was refused (an
    Error said so first): the agent may drop them from its journal (v2)."""

    seq: int


class Error(msgspec.Struct, frozen=True, kw_only=True, tag="error", tag_field="type"):
    """Something the peer sent was refused. ``fatal`` errors are followed by a close."""

    code: str
    message: str
    fatal: bool


AgentMessage = Hello | Heartbeat | Spans | Presence | Ping | AppNames | Facts
ServerMessage = Welcome | Enrolled | Pong | Ack | Error
