"""Limits on agent connections: how many, and how fast they may talk.

Pure: time is a parameter (monotonic seconds), nothing here reads a clock or
a socket. The gateway asks before it accepts a connection (``admit``) and for
each message (``message``); a refusal is a ``Violation`` carrying the close code
and a reason a person can read. Messages are metered with token buckets: each
holds up to ``burst`` tokens, refills at ``rate`` per second, and a message
takes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from officepulse.protocol.errors import CloseCode, retry_reason

# What a full gateway suggests to the agents it turns away (seconds; they wait that plus a
# draw from as much again, agent/backoff.py): soon, as behind a load balancer the next
# attempt usually lands on another gateway; not at once, as each refusal costs a handshake.
FULL_RETRY_AFTER = 2.0


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate, burst, burst, now)

    def level(self, now: float) -> float:
        """Tokens there would be at ``now`` (a clock that steps back adds none)."""
        return min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)

    def take(self, now: float) -> bool:
        """Take one token; False (and nothing taken) when there is none."""
        # level() spelt out with comparisons: this runs twice for every message an agent
        # sends, and min()/max() calls cost more than the rest of it.
        tokens = self.tokens
        if now > self.stamp:
            tokens += (now - self.stamp) * self.rate
            if tokens > self.burst:
                tokens = self.burst
            self.stamp = now
        if tokens < 1 - 1e-9:  # rounding must not refuse a sender keeping to the rate
            self.tokens = tokens
            return False
        self.tokens = tokens - 1
        return True


@dataclass(frozen=True, slots=True)
class Violation:
    code: CloseCode
    reason: str  # fits a close frame (at most 123 bytes)


@dataclass(frozen=True, slots=True)
class LimitRules:
    rate_per_agent: float
    burst_per_agent: int
    rate_per_ip: float
    burst_per_ip: int
    max_connections: int
    max_connections_per_ip: int
    full_retry_after: float = FULL_RETRY_AFTER


@dataclass(slots=True)
class _Peer:
    bucket: TokenBucket
    connections: int = 0


@dataclass(slots=True)
class Limits:
    """The counts and buckets of one gateway process (not shared between
    processes: each process protects itself)."""

    rules: LimitRules
    connections: int = 0
    _peers: dict[str, _Peer] = field(default_factory=dict)
    # Peers with no connection are forgotten once their bucket is full again;
    # swept when the table has grown this big, so it stays bounded.
    sweep_at: int = 4096

    def admit(self, ip: str, now: float) -> tuple[TokenBucket | None, Violation | None]:
        """A new connection from ``ip``: its own bucket, or why it is refused.
        A connection admitted must be ``release``d once it ends."""
        rules = self.rules
        peer = self._peer(ip, now)
        if self.connections >= rules.max_connections:
            # Full for everyone, not for this address: retry soon (4013), with a delay.
            return None, Violation(
                CloseCode.TRY_AGAIN_SOON,
                retry_reason(
                    rules.full_retry_after,
                    f"this server takes {rules.max_connections} agents at most; try again soon",
                ),
            )
        if peer.connections >= rules.max_connections_per_ip:
            return None, Violation(
                CloseCode.TOO_MANY_CONNECTIONS,
                f"too many connections from {ip}: {rules.max_connections_per_ip} at most; "
                "retry later",
            )
        # Connecting counts as a message from the address: reconnect storms are metered.
        if not peer.bucket.take(now):
            return None, self._ip_flood(ip)
        self.connections += 1
        peer.connections += 1
        return TokenBucket.full(rules.rate_per_agent, rules.burst_per_agent, now), None

    def release(self, ip: str) -> None:
        self.connections -= 1
        peer = self._peers.get(ip)
        if peer is not None:
            peer.connections -= 1

    def message(self, ip: str, agent: TokenBucket, now: float) -> Violation | None:
        """One message on a connection from ``ip`` metered by ``agent``."""
        if not agent.take(now):
            return Violation(
                CloseCode.RATE_LIMITED,
                f"rate limit: more than {self.rules.rate_per_agent:g} messages per second "
                "from this agent; back off",
            )
        peer = self._peers.get(ip)
        if peer is not None and not peer.bucket.take(now):
            return self._ip_flood(ip)
        return None

    def _ip_flood(self, ip: str) -> Violation:
        return Violation(
            CloseCode.RATE_LIMITED,
            f"rate limit: more than {self.rules.rate_per_ip:g} messages per second from "
            f"{ip}; back off"[:123],
        )

    def _peer(self, ip: str, now: float) -> _Peer:
        peer = self._peers.get(ip)
        if peer is None:
            if len(self._peers) >= self.sweep_at:
                self._sweep(now)
            peer = _Peer(TokenBucket.full(self.rules.rate_per_ip, self.rules.burst_per_ip, now))
            self._peers[ip] = peer
        return peer

    def _sweep(self, now: float) -> None:
        idle = [
            ip
            for ip, peer in self._peers.items()
            if peer.connections == 0 and peer.bucket.level(now) >= peer.bucket.burst
        ]
        for ip in idle:
            del self._peers[ip]
        if len(self._peers) >= self.sweep_at:
            self.sweep_at *= 2  # all busy: grow rather than sweep on every connection
