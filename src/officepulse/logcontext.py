"""Who a log line is about, beside its message: the agent, the gateway and the request a
task is serving, kept in context variables so that every log call made while serving it
carries them without passing them along (logjson.py writes them as fields).

asyncio copies the context into each task it creates: a value set in a connection's or
a request's own task stays with that task and the tasks it starts afterwards.
"""

from __future__ import annotations

from contextvars import ContextVar

# The agent a connection's task serves (gateway/gateway.py, once its hello is accepted).
agent_id: ContextVar[str | None] = ContextVar("officepulse_agent_id", default=None)
# The gateway process the line comes from, where a process runs one (the scale-out).
gateway_id: ContextVar[str | None] = ContextVar("officepulse_gateway_id", default=None)
# The HTTP request being answered (ops/request_ids.py).
request_id: ContextVar[str | None] = ContextVar("officepulse_request_id", default=None)

FIELDS: tuple[tuple[str, ContextVar[str | None]], ...] = (
    ("agent_id", agent_id),
    ("gateway_id", gateway_id),
    ("request_id", request_id),
)
