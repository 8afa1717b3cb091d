"""Settings of an HTTP upstream turned into a transport factory for its supervisor."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from gateway.settings import ServerSettings, SettingsError
from gateway.settings.servers import OAuthSettings
from upstream.pool.credential_refs import is_reference
from upstream.pool.credentials import credentials_factory
from upstream.pool.oauth_client import OAuthClientConfig
from upstream.transports.base import Transport
from upstream.transports.http import http_transport
from upstream.transports.http_support import tls_context


def http_connector(name: str, server: ServerSettings) -> Callable[[], Transport]:
    """A factory of fresh transports for the ``url`` server ``name``. The TLS context is built
    once, here, before serving: its files are read off the event loop, and a bad file stops the
    start with a message naming the key. Headers that name secrets, and OAuth tokens, are the
    credentials each connection gets (read or fetched when it connects, see
    :mod:`upstream.pool.credentials`)."""
    assert server.url is not None
    url = server.url
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
    literal = {key: value for key, value in server.headers.items() if not is_reference(value)}
    references = {key: value for key, value in server.headers.items() if is_reference(value)}
    oauth = server.oauth
    credentials = credentials_factory(
        name,
        references,
        oauth_config(name, oauth) if oauth is not None else None,
        oauth.grant if oauth is not None else "client_credentials",
    )

    def connect() -> Transport:
        return http_transport(
            name,
            url,
            transport=server.transport,
            headers=literal,
            timeout=server.timeout,
            sse_read_timeout=server.sse_read_timeout,
            ssl_context=ssl_context,
            max_message_bytes=server.max_message_bytes,
            auth=credentials() if credentials is not None else None,
        )

    return connect


def oauth_config(name: str, oauth: OAuthSettings) -> OAuthClientConfig:
    """``[servers.NAME.oauth]`` as the upstream OAuth client takes it."""
    options = oauth.model_dump(exclude={"grant", "client_secret"})
    secret = oauth.client_secret.get_secret_value() if oauth.client_secret is not None else None
    return OAuthClientConfig(server=name, client_secret=secret, **options)


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
