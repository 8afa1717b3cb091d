"""The gateway as an OAuth 2.1 resource server (MCP authorization, RFC 9728): what each endpoint
calls itself, which scopes it needs, the protected-resource metadata documents, and the
``WWW-Authenticate`` challenges that point clients at them.

Every MCP endpoint is its own resource: ``/mcp`` and each ``/servers/NAME/mcp`` have a canonical
URL (the base URL plus the path), a metadata document at ``/.well-known/oauth-protected-resource``
plus the path, and the scopes a token needs there. The root document describes ``/mcp``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from middleware.protocol.http import ASGIReceive, ASGIScope, ASGISend, header, send_json

WELL_KNOWN = "/.well-known/oauth-protected-resource"
_HOST = re.compile(rb"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_MAX_HOSTS = 64
_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f-\uffff]')


def canonical(url: str) -> str:
    """``url`` as RFC 8707 compares resources: scheme and host in lower case, no trailing slash."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def endpoint_path(scope: ASGIScope) -> str:
    """The request path as the gateway routes it (a trailing slash does not count)."""
    path: str = scope["path"]
    return path.rstrip("/") or "/"


def _quoted(value: str) -> str:
    """A safe RFC 7235 quoted-string: our own texts, with anything unsafe replaced."""
    return '"' + _UNSAFE.sub("?", value) + '"'


@dataclass(frozen=True)
class ProtectedResource:
    """This gateway's endpoints as OAuth protected resources."""

    authorization_servers: tuple[str, ...]
    base_url: str | None = None
    """The configured public base URL; taken from the request's scheme and Host when None."""
    required_scopes: tuple[str, ...] = ()
    path_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Extra scopes by endpoint path (``/servers/NAME/mcp``)."""
    scopes_supported: tuple[str, ...] | None = None
    name: str = "Portcullis MCP gateway"
    _needed: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False, default_factory=dict)
    _bases: dict[tuple[str, bytes], str] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.base_url is not None:
            object.__setattr__(self, "base_url", canonical(self.base_url))
        self._needed.update((path, self._combined(extra)) for path, extra in self.path_scopes.items())

    def _combined(self, extra: Sequence[str]) -> tuple[str, ...]:
        return (*self.required_scopes, *(s for s in extra if s not in self.required_scopes))

    def base(self, scope: ASGIScope) -> str:
        """The canonical base URL (lower-case scheme and host) that requests name."""
        if self.base_url is not None:
            return self.base_url
        host = header(scope, b"host") or b""
        scheme = scope.get("scheme", "http")
        bases = self._bases
        known = bases.get((scheme, host))
        if known is not None:
            return known
        base = f"{scheme}://{(host if _HOST.match(host) else b'localhost').decode().lower()}"
        if len(bases) < _MAX_HOSTS:  # Host is validated by the edge: a few values in practice
            bases[scheme, host] = base
        return base

    def resource(self, scope: ASGIScope, path: str) -> str:
        """The canonical URL of the endpoint at ``path``: what a token's audience names."""
        return self.base(scope) + path

    def metadata_url(self, scope: ASGIScope, path: str) -> str:
        return self.base(scope) + WELL_KNOWN + ("" if path == "/" else path)

    def scopes_for(self, path: str) -> tuple[str, ...]:
        """The scopes a token needs on the endpoint at ``path``."""
        return self._needed.get(path, self.required_scopes)

    def document(self, scope: ASGIScope, path: str) -> dict[str, object]:
        """The RFC 9728 metadata of the endpoint at ``path``."""
        name = self.name
        if path.startswith("/servers/"):
            name = f"{name}: server {path.split('/')[2]}"
        supported = self.scopes_supported if self.scopes_supported is not None else self.scopes_for(path)
        return {
            "resource": self.resource(scope, path),
            "authorization_servers": list(self.authorization_servers),
            "scopes_supported": list(supported),
            "bearer_methods_supported": ["header"],
            "resource_name": name,
        }

    def challenge(
        self,
        scope: ASGIScope,
        *,
        error: str | None = None,
        description: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> bytes:
        """The ``WWW-Authenticate`` value of a refusal at this request's path (RFC 6750 section 3,
        RFC 9728 section 5.1): where the metadata is, and the scopes the request needs."""
        path = endpoint_path(scope)
        params = []
        if error is not None:
            params.append(f"error={_quoted(error)}")
            if description:
                params.append(f"error_description={_quoted(description)}")
        needed = self.scopes_for(path) if scopes is None else tuple(scopes)
        if needed:
            params.append(f"scope={_quoted(' '.join(needed))}")
        params.append(f"resource_metadata={_quoted(self.metadata_url(scope, path))}")
        return ("Bearer " + ", ".join(params)).encode("latin-1")


class MetadataDocument:
    """The ASGI app answering ``GET`` on one metadata path (no authentication: it is public)."""

    def __init__(self, resource: ProtectedResource, path: str) -> None:
        self.resource = resource
        self.path = path

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "Method Not Allowed"}, [(b"allow", b"GET, HEAD")])
            return
        headers = [(b"cache-control", b"public, max-age=3600"), (b"access-control-allow-origin", b"*")]
        await send_json(send, 200, self.resource.document(scope, self.path), headers)


def metadata_paths(endpoint_paths: Sequence[str]) -> dict[str, str]:
    """Each metadata document's path, with the endpoint it describes; the root one for ``/mcp``."""
    paths = {WELL_KNOWN + path: path for path in endpoint_paths}
    if "/mcp" in endpoint_paths:
        paths[WELL_KNOWN] = "/mcp"
    return paths
