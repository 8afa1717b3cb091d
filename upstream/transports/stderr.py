"""An upstream's stderr, relayed to the gateway's log within bounds.

A server may write anything there, at any rate: one 20 MB line, or a million short ones. Each
line is cut at ``line_bytes`` (saying how much was cut), and each server may log at most
``per_second`` lines a second; what is over the budget is counted and reported in a single
"suppressed N lines" line within a second, so a flood costs the log a few lines a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

LINE_BYTES: Final = 2048
LINES_PER_SECOND: Final = 50


class StderrRelay:
    """Feed it the bytes read from stderr; it logs whole lines, capped and rate-limited."""

    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        *,
        line_bytes: int = LINE_BYTES,
        per_second: int = LINES_PER_SECOND,
    ) -> None:
        self._name = name
        self._log = logger
        self._line_bytes = line_bytes
        self._per_second = per_second
        self._partial = bytearray()
        self._cut = 0
        self._window = 0.0
        self._logged = 0
        self._suppressed = 0

    def feed(self, chunk: bytes) -> None:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk, start, len(chunk))
                return
            self._keep(chunk, start, end)
            self._emit()
            start = end + 1

    def close(self) -> None:
        """At EOF: the unterminated last line, and the count of what was suppressed."""
        if self._partial or self._cut:
            self._emit()
        self._report_suppressed()

    def _keep(self, chunk: bytes, start: int, end: int) -> None:
        room = self._line_bytes - len(self._partial)
        take = min(end - start, max(room, 0))
        self._partial += chunk[start : start + take]
        self._cut += end - start - take

    def _emit(self) -> None:
        line, cut = bytes(self._partial), self._cut
        self._partial.clear()
        self._cut = 0
        text = line.decode("utf-8", "replace").rstrip()
        if not text and not cut:
            return
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._logged = now, 0
        if self._logged >= self._per_second:
            if not self._suppressed:
                # Said within a second even if the flood is the server's last word for a while.
                asyncio.get_running_loop().call_later(1.0, self._report_suppressed)
            self._suppressed += 1
            return
        self._logged += 1
        self._report_suppressed()
        if cut:
            self._log.info("[%s] %s …(%d bytes cut)", self._name, text, cut)
        else:
            self._log.info("[%s] %s", self._name, text)

    def _report_suppressed(self) -> None:
        if self._suppressed:
            self._log.warning(
                "[%s] suppressed %d stderr lines (over %d/s)", self._name, self._suppressed, self._per_second
            )
            self._suppressed = 0
