"""The gateway in this process, on a Unix socket only its own bridge can reach.

A stdio client gets the very gateway ``serve`` runs (same settings, middlewares, plugins,
guardrails, policies, upstreams), on a socket in a fresh 0700 directory instead of a TCP port:
nothing else on the machine can connect, and two clients can each spawn one without fighting
over a port. The admin listener stays off (it belongs to a long-running ``serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import Final

import uvicorn

from gateway.app import Gateway
from gateway.local_keys import key_hashes
from gateway.settings import Settings

log = logging.getLogger("portcullis.stdio")

LOCAL_URL: Final = "http://localhost/mcp"
"""The URL the bridge asks on the socket (the Host a loopback gateway accepts)."""
START_PATIENCE: Final = 120.0


@contextlib.contextmanager
def private_socket() -> Iterator[tuple[socket.socket, str]]:
    """A listening Unix socket in a new directory only this user can enter; removed after."""
    directory = tempfile.mkdtemp(prefix="portcullis-stdio-")
    path = os.path.join(directory, "gateway.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(128)
        yield sock, path
    finally:
        sock.close()
        shutil.rmtree(directory, ignore_errors=True)


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the stdio command owns the signals, and stdin's
    end, not a signal, is how a stdio server is normally told to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def local_gateway(settings: Settings) -> tuple[Gateway, str | None]:
    """The gateway ``serve`` would build from ``settings``, without its admin listener, and the
    key of this run when the settings configure none. Built before the event loop runs, as
    ``serve`` builds it (the tenancy store is read synchronously)."""
    settings.admin.enabled = False
    hashes, local_key = key_hashes(settings)
    return Gateway(settings, key_hashes=hashes), local_key


async def serve_locally(gateway: Gateway, bridge: Callable[[str], Awaitable[None]]) -> int:
    """Start ``gateway`` on a private socket, run ``bridge(socket_path)`` until it returns,
    then stop the gateway as ``serve`` stops (calls in flight answered, upstreams closed)."""
    with private_socket() as (sock, path):
        config = uvicorn.Config(
            gateway.asgi(),
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        server = QuietServer(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]), name="stdio-gateway")
        if not await _started(server, serving):
            log.error("stdio: the gateway did not start (see above)")
            return 1
        try:
            await bridge(path)
        finally:
            server.should_exit = True
            await serving
    return 0


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> bool:
    async with asyncio.timeout(START_PATIENCE):
        while not server.started:
            if serving.done():
                return False
            await asyncio.sleep(0.02)
    return True
