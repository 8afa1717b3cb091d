"""The HTTP tier's authentication: every configured way in, asked in the configured order.

The first authenticator that names a :class:`Principal` wins; one that does not know the
credential answers None and the next is asked. One that recognises a bad credential
(:class:`AuthRefused`) or fails outright ends the chain with a refusal: a broken authenticator
never opens access, and a refused token is never retried as something else. Refusals carry the
challenge MCP clients follow (``WWW-Authenticate`` with ``resource_metadata`` and ``scope``) and a
JSON-RPC error body, and leave one log line without the credential.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from middleware.auth.chain import Authenticator, AuthRefused
from middleware.auth.resource_metadata import ProtectedResource
from middleware.protocol import ANONYMOUS, PRINCIPAL_KEY, Principal
from middleware.protocol.audit import AUDIT_LOGGER, AUDIT_TEMPLATE, http_audit_record
from middleware.protocol.errors import GatewayError, NotAuthenticated, PolicyError
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend, header, send_error

log = logging.getLogger("portcullis.http")

_REALM = b'Bearer realm="portcullis"'


class InsufficientScope(PolicyError):
    """The token is good but does not grant what this endpoint needs: step up (403)."""


def log_refusal(scope: ASGIScope, reason: str, status: int = 401) -> None:
    """One line per refused request, the same fields as the edge's; never the credential itself."""
    client = scope.get("client")
    log.info(
        "refused %(method)s %(path)s status=%(status)d reason=%(reason)s client=%(client)s",
        {
            "method": scope["method"],
            "path": scope["path"][:200],
            "status": status,
            "reason": reason,
            "client": f"{client[0]}:{client[1]}" if client else "-",
        },
    )
    verdict = "forbidden" if status == 403 else "unauthenticated"
    record = http_audit_record(verdict, by="authentication", reason=reason, method="-", target=scope["path"])
    logging.getLogger(AUDIT_LOGGER).warning(AUDIT_TEMPLATE, record)


def _presented(scope: ASGIScope) -> bool:
    return header(scope, b"authorization") is not None or header(scope, b"x-api-key") is not None


class Authenticate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticators: Sequence[Authenticator],
        enabled: bool = True,
        public_paths: Iterable[str] = (),
        resource: ProtectedResource | None = None,
    ) -> None:
        self.app = app
        self.authenticators = tuple(authenticators)
        self.enabled = enabled
        self.public_paths = frozenset(public_paths)
        self.resource = resource
        """The OAuth resource-server description; None when no token issuer is configured."""
        self.kind = "bearer token or API key" if resource is not None else "API key"

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.enabled:
            scope[PRINCIPAL_KEY] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in self.public_paths or path.rstrip("/") in self.public_paths:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._principal(scope)
        except AuthRefused as refused:
            await self._refuse(scope, send, refused)
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)

    async def _principal(self, scope: ASGIScope) -> Principal:
        """The first principal an authenticator names; :class:`AuthRefused` otherwise."""
        for authenticator in self.authenticators:
            try:
                principal = await authenticator.authenticate(scope)
            except AuthRefused:
                raise
            except Exception as exc:  # boundary: a broken authenticator refuses, never opens
                log.warning(
                    "authenticator %s failed (%s); refusing the request",
                    authenticator.name,
                    type(exc).__name__,
                )
                raise AuthRefused(f"the {authenticator.name} authenticator failed", error="") from None
            if principal is not None:
                return principal
        if _presented(scope):
            raise AuthRefused(f"the {self.kind} is not valid")
        raise AuthRefused(f"no {self.kind} was presented", error="")

    async def _refuse(self, scope: ASGIScope, send: ASGISend, refused: AuthRefused) -> None:
        log_refusal(scope, refused.reason, refused.status)
        error: GatewayError
        if refused.status == 403:
            error = InsufficientScope(refused.reason, data={"scope": " ".join(refused.scopes)})
        else:
            error = NotAuthenticated(f"{refused.reason}; {self._how()}")
        await send_error(send, error, headers=[(b"www-authenticate", self._challenge(scope, refused))])

    def _challenge(self, scope: ASGIScope, refused: AuthRefused) -> bytes:
        if self.resource is None:
            return _REALM
        scopes = refused.scopes or None
        if refused.error:
            return self.resource.challenge(
                scope, error=refused.error, description=refused.reason, scopes=scopes
            )
        return self.resource.challenge(scope, scopes=scopes)

    def _how(self) -> str:
        if self.resource is None:
            return "send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        issuers = " or ".join(self.resource.authorization_servers)
        return f"send 'Authorization: Bearer <token>' with an access token from {issuers}, or an API key"
