"""Stdio transport: one MCP server subprocess, newline-delimited JSON on its pipes.

We read and write the pipes ourselves with orjson rather than through the SDK's client, which
validates every message into models; a pass-through needs none of that (see DESIGN.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

import orjson

from middleware.protocol import UPSTREAM_TRACE, Message
from upstream.errors import mapped
from upstream.transports.base import NO_FEATURES, ProtocolViolation, Received, TransportClosed
from upstream.transports.envelope import screen
from upstream.transports.reaper import Reaper, kill_group
from upstream.transports.stderr import StderrRelay
from upstream.transports.trace_context import traced

log = logging.getLogger("portcullis.upstream")

_PYTHON_ALIASES = frozenset({"python", "python3"})
_STDERR_CHUNK = 64 * 1024
_EOF_GRACE = 0.1
"""Once the server exited and its group was killed, how long its stdout may take to reach EOF
before the transport closes it anyway (a child that left the group may still hold it)."""


def resolve_command(command: str) -> str:
    """A bare ``python`` means the interpreter running Portcullis, so servers shipped as Python
    modules find the same packages without an activated virtualenv."""
    if command in _PYTHON_ALIASES:
        return sys.executable
    return command


class _ExitWatch(asyncio.subprocess.SubprocessStreamProtocol):
    """Hears the server's exit the moment it happens: asyncio's ``Process.wait()`` returns only
    once every pipe is closed too, and a child that inherited the server's stdout holds it open."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop, on_exit: Callable[[], None]) -> None:
        super().__init__(limit, loop)
        self._on_exit = on_exit
        self.stdout_closed = False

    def process_exited(self) -> None:
        super().process_exited()
        self._on_exit()

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.stdout_closed = True
        super().pipe_connection_lost(fd, exc)


class StdioTransport:
    """Spawns the server in its own process group, so shutdown can kill the whole tree.

    Its stdout must carry JSON-RPC messages and nothing else: a line that is not one breaks
    the pipe's framing for good, so it raises :class:`ProtocolViolation` and the session ends
    as if the server had crashed (the supervisor restarts it).

    The server's process ending is the session ending: when it exits, its whole group is killed
    (a child holding its stdout goes too) and its stdout is closed, so the calls in flight fail
    at once rather than at their deadline."""

    features = NO_FEATURES

    def __init__(
        self,
        name: str,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        max_message_bytes: int = 64 * 1024 * 1024,
        reaper: Reaper | None = None,
        shutdown_grace: float = 2.0,
    ) -> None:
        self.name = name
        self._command = resolve_command(command)
        self._args = list(args)
        self._env = dict(env or {})
        self._cwd = cwd
        self._limit = max_message_bytes
        self._reaper = reaper
        self._grace = shutdown_grace
        self._process: asyncio.subprocess.Process | None = None
        self._protocol: _ExitWatch | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._closing = False
        self._mapped = mapped(self._pipe_failure)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def description(self) -> str:
        return f"pid {self.pid}"

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _ExitWatch(self._limit, loop, self._exited),
                self._command,
                *self._args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **self._env},
                cwd=self._cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportClosed(f"could not start {self._command!r}: {exc}") from exc
        self._protocol = protocol
        self._process = process = asyncio.subprocess.Process(transport, protocol, loop)
        if self._reaper is not None:
            self._reaper.watch(process.pid)
        self._stderr_task = asyncio.create_task(self._relay_stderr(), name=f"stderr:{self.name}")
        if process.returncode is not None:  # exited before we held the process
            self._exited()

    def _exited(self) -> None:
        """The server exited: kill its group now, and close its stdout if that does not end it."""
        process = self._process
        if process is None or self._closing:
            return
        kill_group(process.pid, signal.SIGKILL)
        asyncio.get_running_loop().call_later(_EOF_GRACE, self._end_stdout)

    def _end_stdout(self) -> None:
        process, protocol = self._process, self._protocol
        if process is None or protocol is None or protocol.stdout_closed or process.stdout is None:
            return
        log.warning("[%s] %s but its stdout stayed open; closing it", self.name, self._exit_detail())
        process.stdout.set_exception(TransportClosed(self._exit_detail()))

    def abandon(self, request_id: object) -> bool:
        return False  # one pipe for every request: no answer stream to close

    async def send(self, message: Message, headers: Mapping[str, str] | None = None) -> None:
        if UPSTREAM_TRACE.get() is not None:
            message, _ = traced(self.name, "stdio", message, None)
        process = self._require_process()
        stdin = process.stdin
        assert stdin is not None
        if stdin.is_closing():
            raise TransportClosed(self._exit_detail())
        with self._mapped:
            try:
                stdin.write(orjson.dumps(message) + b"\n")
                await stdin.drain()
            except (ConnectionError, BrokenPipeError) as exc:
                raise TransportClosed(self._exit_detail()) from exc

    async def receive(self) -> Received:
        process = self._require_process()
        stdout = process.stdout
        assert stdout is not None
        with self._mapped:
            while True:
                try:
                    line = await stdout.readline()
                except ValueError as exc:  # a line longer than the limit
                    raise TransportClosed(
                        f"sent a message larger than max_message_bytes ({self._limit})"
                    ) from exc
                if not line:
                    if process.returncode is None:  # EOF first: its exit status follows soon
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(process.wait(), 1.0)
                    raise TransportClosed(self._exit_detail())
                if line.isspace():
                    continue
                return screen(self._decode(line), self.name), None

    def _decode(self, line: bytes) -> object:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("[%s] wrote a stdout line that is not JSON: %.200r", self.name, line)
            what = "an unfinished line" if not line.endswith(b"\n") else "a line"
            raise ProtocolViolation(f"wrote {what} on stdout that is not JSON") from None

    def _pipe_failure(self, exc: BaseException) -> str:
        return f"failed on its pipes: {exc!r}"

    async def close(self) -> None:
        """Close stdin, then SIGTERM the group, then SIGKILL it: the spec's shutdown order."""
        self._closing = True
        process = self._process
        if process is None:
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        if process.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), self._grace / 2)
        if process.returncode is None:
            kill_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), self._grace)
        # Always sweep the group: grandchildren outlive a leader that exited on its own.
        kill_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), self._grace)
        if self._reaper is not None:
            self._reaper.forget(process.pid)
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._stderr_task, 1.0)

    def _require_process(self) -> asyncio.subprocess.Process:
        if self._process is None:
            raise TransportClosed("not started")
        return self._process

    def ended(self) -> str | None:
        """How the process ended, or None while it runs (the event loop records its exit as
        soon as it is reaped, before the pipes reach EOF)."""
        process = self._process
        if process is None or process.returncode is None:
            return None
        return self._exit_detail()

    def _exit_detail(self) -> str:
        process = self._process
        if process is None or process.returncode is None:
            return "closed its stdout"
        code = process.returncode
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    async def _relay_stderr(self) -> None:
        process = self._require_process()
        stderr = process.stderr
        assert stderr is not None
        relay = StderrRelay(self.name, logging.getLogger(f"portcullis.upstream.{self.name}"))
        try:
            while chunk := await stderr.read(_STDERR_CHUNK):
                relay.feed(chunk)
        except OSError as exc:
            log.debug("[%s] reading stderr failed: %r", self.name, exc)
        finally:
            relay.close()
