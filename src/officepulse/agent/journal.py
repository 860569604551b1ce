"""The agent's journal: every closed span is on disk before it is sent, and
stays there until the server acknowledges it.

One SQLite file in the agent's state folder. Sequence numbers grow forever
(the server stores each once, so sending again is safe). The open span is kept
too, every few seconds, so a crash or kill loses at most those seconds: the
next start carries on from it.

When the journal outgrows its disk budget (a long time offline), the oldest
spans that were never sent are compacted, in two steps that never change a
total: first runs of the same app are joined and their titles dropped; then
each hour becomes one span per app, back to back.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from officepulse.core.plausible import MAX_SPAN_MS
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    seq INTEGER PRIMARY KEY,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    activity BLOB NOT NULL,
    level INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
"""
# Step N takes a journal from PRAGMA user_version N-1 to N; a new journal gets SCHEMA
# and then every step.
MIGRATIONS: dict[int, str] = {
    # The time zone each span was recorded in (None: recorded before zones were kept;
    # the server counts those in the connection's zone).
    1: "ALTER TABLE spans ADD COLUMN tz TEXT",
}
HOUR_MS = 3_600_000

_encode = msgspec.msgpack.Encoder().encode
_decode_activity = msgspec.msgpack.Decoder(Activity).decode


class _Open(msgspec.Struct, frozen=True, array_like=True):
    """The open span as kept in ``meta``; journals from before zones lack ``tz``."""

    start: int
    end: int
    activity: Activity
    tz: str | None = None


_decode_open = msgspec.msgpack.Decoder(_Open).decode
_decode_link = msgspec.msgpack.Decoder(tuple[str, int, str]).decode


# (seq, start_ms, end_ms, activity, tz): a row as compaction handles it.
_Row = tuple[int, int, int, Activity, str | None]


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    span: Span


@dataclass(frozen=True, slots=True)
class Stats:
    waiting: int
    bytes: int
    next_seq: int
    acked_seq: int


