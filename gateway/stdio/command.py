"""``portcullis stdio``: serve one stdio client, with the gateway in this process or, with
``--url``, through a remote one (what ``mcp-remote`` does, without Node)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

from gateway.app import Gateway
from gateway.settings import SettingsError, find_settings_file, is_loopback, load_settings
from gateway.stdio.bridge import Bridge
from gateway.stdio.identity import HINT, GatewayTransport, StdioCredential, from_environment
from gateway.stdio.lines import MessageWriter, protocol_stdout, read_lines
from upstream.errors import TransportClosed
from upstream.transports.http_auth import CredentialsUnavailable

log = logging.getLogger("portcullis.stdio")

ANSWER_PATIENCE: Final = 600.0
"""Default seconds for an answer to start (and a JSON answer to end): the gateway's own
timeouts end a slow call first, with a proper error."""


def add_commands(commands: Any) -> None:
    stdio = commands.add_parser(
        "stdio",
        help="serve one MCP client over stdin/stdout (for clients that spawn their servers)",
        description="The gateway as a stdio MCP server: in this process (settings as for `serve`), "
        "or with --url a thin bridge to a remote gateway. The credential comes from "
        "PORTCULLIS_API_KEY, --token-file or --token-command.",
    )
    stdio.add_argument("--settings", help="settings file (default: $PORTCULLIS_SETTINGS or ./settings.toml)")
    stdio.add_argument("--url", help="forward to a remote gateway's MCP endpoint instead (thin mode)")
    stdio.add_argument("--token-file", help="file holding a bearer token (JWT), re-read when it changes")
    stdio.add_argument("--token-command", help="command printing a bearer token, run again when refused")
    stdio.add_argument("--log-file", help="append logs to this file instead of stderr")
    stdio.add_argument("--log-level", help="log level (default: the settings', or warning with --url)")
    stdio.add_argument(
        "--allow-insecure", action="store_true", help="allow a plain http:// --url that is not loopback"
    )
    stdio.add_argument(
        "--timeout", type=float, default=ANSWER_PATIENCE, help="seconds for an answer to start"
    )
    stdio.set_defaults(handler=run_stdio)


def run_stdio(args: argparse.Namespace) -> int:
    from gateway.logs import configure

    log_stream = _log_stream(args.log_file)
    if log_stream is None:
        return 2
    credential = from_environment(os.environ, args.token_file, args.token_command)
    if args.url:
        problem = url_problem(args.url, args.allow_insecure)
        if problem:
            print(f"portcullis stdio: {problem}", file=sys.stderr)
            return 2
        configure(args.log_level or "warning", "text", log_stream)
        return _run(lambda writer: _thin(args, credential, writer))
    try:
        path = find_settings_file(args.settings)
        settings = load_settings(path)
    except SettingsError as error:
        return _invalid(error)
    configure(args.log_level or settings.logging.level, settings.logging.format, log_stream)
    from gateway.stdio.local import local_gateway

    try:
        gateway, local_key = local_gateway(settings)
    except SettingsError as error:
        return _invalid(error)
    if local_key is not None and not credential.given:
        credential = StdioCredential(key=local_key)
    return _run(lambda writer: _local(args, gateway, credential, writer))


def url_problem(url: str, allow_insecure: bool) -> str | None:
    """Why ``url`` is no gateway to send a credential to, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"--url must be an http(s) URL of a gateway's MCP endpoint, not {url!r}"
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure:
        return (
            f"--url {url} is plain http to another host: the credential would cross the network in "
            "clear text; use https, or --allow-insecure on a network you trust"
        )
    return None


async def _thin(args: argparse.Namespace, credential: StdioCredential, writer: MessageWriter) -> int:
    await _bridge(args.url, None, credential, args.timeout, writer, name="remote")
    return 0


async def _local(
    args: argparse.Namespace, gateway: Gateway, credential: StdioCredential, writer: MessageWriter
) -> int:
    from gateway.stdio.local import LOCAL_URL, serve_locally

    async def bridge(socket_path: str) -> None:
        await _bridge(LOCAL_URL, socket_path, credential, args.timeout, writer, name="local")

    return await serve_locally(gateway, bridge)


async def _bridge(
    url: str,
    socket_path: str | None,
    credential: StdioCredential,
    patience: float,
    writer: MessageWriter,
    *,
    name: str,
) -> None:
    transport = GatewayTransport(
        credential,
        url,
        timeout=patience,
        sse_read_timeout=24 * 3600.0,  # a subscription stream may rightly stay silent for hours
        unix_socket=socket_path,
    )
    try:
        await transport.connect()
    except (CredentialsUnavailable, TransportClosed) as exc:
        await transport.close()
        log.error("stdio: %s; %s", exc, HINT)
        raise SystemExit(2) from None
    log.info("stdio: serving one client through the %s gateway at %s", name, url)
    await Bridge(transport, writer).run(read_lines(sys.stdin.buffer))


def _run(main: Callable[[MessageWriter], Coroutine[Any, Any, int]]) -> int:
    """Run ``main`` with stdout reserved for protocol (its writer is ``main``'s); SIGTERM and
    SIGINT stop it like the end of stdin does."""
    writer = MessageWriter(protocol_stdout())

    async def guarded() -> int:
        task = asyncio.ensure_future(main(writer))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)
        try:
            code: int = await task
        except asyncio.CancelledError:
            code = 0
        return code

    return asyncio.run(guarded())


def _log_stream(path: str | None) -> TextIO | None:
    if path is None:
        return sys.stderr
    try:
        return open(path, "a", buffering=1)
    except OSError as exc:
        print(f"portcullis stdio: cannot write the log file {path} ({exc.strerror})", file=sys.stderr)
        return None


def _invalid(error: SettingsError) -> int:
    print(f"portcullis stdio: invalid settings in {error.source}:", file=sys.stderr)
    for problem in error.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2
