"""Per-client limits of the stream WebSocket: a join rate per socket, and caps on sockets per user and per IP.

What a client over a limit sees is in docs/security.md ("Limits"): a join past the rate gets the error event
``TOO_MANY_JOINS``; a connection past a cap is refused at the handshake with HTTP 429 where the server can send
one (uvicorn), else accepted and closed at once with ``CLOSE_TOO_MANY_CONNECTIONS`` (Daphne). The caps count this
process's sockets: behind a load balancer each process enforces its own share.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable

__all__ = ["CLOSE_TOO_MANY_CONNECTIONS", "ConnectionCounter", "TokenBucket", "connections"]

#: Close code for a socket over ``MAX_CONNECTIONS_PER_USER`` or ``MAX_CONNECTIONS_PER_IP`` (as HTTP 429).
CLOSE_TOO_MANY_CONNECTIONS = 4029


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved: ``take()`` is False when none is left. ``clock``: seconds,
    monotonic (tests pass a fake one)."""

    __slots__ = ("burst", "clock", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] | None = None) -> None:
        self.rate, self.burst = rate, burst  # the settings' own numbers: one bucket per socket holds no copies
        self.tokens: float = burst
        self.clock = clock or time.monotonic
        self.last = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ConnectionCounter:
    """Open sockets by key (a user, an IP address) in this process."""

    def __init__(self) -> None:
        self.open: Counter[Hashable] = Counter()

    def admit(self, keys: list[tuple[Hashable, int | None]]) -> bool:
        """Count a socket under each ``(key, cap)`` if none is at its cap (None: no cap); False otherwise."""
        if any(cap is not None and self.open[key] >= cap for key, cap in keys):
            return False
        for key, _cap in keys:
            self.open[key] += 1
        return True

    def release(self, keys: list[tuple[Hashable, int | None]]) -> None:
        for key, _cap in keys:
            self.open[key] -= 1
            if self.open[key] <= 0:
                del self.open[key]


#: This process's sockets.
connections = ConnectionCounter()
