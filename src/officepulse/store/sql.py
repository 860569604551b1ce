"""What the two SQL stores' statements differ in (``Dialect``), and the shape of a
transaction written once for both (``Script``): a generator that yields each statement
and is sent what it did, which SQLite's writer thread runs with plain calls and the
PostgreSQL store with awaits (store/sqlite.py ``run_script``, store/postgres.py
``run_script``). The statements are written with ``?`` and the dialect's placeholder put
in (``Dialect.sql``)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Statement = tuple[str, Sequence[object]]


@dataclass(frozen=True, slots=True)
class Done:
    """What a statement did: the rows it returned, and how many it changed."""

    rows: Sequence[Sequence[Any]]
    rowcount: int


# A transaction's statements, each sent back what it did; returns the transaction's answer.
Script = Generator[Statement, Done, T]


@dataclass(frozen=True, slots=True)
class Dialect:
    """Where SQLite's and PostgreSQL's statements differ."""

    mark: str  # the placeholder
    binary: str  # after a text column in ORDER BY: code point order (SQLite's own)
    lock_row: str  # after a SELECT whose rows this transaction changes next
    # Run before an agent event is written ("": nothing): sequence numbers are handed out
    # at insert but seen at commit, and a poller must never see N+1 before N.
    lock_events: str
    least: str  # the smaller of two values
    greatest: str
    # Whether a value's type is said (PostgreSQL: a sum of BIGINTs is a NUMERIC, and a
    # NULL in a UNION needs a type); SQLite's values carry their own.
    casts: bool
    # Agents named by one parameter (``ids``): one statement however many there are.
    agent_in: str
    key_in: str  # rollup key ids named by one parameter
    ids: Callable[[Sequence[object]], object]
    # Text as the database can hold it (PostgreSQL's text has no NUL).
    text: Callable[[str], str]
    # Each agent's row joined with its latest span (``s``), if any.
    latest_span: str

    def sql(self, text: str) -> str:
        return text if self.mark == "?" else text.replace("?", self.mark)

    def cast(self, expr: str, type_: str) -> str:
        return f"{expr}::{type_}" if self.casts else expr

    def texts(self, params: Sequence[object]) -> list[object]:
        return [self.text(p) if isinstance(p, str) else p for p in params]


class SQLTable:
    """What a table's statements written once for both stores need of the store: its
    placeholder, a read, and a write of statements in one transaction (each store's
    accounts give them: store/sqlite_accounts.py, store/postgres_accounts.py)."""

    _mark = "?"

    async def _select(self, sql: str, params: Sequence[object] = ()) -> list[Sequence[Any]]:
        raise NotImplementedError

    async def _write_all(self, statements: Sequence[Statement]) -> None:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._mark)
