"""Where replicas share state: one Redis for every feature that can use it."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, field_validator

from gateway.settings.base import _Strict, redis_url
from gateway.settings.errors import SettingsError
from upstream.pool.credential_refs import SecretMissing, reference_problem, resolve


class RedisSettings(_Strict):
    """The one Redis every replica shares: sessions, keys, limits, caches, pins."""

    url: str | None = Field(
        None,
        description="redis://, rediss:// or unix:// URL shared by every replica (keys, revocations, "
        "rate-limit counts); everything stays in this process (and the local state file) when unset",
    )
    prefix: str = Field("portcullis:", description="prefix of every key the gateway writes")
    password: str | None = Field(
        None,
        description="Redis's password, named rather than written: ${VAR} or file:/path (read at "
        "start; it stays out of the URL, the logs and exports)",
    )

    @field_validator("url")
    @classmethod
    def _is_redis(cls, value: str | None) -> str | None:
        return redis_url(value)

    @field_validator("password")
    @classmethod
    def _named_secret(cls, value: str | None) -> str | None:
        if value is not None:
            problem = reference_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @property
    def connect_url(self) -> str | None:
        """``url`` with the password read now; raises :class:`SettingsError` naming the key when
        it cannot be read."""
        if self.url is None or self.password is None:
            return self.url
        try:
            secret = resolve(self.password, "redis.password", header=True)
        except SecretMissing as exc:
            raise SettingsError("settings", [exc.detail]) from None
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            query = f"{parts.query}&" if parts.query else ""
            return urlunsplit(parts._replace(query=f"{query}password={quote(secret, safe='')}"))
        host = parts.netloc.rpartition("@")[2]
        user = quote(parts.username or "", safe="")
        return urlunsplit(parts._replace(netloc=f"{user}:{quote(secret, safe='')}@{host}"))
