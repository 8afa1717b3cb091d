"""Orphan reaper: a tiny watchdog process that kills upstream process groups if we die.

The gateway kills its upstreams on an orderly shutdown, but a SIGKILL or a crash of the
gateway runs none of its code. The reaper holds the read end of a pipe whose only write end
is the gateway's; when that pipe reaches EOF, whatever the cause, it kills every process group
it was told about. One small process per gateway, no polling.

Protocol on the reaper's stdin, one line each: ``+PGID`` to watch, ``-PGID`` to forget.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time


class Reaper:
    """The gateway-side handle of the watchdog process."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A new session keeps the terminal's Ctrl-C away from it: it must outlive us.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "upstream.transports.reaper"],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    def watch(self, pgid: int) -> None:
        self._write(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        self._write(f"-{pgid}\n")

    def _write(self, line: str) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.write(line.encode())
            process.stdin.flush()

    async def stop(self) -> None:
        """Close the pipe (the reaper then sweeps what is left) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        await asyncio.to_thread(_wait_quietly, process, 5.0)


def _wait_quietly(process: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def kill_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _sweep(groups: set[int], grace: float = 2.0) -> None:
    alive = {pgid for pgid in groups if kill_group(pgid, signal.SIGTERM)}
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {pgid for pgid in alive if kill_group(pgid, 0)}
    for pgid in alive:
        kill_group(pgid, signal.SIGKILL)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    groups: set[int] = set()
    for raw in sys.stdin.buffer:
        line = raw.strip()
        if len(line) < 2 or line[:1] not in (b"+", b"-"):
            continue
        try:
            pgid = int(line[1:])
        except ValueError:
            continue
        if line[:1] == b"+":
            groups.add(pgid)
        else:
            groups.discard(pgid)
    _sweep(groups)


if __name__ == "__main__":
    main()
