"""Wrong admin tokens per peer address: past a few in a minute, that address waits.

The admin token is 256 random bits, so guessing it is hopeless; the limit is there so that a
script hammering the admin listener (or the console's login form) is slowed to a trickle and
shows up in the log once, instead of costing a hash per attempt for as long as it likes. The API
and the console share one count: a token guessed at one door is counted at the other.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Final

log = logging.getLogger("portcullis.admin")

LIMIT: Final = 10
"""Wrong tokens one address may send within :data:`WINDOW`..."""
WINDOW: Final = 60.0
"""...seconds; the next attempt waits until the oldest of them is this old."""
ADDRESSES: Final = 4096
"""Addresses remembered at once (the least recently wrong go first), so memory stays bounded."""


class WrongAttempts:
    """Counts wrong admin tokens per peer address, in a sliding window."""

    def __init__(
        self,
        *,
        limit: int = LIMIT,
        window: float = WINDOW,
        addresses: int = ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit, self._window, self._addresses, self._clock = limit, window, addresses, clock
        self._wrong: dict[str, deque[float]] = {}

    def wait(self, peer: str) -> float:
        """Seconds ``peer`` must wait before a token from it is looked at; 0 when it need not."""
        times = self._wrong.get(peer)
        if times is None:
            return 0.0
        now = self._clock()
        while times and now - times[0] >= self._window:
            times.popleft()
        if not times:
            del self._wrong[peer]
            return 0.0
        return self._window - (now - times[0]) if len(times) >= self._limit else 0.0

    def failed(self, peer: str) -> None:
        """``peer`` sent a wrong token; the last one allowed says so in the log, once."""
        times = self._wrong.pop(peer, None) or deque(maxlen=self._limit)
        reached = len(times) == self._limit - 1
        times.append(self._clock())
        self._wrong[peer] = times  # last in the dict: the most recently wrong
        if len(self._wrong) > self._addresses:
            del self._wrong[next(iter(self._wrong))]
        if reached:
            log.warning(
                "admin: %d wrong admin tokens from %s within %g s; it must wait before another",
                self._limit,
                peer,
                self._window,
            )


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` value for a wait (whole seconds, at least 1)."""
    return str(max(1, math.ceil(seconds)))
