"""``portcullis serve | check | keygen | reload`` and the sub-commands of pins, plugins and the tenancy
(``projects | users | keys``); also ``python -m gateway``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar

from gateway import __version__
from gateway.local_keys import new_api_key
from gateway.settings import (
    Settings,
    SettingsError,
    command_problems,
    find_settings_file,
    is_loopback,
    load_settings,
)

if TYPE_CHECKING:
    import uvicorn

    from gateway.app import Gateway

log = logging.getLogger("portcullis")

SHUTDOWN_GRACE = 2
"""Seconds calls in flight get to finish once uvicorn stops (SIGINT, a second SIGTERM) before they
are answered with an error; the first SIGTERM drains for ``[ops] drain_timeout`` first."""


def _load(path_arg: str | None) -> tuple[Settings, Path | None]:
    path = find_settings_file(path_arg)
    return load_settings(path), path


def _report(error: SettingsError) -> int:
    print(f"portcullis: invalid settings in {error.source}:", file=sys.stderr)
    for problem in error.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


def check(args: argparse.Namespace) -> int:
    from gateway.identity import identity_warnings
    from gateway.parts import build_mcp_stack, load_plugins
    from gateway.providers import provider_problems
    from gateway.settings.gateway_tools import prefix_problems
    from gateway.tenancy import settings_problems
    from gateway.tenancy_cli import report

    try:
        settings, path = _load(args.settings)

        async def nothing(*_: object) -> None:
            return None

        build_mcp_stack(settings, nothing)
        plugins = load_plugins(settings)
        commands = command_problems(settings) + provider_problems(settings) + settings_problems(settings)
        commands += prefix_problems(settings.gateway_tools, settings.prefixes, settings.routing.separator)
        if commands:
            raise SettingsError(str(path or "built-in defaults"), commands)
    except SettingsError as error:
        return _report(error)
    problems = serving_problems(settings)
    where = path or "built-in defaults"
    if problems:
        print(f"portcullis: {where} is valid, but `serve` would refuse it:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    servers = ", ".join(settings.servers) or "none"
    loaded = f"; {len(plugins.plugins)} plugins from {plugins.path}" if plugins is not None else ""
    print(f"{where}: OK ({len(settings.servers)} servers: {servers}{loaded})")
    lines, tenancy = report(settings)
    print("\n".join(lines))
    for warning in identity_warnings(settings):
        print(f"portcullis: warning: {warning}", file=sys.stderr)
    if tenancy:
        print("portcullis: the tenancy has problems:", file=sys.stderr)
        for problem in tenancy:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


def serving_problems(settings: Settings) -> list[str]:
    """What makes settings unsafe or unsupported to serve, as fixes to make."""
    from gateway.local_keys import other_ways_in
    from gateway.remote import tls_file_problems
    from gateway.tenancy import has_keys

    problems = []
    loopback = is_loopback(settings.host)
    if not settings.auth.enabled and not loopback:
        problems.append(
            f"auth.enabled = false is only allowed on a loopback address, not on {settings.host!r}; "
            "enable auth or listen on 127.0.0.1"
        )
    if settings.auth.enabled and not loopback and has_keys(settings) is False and not other_ways_in(settings):
        problems.append(
            f"no auth.api_keys (nor users' keys, in settings or the tenancy store), no [auth.oidc] and "
            f"no auth provider configured while listening on {settings.host!r}; "
            "run `portcullis keygen` and add the [[auth.api_keys]] it prints, or configure [auth.oidc]"
        )
    for name, server in settings.servers.items():
        problems += tls_file_problems(name, server)
    return problems


def serve(args: argparse.Namespace) -> int:
    from gateway.logs import configure

    try:
        settings, path = _load(args.settings)
        if args.host is not None:
            settings.host = args.host
        if args.port is not None:
            settings.port = args.port
        _check_tenancy(settings, path)
    except SettingsError as error:
        return _report(error)
    configure(settings.logging.level, settings.logging.format)
    problems = serving_problems(settings)
    if problems:
        for problem in problems:
            log.error("refusing to serve: %s", problem)
        return 2
    listening = listen(settings.host, settings.port)
    if isinstance(listening, str):
        log.error("%s", listening)
        return 2
    settings.port = listening.getsockname()[1]  # the real one, when asked for port 0
    with listening:
        return _serve_on(listening, settings, path, partial(_reread, args, path, settings))


def _reread(args: argparse.Namespace, path: Path | None, running: Settings) -> Settings:
    """The settings file again, for a reload: checked as ``serve`` checks it (raises
    :class:`SettingsError`); what the command line set stays as it was."""
    settings = load_settings(path)
    if args.host is not None:
        settings.host = running.host
    if args.port is not None:
        settings.port = running.port
    _check_tenancy(settings, path)
    problems = serving_problems(settings)
    if problems:
        raise SettingsError(str(path or "built-in defaults"), problems)
    return settings


def _check_tenancy(settings: Settings, path: Path | None) -> None:
    """Users of unknown projects, a hash declared twice...: refused before anything starts."""
    from gateway.tenancy import settings_problems

    problems = settings_problems(settings)
    if problems:
        raise SettingsError(str(path or "built-in defaults"), problems)


def listen(host: str, port: int) -> socket.socket | str:
    """The listening socket, bound before anything is printed (a key printed for a gateway
    that then fails to start is noise); or one line saying why not and what to do."""
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        return f"cannot listen on {where} ({exc}); pick another address with --host"
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return f"{where} is already in use; stop the other process or pick another port with --port"
        return (
            f"cannot listen on {where} ({exc.strerror}); pick another address with --host or port with --port"
        )
    return sock


def _serve_on(
    sock: socket.socket, settings: Settings, path: Path | None, reread: Callable[[], Settings]
) -> int:
    import uvicorn

    from gateway.app import Gateway
    from gateway.reload import pid_path, remove_pid

    try:
        gateway = Gateway(settings, key_hashes=_key_hashes(settings))
    except SettingsError as error:
        return _report(error)
    log.info(
        "portcullis %s serving http://%s:%d/mcp (settings: %s; servers: %s)",
        __version__,
        settings.host,
        settings.port,
        path or "built-in defaults",
        ", ".join(settings.servers) or "none",
    )
    config = uvicorn.Config(
        gateway.asgi(),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE + 2,
        server_header=False,
    )
    pid_file = pid_path(settings, path)
    server = _clean_exit_server(config, gateway, reread, pid_file)
    try:
        server.run(sockets=[sock])
    finally:
        if pid_file is not None:
            remove_pid(pid_file)
    return 0 if server.started else 1


def _key_hashes(settings: Settings) -> dict[str, str]:
    """The configured keys by hash, and the local key of this run when one is needed."""
    from gateway.local_keys import key_hashes

    hashes, local_key = key_hashes(settings)
    if local_key is not None:
        # Printed once, to the terminal only; never logged (logs mask pcs_ keys anyway).
        print(
            f"\nNo API keys configured: this run accepts the local key\n\n    {local_key}\n\n"
            f"Send it as 'Authorization: Bearer <key>'. Configure your own with "
            f"`portcullis keygen`.\n",
            file=sys.stderr,
            flush=True,
        )
    return hashes


def _clean_exit_server(
    config: uvicorn.Config, gateway: Gateway, reread: Callable[[], Settings], pid_file: Path | None
) -> uvicorn.Server:
    """A uvicorn server that exits 0 on a clean stop, answering calls in flight first; that
    drains on SIGTERM and reloads its settings on SIGHUP (docs/operations.md)."""
    import uvicorn

    from gateway.reload import reload_from, write_pid

    class CleanExitServer(uvicorn.Server):
        """uvicorn re-raises the signal that stopped it once its graceful shutdown is done, so a
        clean SIGTERM/SIGINT stop would end as death by SIGTERM or a KeyboardInterrupt traceback
        instead of the exit status 0 returned below."""

        loop: asyncio.AbstractEventLoop | None = None
        tasks: ClassVar[set[asyncio.Task[None]]] = set()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.should_exit:
                return
            self.loop = asyncio.get_running_loop()
            self.loop.add_signal_handler(signal.SIGHUP, lambda: self._later(reload_from(gateway, reread)))
            if pid_file is not None:
                write_pid(pid_file)

        def _later(self, work: Coroutine[Any, Any, None]) -> None:
            task = asyncio.create_task(work)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            """The first SIGTERM drains while still listening (:func:`_drain`); again, or SIGINT: stop."""
            if sig == signal.SIGTERM and self.loop is not None and not gateway.draining.started:
                gateway.draining.begin()  # /readyz says 503 from now on
                self.loop.call_soon_threadsafe(lambda: self._later(_drain(self, gateway)))
                return
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            """While uvicorn stops listening and waits, the gateway answers every call still
            running before uvicorn's timeout would cancel it into a plain-text 500."""
            draining = asyncio.create_task(gateway.drain(SHUTDOWN_GRACE))
            try:
                await super().shutdown(sockets)
            finally:
                await draining

    return CleanExitServer(config)


