"""The admin REST API: its own listener and credential, off by default (issue 13).

The credential is separate from client API keys: the SHA-256 of an admin token (as API keys are
configured), or the token itself by reference (``${VAR}`` or ``file:/path``) so that no literal
secret sits in the settings file. A non-loopback admin listener without a credential is refused.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.settings.base import _Strict, key_hash


def _loopback(host: str) -> bool:
    from gateway.settings.loading import is_loopback  # here: loading imports the model

    return is_loopback(host)


def _reference_problem(token: SecretStr | None) -> str | None:
    """Checked on the whole table: a field's error would quote the value, maybe a literal token."""
    from upstream.pool.credential_refs import is_reference, reference_problem

    if token is None:
        return None
    text = token.get_secret_value()
    if not is_reference(text):
        return "must name the token, not hold it: ${VAR} or file:/path; or set token_sha256 instead"
    return reference_problem(text)


class AdminSettings(_Strict):
    """The admin REST API: off by default, on its own listener with its own credential."""

    enabled: bool = Field(False, description="serve the admin REST API on its own listener")
    host: str = Field("127.0.0.1", description="the admin listener's address; keep it private")
    port: int = Field(8788, ge=0, le=65535, description="the admin listener's port (not the MCP one)")
    token_sha256: str | None = Field(
        None, description="SHA-256 of the admin token (`portcullis admin token` makes both)"
    )
    token: SecretStr | None = Field(
        None, description="the admin token by reference only: ${VAR} or file:/absolute/path"
    )

    @field_validator("token_sha256")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        return None if value is None else key_hash(value)

    @model_validator(mode="after")
    def _credential(self) -> AdminSettings:
        if self.token is not None and self.token_sha256 is not None:
            raise ValueError("set token_sha256 or token, not both")
        problem = _reference_problem(self.token)
        if problem:
            raise ValueError(f"token: {problem}")
        if self.enabled and not self.has_credential and not _loopback(self.host):
            raise ValueError(
                f"listening on {self.host!r} needs a credential; set admin.token_sha256 "
                "(`portcullis admin token` makes one) or listen on 127.0.0.1"
            )
        return self

    @property
    def has_credential(self) -> bool:
        return self.token is not None or self.token_sha256 is not None
