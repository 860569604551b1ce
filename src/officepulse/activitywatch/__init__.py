"""ActivityWatch compatibility: the part of aw-server's REST API (``/api/0/``)
that ActivityWatch's watchers, ``aw-client`` and the aw-watcher-web extension
use, on officepulse's store, agents and spans. docs/activitywatch.md is the
user's guide; this is how it works.

**Two layers.** ActivityWatch's buckets and events are kept as they are, in
their own tables (``aw_buckets``, ``aw_events``), so that everything read back
through ``/api/0/`` (events, exports) is exactly what aw-server 0.12 would
answer, ids and float durations included. The officepulse side (the agent
``aw-<hostname>`` on the dashboard, its spans in the totals) is a
*projection* of those events, recomputed for the stretch of time an event
changed, in the same transaction:

- ``currentwindow`` events (aw-watcher-window) give the app and title;
- ``afkstatus`` events (aw-watcher-afk) mark that time idle;
- ``web.tab.current`` events (aw-watcher-web) give the tab's title and URL while
  the window in front is that browser, and the browser alone on a computer
  with no window watcher;
- the three overlap in time, and events of one bucket may overlap each other,
  so a moment counts once: the latest-starting event that covers it wins, and a
  gap of at most ``GAP_MS`` between two events of a kind belongs to the
  earlier one (officepulse's own rule: what was seen lasts until something
  else is seen; no time is lost at a switch).

**Heartbeats** merge exactly as aw-server's ``heartbeat()`` does
(aw_server/api.py and aw_transform/heartbeats.py): with the bucket's last
event when the data are equal and the heartbeat's timestamp is within
``[last.timestamp, last.timestamp + last.duration + pulsetime]``; the new
duration is ``max(last.duration, heartbeat.timestamp + heartbeat.duration -
last.timestamp)``. Timestamps are cut to milliseconds and durations kept in
microseconds, as aw-core does. "The last event" is the one the bucket's last
heartbeat wrote (aw-server keeps it in memory; here it is a column, so every
server process sharing the database agrees, and a restart changes nothing),
or, before any heartbeat, the newest event.

**The pieces.** ``model`` (events, buckets, parsing, the merge rule), ``projection``
(events to spans, pure), ``tables`` (``AwTables``, what the operations need inside one
transaction; ``AwStore``, the narrow store protocol that runs one; the SQL both databases
take, with a ``Dialect``), ``sqlite`` and ``postgres`` (each database's side, and what it
needs of an officepulse store as a Protocol, which ``stores.aw_store_for`` asks for),
``operations`` (each change in one transaction), ``answers`` and ``http`` (the routes,
given the store's agents, the bus, the dashboards' view, the clock and retention, not the
server), ``importer`` (exports). Nothing here imports the server or the panel; the server
wires it (server/app.py).
Concurrency: a write transaction holds its bucket (SQLite: the database's one
writer; PostgreSQL: the bucket's row, locked before the last event is read) and,
before recomputing a computer's spans, that computer's spans (``hold_spans``),
so two server processes on one database merge and project as one would.
"""