class Journal:
    def __init__(
        self,
        path: str | Path,
        *,
        budget_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.budget_bytes = budget_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a committed span survives the agent being killed; only a power
        # cut may lose the last commits (which were never acknowledged either).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for step in range(version + 1, max(MIGRATIONS) + 1):
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(MIGRATIONS[step])
            self._db.execute(f"PRAGMA user_version={step}")
            self._db.execute("COMMIT")
        if fresh:
            # The hello tells the server when this journal was begun: one begun anew (a
            # deleted state folder) lost whatever the one before had not sent.
            self._set_meta("begun_ms", str(int(clock() * 1000)).encode())

    def close(self) -> None:
        self._db.close()

    # -- meta ------------------------------------------------------------------------

    def _meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: bytes | None) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _int(self, key: str) -> int:
        raw = self._meta(key)
        return int(raw) if raw is not None else 0

    @property
    def begun_ms(self) -> int | None:
        """When this journal file was made; None for one made before journals kept it."""
        raw = self._meta("begun_ms")
        return int(raw) if raw is not None else None

    @property
    def acked_seq(self) -> int:
        return self._int("acked_seq")

    @property
    def sent_seq(self) -> int:
        """The highest sequence number ever sent: spans up to it may be on the
        server already, so compaction leaves them alone."""
        return self._int("sent_seq")

    @property
    def high_water_ms(self) -> int:
        """The end of the latest closed span ever written: time before it is
        accounted for, so a restarted replay does not count it again."""
        return self._int("high_water_ms")

    @property
    def next_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM spans").fetchone()
        return max(row[0] or 0, self._int("last_seq")) + 1

    # -- writing -----------------------------------------------------------------------

    def append(self, spans: Iterable[Span], open_span: Span | None) -> int:
        """Write closed spans and the open span in one transaction; returns the
        last sequence number used."""
        seq = self.next_seq - 1
        spans_list = list(spans)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for span in spans_list:
                seq += 1
                self._db.execute(
                    "INSERT INTO spans (seq, start_ms, end_ms, activity, tz) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (seq, span.start_ms, span.end_ms, _encode(span.activity), span.tz),
                )
            self._set_meta("last_seq", str(seq).encode())
            ends = [span.end_ms for span in spans_list]
            if ends:
                self._set_meta("high_water_ms", str(max(max(ends), self.high_water_ms)).encode())
            self._set_open(open_span)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return seq

    def save_open(self, open_span: Span | None) -> None:
        self._set_open(open_span)

    def _set_open(self, span: Span | None) -> None:
        value = (
            None
            if span is None
            else _encode(_Open(span.start_ms, span.end_ms, span.activity, span.tz))
        )
        self._set_meta("open", value)

    def open_span(self) -> Span | None:
        """The span that was open when the agent last saved it (a crash, a kill,
        a stop): the next run carries on from there."""
        raw = self._meta("open")
        if raw is None:
            return None
        kept = _decode_open(raw)
        return Span(kept.start, kept.end, kept.activity, kept.tz)

    def set_link_state(self, state: str, since_ms: int, url: str) -> None:
        """What the link is doing ("connected", "offline"), for `probe` to show."""
        self._set_meta("link", _encode((state, since_ms, url)))

    def link_state(self) -> tuple[str, int, str] | None:
        raw = self._meta("link")
        if raw is None:
            return None
        state, since_ms, url = _decode_link(raw)
        return state, since_ms, url

    def mark_sent(self, seq: int) -> None:
        if seq > self.sent_seq:
            self._set_meta("sent_seq", str(seq).encode())

    def continue_after(self, seq: int) -> None:
        """The server already has sequence numbers up to ``seq`` from this agent
        id, beyond any this journal gave out (the journal was lost or the id
        reused): renumber what waits to follow on, rather than lose it."""
        last = self.next_seq - 1
        if seq <= last:
            return
        first = self._db.execute("SELECT MIN(seq) FROM spans").fetchone()[0]
        self._db.execute("BEGIN IMMEDIATE")
        if first is not None:
            shift = seq + 1 - int(first)
            # Two steps, so no number collides with one not yet moved.
            self._db.execute("UPDATE spans SET seq = -(seq + ?)", (shift,))
            self._db.execute("UPDATE spans SET seq = -seq")
        self._set_meta("last_seq", str(max(seq, self._max_seq())).encode())
        # Whatever was sent under the old numbers was taken by the server as
        # already stored and dropped: none of it is there.
        self._set_meta("sent_seq", str(seq).encode())
        self._db.execute("COMMIT")

    def _max_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM spans").fetchone()
        return int(row[0] or 0)

    def ack(self, seq: int) -> None:
        """The server has everything up to ``seq``: forget it."""
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("DELETE FROM spans WHERE seq <= ?", (seq,))
        if seq > self.acked_seq:
            self._set_meta("acked_seq", str(seq).encode())
        self._db.execute("COMMIT")

    # -- reading -----------------------------------------------------------------------

    def read(self, after_seq: int, limit: int) -> list[Entry]:
        rows = self._db.execute(
            "SELECT seq, start_ms, end_ms, activity, tz FROM spans WHERE seq > ? "
            "ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [
            Entry(seq, Span(start, end, _decode_activity(blob), tz))
            for seq, start, end, blob, tz in rows
        ]

    def waiting_after(self, after_seq: int, limit: int) -> tuple[int, int | None]:
        """How many of the first ``limit`` spans after ``after_seq`` there are, and the
        first one's sequence number: what ``read`` would return, without decoding it
        (the sender asks at every closed span, and sends only a full or due batch)."""
        count, first = self._db.execute(
            "SELECT COUNT(*), MIN(seq) FROM "
            "(SELECT seq FROM spans WHERE seq > ? ORDER BY seq LIMIT ?)",
            (after_seq, limit),
        ).fetchone()
        return int(count), first

    def stats(self) -> Stats:
        waiting, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(activity) + 24), 0) FROM spans"
        ).fetchone()
        return Stats(waiting, size, self.next_seq, self.acked_seq)

    # -- compaction --------------------------------------------------------------------

    def compact(self) -> int:
        """Shrink the oldest unsent spans until the journal fits its budget;
        returns how many rows went. Totals per app and per hour never change."""
        removed = 0
        for level, step in ((1, self._join_runs), (2, self._hourly)):
            while self.stats().bytes > self.budget_bytes:
                processed, gone = step(level)
                removed += gone
                if processed == 0:
                    break
        return removed

    def _unsent(self, level: int, limit: int) -> list[_Row]:
        rows = self._db.execute(
            "SELECT seq, start_ms, end_ms, activity, tz FROM spans WHERE seq > ? AND level < ? "
            "ORDER BY seq LIMIT ?",
            (self.sent_seq, level, limit),
        ).fetchall()
        return [(seq, start, end, _decode_activity(blob), tz) for seq, start, end, blob, tz in rows]

    def _rewrite(self, old: list[int], new: list[_Row], level: int) -> tuple[int, int]:
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("DELETE FROM spans WHERE seq = ?", [(s,) for s in old])
        self._db.executemany(
            "INSERT INTO spans (seq, start_ms, end_ms, activity, level, tz) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(seq, start, end, _encode(a), level, tz) for seq, start, end, a, tz in new],
        )
        self._db.execute("COMMIT")
        return len(old), len(old) - len(new)

    @staticmethod
    def _summary(activity: Activity) -> Activity:
        return Activity(
            app=activity.app, idle=activity.idle, private=activity.private, paused=activity.paused
        )

    def _join_runs(self, level: int, limit: int = 5000) -> tuple[int, int]:
        """Level 1: keep app, idle and zone, drop the details, join what then touches,
        up to the longest span a server accepts (core/plausible.py): a week away from
        the server with the screen locked is still sent, as a few spans."""
        rows = self._unsent(level, limit)
        out: list[_Row] = []
        for seq, start, end, activity, tz in rows:
            summary = self._summary(activity)
            if (
                out
                and out[-1][3] == summary
                and out[-1][4] == tz
                and out[-1][2] == start
                and end - out[-1][1] <= MAX_SPAN_MS
            ):
                out[-1] = (out[-1][0], out[-1][1], end, summary, tz)
            else:
                out.append((seq, start, end, summary, tz))
        return self._rewrite([r[0] for r in rows], out, level)

    def _hourly(self, level: int, limit: int = 5000) -> tuple[int, int]:
        """Level 2: per clock hour, one span per (app, idle, zone), back to back from
        the hour's first start, each as long as that app's total in the hour."""
        rows = self._unsent(level, limit)
        if len(rows) == limit:
            # Only whole hours: the last one may go on in rows not read yet.
            last_hour = rows[-1][1] - rows[-1][1] % HOUR_MS
            rows = [r for r in rows if r[1] - r[1] % HOUR_MS < last_hour]
        hours: dict[int, tuple[int, dict[tuple[Activity, str | None], int]]] = {}
        for _seq, start, end, activity, tz in rows:
            t = start
            while t < end:  # split at hour boundaries so each hour keeps its own total
                hour = t - t % HOUR_MS
                piece_end = min(end, hour + HOUR_MS)
                first, totals = hours.setdefault(hour, (t, {}))
                key = (self._summary(activity), tz)
                totals[key] = totals.get(key, 0) + piece_end - t
                t = piece_end
        placed: list[tuple[int, int, Activity, str | None]] = []
        for _hour, (first, totals) in sorted(hours.items()):
            cursor = first  # never before what the hour already held: no overlap
            for (activity, tz), total in totals.items():
                placed.append((cursor, cursor + total, activity, tz))
                cursor += total
        if len(placed) >= len(rows):
            # Nothing to gain (long spans across hours): keep them as they are.
            return self._rewrite([r[0] for r in rows], rows, level)
        # Sequence numbers keep time order: the smallest old numbers, in time order.
        seqs = sorted(r[0] for r in rows)[: len(placed)]
        new = [(seq, *p) for seq, p in zip(seqs, placed, strict=True)]
        return self._rewrite([r[0] for r in rows], new, level)
