"""Where replicas share state: one Redis for every feature that can use it."""

from __future__ import annotations

from pydantic import Field, field_validator

from gateway.settings.base import _Strict, redis_url


class RedisSettings(_Strict):
    url: str | None = Field(
        None,
        description="redis://, rediss:// or unix:// URL shared by every replica (keys, revocations, "
        "rate-limit counts); everything stays in this process (and the local state file) when unset",
    )
    prefix: str = Field("portcullis:", description="prefix of every key the gateway writes")

    @field_validator("url")
    @classmethod
    def _is_redis(cls, value: str | None) -> str | None:
        return redis_url(value)