async def _drain(server: uvicorn.Server, gateway: Gateway) -> None:
    """SIGTERM, still listening: calls in flight finish (or are answered "retry" after ``[ops]
    drain_timeout``), open streams end with a retry hint; then uvicorn stops, upstreams close."""
    gateway.draining.announce()
    await gateway.drain(gateway.settings.ops.drain_timeout)
    if gateway.draining.end_streams(gateway.live):
        await asyncio.sleep(0.1)  # the streams write their last chunk
    server.should_exit = True


def keygen(args: argparse.Namespace) -> int:
    from middleware.auth.api_key import hash_key

    key = new_api_key()
    print(f"API key for {args.principal} (give it to the client; it is not stored):\n\n    {key}\n")
    print("Add to settings.toml:\n")
    print(f'[[auth.api_keys]]\nprincipal = "{args.principal}"\nsha256 = "{hash_key(key)}"')
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="portcullis", description="Security gateway for MCP.")
    root.add_argument("--version", action="version", version=f"portcullis {__version__}")
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="start the gateway")
    run.add_argument("--settings", help="settings file (default: $PORTCULLIS_SETTINGS or ./settings.toml)")
    run.add_argument("--host", help="listen address (default from settings: 127.0.0.1)")
    run.add_argument("--port", type=int, help="listen port (default from settings: 8787)")
    run.set_defaults(handler=serve)
    validate = commands.add_parser("check", help="validate a settings file and name every bad key")
    validate.add_argument("--settings", help="settings file to check")
    validate.set_defaults(handler=check)
    make_key = commands.add_parser("keygen", help="make an API key and the hash to configure")
    make_key.add_argument("--principal", default="client", help="who the key identifies")
    make_key.set_defaults(handler=keygen)
    from gateway import admin_cli, pins_cli, plugins_cli, tenancy_cli
    from gateway.client_setup.cli import add_commands as client_setup_commands
    from gateway.reload import reload_command
    from gateway.stdio.command import add_commands as stdio_commands

    plugins_cli.add_commands(commands)
    pins_cli.add_commands(commands)
    tenancy_cli.add_commands(commands)
    reload_command(commands)
    admin_cli.add_commands(commands)
    stdio_commands(commands)
    client_setup_commands(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.handler(args)
    return code
