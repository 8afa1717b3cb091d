"""Counts per operation type (the seed's timeout manager's vocabulary), shared by every layer.

It lives in the contract because the layers that run these operations may not see each other:
the :class:`~middleware.timeouts.Timeouts` middleware times requests (``tool_execution``,
``discovery``, ``default``), the plugin runner times hooks (``guardrail``), authenticators
``auth``, the answer cache's Redis store ``cache``, the upstream pool its connects
(``connectivity``). Plain counters, no I/O.

A type is reported only once some component counts it (:meth:`OperationStats.wire`,
:meth:`~OperationStats.configure`, :meth:`~OperationStats.record` or
:meth:`~OperationStats.track`): zeros then mean "nothing happened", never "nobody counts".
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

OPERATION_TYPES: Final = (
    "default",
    "guardrail",
    "auth",
    "tool_execution",
    "discovery",
    "cache",
    "connectivity",
)


@dataclass(slots=True)
class OperationCount:
    operations: int = 0
    timeouts: int = 0
    seconds: float = 0.0
    timeout: float | None = None


class OperationStats:
    """Counters per operation type; cheap to bump on the hot path, read by metrics exporters.

    :meth:`snapshot` is ``{type: {"operations": int, "timeouts": int, "seconds": float,
    "timeout": float | None}}`` for each type some component counts, in the order of
    :data:`OPERATION_TYPES`: operations finished (timed out or not), how many of them timed out,
    their total duration, and the deadline configured for the type (None where none is said)."""

    def __init__(self) -> None:
        self.counts: dict[str, OperationCount] = {}

    def wire(self, kind: str) -> OperationCount:
        """Report ``kind`` from now on (zeros until it happens): said once by what counts it."""
        count = self.counts.get(kind)
        if count is None:
            if kind not in OPERATION_TYPES:
                raise ValueError(f"unknown operation type {kind!r}; one of {', '.join(OPERATION_TYPES)}")
            count = self.counts[kind] = OperationCount()
        return count

    def record(self, kind: str, seconds: float, *, timed_out: bool = False) -> None:
        count = self.counts.get(kind) or self.wire(kind)
        count.operations += 1
        count.seconds += seconds
        if timed_out:
            count.timeouts += 1

    def configure(self, kind: str, timeout: float) -> None:
        """The deadline of ``kind`` (shown beside its counts)."""
        self.wire(kind).timeout = timeout

    @contextlib.asynccontextmanager
    async def track(self, kind: str) -> AsyncIterator[None]:
        """Count the block as one operation of ``kind``; a :class:`TimeoutError` out of it
        counts as a timeout (the caller applies its own deadline)."""
        started = time.monotonic()
        timed_out = False
        try:
            yield
        except TimeoutError:
            timed_out = True
            raise
        finally:
            self.record(kind, time.monotonic() - started, timed_out=timed_out)

    def snapshot(self) -> dict[str, dict[str, float | int | None]]:
        counts = self.counts
        return {
            kind: {
                "operations": c.operations,
                "timeouts": c.timeouts,
                "seconds": c.seconds,
                "timeout": c.timeout,
            }
            for kind in OPERATION_TYPES
            if (c := counts.get(kind)) is not None
        }

    def reset(self) -> None:
        """Zero the counts (the types counted stay reported)."""
        for count in self.counts.values():
            count.operations, count.timeouts, count.seconds = 0, 0, 0.0


OPERATIONS: Final = OperationStats()
"""The process's counters: every component that runs an operation type adds to them."""
