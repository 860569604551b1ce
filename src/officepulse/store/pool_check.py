"""How the PostgreSQL store's pool makes sure a connection it hands out still works,
without a round trip to the server each time.

psycopg_pool's own ``check_connection`` sends an empty query on every ``getconn``: one
round trip more for every read and every transaction, half of the time of a short API
request (``/api/v1/usage`` by app: docs/performance.md). Not checking at all would hand
out connections that died with a PostgreSQL restart, once each.

A connection that lies idle in the pool has nothing to read: the server only ever
answers. When its backend ends — PostgreSQL stopped or restarted, the backend terminated,
an ``idle_session_timeout`` — the server sends its last error and closes the socket, and
the socket becomes readable (or hung up). So the socket is polled, which costs no round
trip, and only a connection with something to read is checked the usual way (a query
fails there, and the pool drops it and gives another). What polling cannot see is a
server gone without closing anything (a host lost with its network): there a query would
wait for TCP to give up, as psycopg_pool's check would too.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool


def has_something_to_read(fd: int) -> bool:
    """Whether the socket ``fd`` is readable, hung up or in error, at once: poll where
    there is one (select cannot take descriptors above 1023, usual on a server with many
    agents), select on Windows (whose select has no such limit)."""
    if not hasattr(select, "poll"):
        readable, _, broken = select.select([fd], [], [fd], 0)
        return bool(readable or broken)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)  # errors and hang-ups always count
    return bool(poller.poll(0))


async def check_if_stirred(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's ``check``: returns quietly for a connection that is open and silent;
    raises (psycopg.OperationalError) for one that is closed, broken or, having something
    to read, fails psycopg_pool's own check."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    if has_something_to_read(conn.pgconn.socket):
        await AsyncConnectionPool.check_connection(conn)
