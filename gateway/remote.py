"""Settings of an HTTP upstream turned into a transport factory for its supervisor."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import partial

from gateway.settings import ServerSettings, SettingsError
from upstream.transports.base import Transport
from upstream.transports.http import http_transport
from upstream.transports.http_support import tls_context


def http_connector(name: str, server: ServerSettings) -> Callable[[], Transport]:
    """A factory of fresh transports for the ``url`` server ``name``. The TLS context is built
    once, here, before serving: its files are read off the event loop, and a bad file stops the
    start with a message naming the key."""
    assert server.url is not None
    ssl_context: ssl.SSLContext | None = None
    if server.tls is not None:
        tls = server.tls
        try:
            ssl_context = tls_context(
                ca_bundle=tls.ca_bundle,
                client_cert=tls.client_cert,
                client_key=tls.client_key,
                verify=tls.verify,
            )
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(
                "settings",
                [
                    f"servers.{name}.tls: cannot load the TLS files ({exc}); check the paths, that "
                    "they are PEM, and that client_key matches client_cert"
                ],
            ) from None
    return partial(
        http_transport,
        name,
        server.url,
        transport=server.transport,
        headers=dict(server.headers),
        timeout=server.timeout,
        sse_read_timeout=server.sse_read_timeout,
        ssl_context=ssl_context,
        max_message_bytes=server.max_message_bytes,
    )


def tls_file_problems(name: str, server: ServerSettings) -> list[str]:
    """Missing or unreadable TLS files of one server, for ``check`` and ``serve``."""
    problems = []
    if server.tls is not None:
        for key in ("ca_bundle", "client_cert", "client_key"):
            path = getattr(server.tls, key)
            if path is None:
                continue
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                problems.append(
                    f"servers.{name}.tls.{key}: cannot read {path!r} ({exc.strerror}); fix the path"
                )
    return problems
