"""Guardrail providers that ask a service: OpenAI's moderation endpoint, Enkrypt's guardrails API,
or a webhook of your own. None is on unless configured (``[[plugins.guardrails]]``).

Each call is bounded by ``timeout`` (seconds); when the service fails, times out or answers
something unreadable, ``fail_mode`` decides: ``closed`` (the default) blocks the call,
``open`` lets it through. Either way the failure is logged, never the content.

- ``OpenAIModeration``: ``POST {base_url}/moderations`` with ``{"model", "input"}``; a category
  flagged with a score at or above ``threshold`` blocks.
- ``EnkryptGuardrails``: ``POST {base_url}/guardrails/detect`` with the ``apikey`` header and
  ``{"text", "detectors"}``, as Enkrypt's public documentation gives it; a detector whose
  ``summary`` entry is set (a count or a list of labels) blocks.
- ``WebhookGuardrail``: ``POST url`` with ``{"content", "direction", "tool_name", "server_name"}``,
  signed: ``X-Portcullis-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>" with secret>`` and
  ``X-Portcullis-Timestamp``; it answers ``{"allow": bool, "reason": str, "type": str}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import Any

import aiohttp
import orjson

from middleware.providers.models import (
    GuardrailAction,
    GuardrailProvider,
    GuardrailRequest,
    GuardrailResponse,
    GuardrailViolation,
    ViolationType,
)

log = logging.getLogger("portcullis.guardrails")

OPENAI_TYPES = {"sexual": ViolationType.NSFW_CONTENT, "sexual/minors": ViolationType.NSFW_CONTENT}
ENKRYPT_TYPES = {
    "injection_attack": ViolationType.INJECTION_ATTACK,
    "toxicity": ViolationType.TOXIC_CONTENT,
    "nsfw": ViolationType.NSFW_CONTENT,
    "pii": ViolationType.PII,
    "keyword_detected": ViolationType.KEYWORD_VIOLATION,
    "policy_violation": ViolationType.POLICY_VIOLATION,
    "bias": ViolationType.BIAS,
    "sponge_attack": ViolationType.SPONGE_ATTACK,
}
DEFAULT_DETECTORS = {
    "injection_attack": {"enabled": True},
    "toxicity": {"enabled": True},
    "nsfw": {"enabled": True},
}


def _allow() -> GuardrailResponse:
    return GuardrailResponse(is_safe=True, action=GuardrailAction.ALLOW)


def _block(violations: list[GuardrailViolation], provider: str) -> GuardrailResponse:
    return GuardrailResponse(
        is_safe=False, action=GuardrailAction.BLOCK, violations=violations, metadata={"provider": provider}
    )


class _RemoteGuardrail:
    """What the three share: one pooled client, the timeout and the fail mode."""

    name = "remote"

    def __init__(self, config: dict[str, Any]) -> None:
        self.timeout = float(config.get("timeout", 5.0))
        self.fail_open = str(config.get("fail_mode", "closed")) == "open"
        self._http: aiohttp.ClientSession | None = None

    async def validate(self, request: GuardrailRequest) -> GuardrailResponse:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.ask(request)
        except (
            TimeoutError,
            aiohttp.ClientError,
            OSError,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
        ) as exc:
            log.warning(
                "%s guardrail unavailable (%s); failing %s",
                self.name,
                type(exc).__name__,
                "open" if self.fail_open else "closed",
            )
            if self.fail_open:
                return _allow()
            reason = f"the {self.name} guardrail could not check this content"
            return _block([GuardrailViolation(ViolationType.CUSTOM, 1.0, reason)], self.name)

    async def ask(self, request: GuardrailRequest) -> GuardrailResponse:
        raise NotImplementedError

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Any:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        async with self._http.post(
            url, data=body, headers={"Content-Type": "application/json", **headers}
        ) as response:
            response.raise_for_status()
            return orjson.loads(await response.read())


class _Provider(GuardrailProvider):
    guardrail: type[_RemoteGuardrail]
    required: tuple[str, ...] = ()

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def get_name(self) -> str:
        return self.guardrail.name

    def get_version(self) -> str:
        return "1.0.0"

    def create_input_guardrail(self, config: dict[str, Any]) -> _RemoteGuardrail:
        return self.guardrail({**self.config, **config})

    def create_output_guardrail(self, config: dict[str, Any]) -> _RemoteGuardrail:
        return self.guardrail({**self.config, **config})

    def get_required_config_keys(self) -> list[str]:
        return list(self.required)


class _OpenAI(_RemoteGuardrail):
    name = "openai-moderation"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.api_key = str(config["api_key"])
        self.url = str(config.get("base_url", "https://api.openai.com/v1")).rstrip("/") + "/moderations"
        self.model = str(config.get("model", "omni-moderation-latest"))
        self.threshold = float(config.get("threshold", 0.5))

    async def ask(self, request: GuardrailRequest) -> GuardrailResponse:
        body = orjson.dumps({"model": self.model, "input": request.content})
        answer = await self.post(self.url, body, {"Authorization": f"Bearer {self.api_key}"})
        result = answer["results"][0]
        scores = result.get("category_scores") or {}
        violations = [
            GuardrailViolation(
                OPENAI_TYPES.get(category, ViolationType.TOXIC_CONTENT),
                float(scores.get(category, 1.0)),
                f"flagged for {category}",
            )
            for category, flagged in (result.get("categories") or {}).items()
            if flagged and float(scores.get(category, 1.0)) >= self.threshold
        ]
        return _block(violations, self.name) if violations else _allow()


class _Enkrypt(_RemoteGuardrail):
    name = "enkrypt"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.api_key = str(config["api_key"])
        self.url = str(config.get("base_url", "https://api.enkryptai.com")).rstrip("/") + "/guardrails/detect"
        self.detectors = dict(config.get("detectors") or DEFAULT_DETECTORS)

    async def ask(self, request: GuardrailRequest) -> GuardrailResponse:
        body = orjson.dumps({"text": request.content, "detectors": self.detectors})
        answer = await self.post(self.url, body, {"apikey": self.api_key})
        summary = answer["summary"]
        violations = [
            GuardrailViolation(ENKRYPT_TYPES.get(detector, ViolationType.CUSTOM), 1.0, f"{detector} detected")
            for detector, found in summary.items()
            if found
        ]
        return _block(violations, self.name) if violations else _allow()


class _Webhook(_RemoteGuardrail):
    name = "webhook"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.url = str(config["url"])
        self.secret = str(config["secret"]).encode()

    async def ask(self, request: GuardrailRequest) -> GuardrailResponse:
        body = orjson.dumps(
            {
                "content": request.content,
                "direction": "output" if request.tool_args is None else "input",
                "tool_name": request.tool_name,
                "server_name": request.server_name,
            }
        )
        timestamp = str(int(time.time()))
        signature = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"X-Portcullis-Signature": f"sha256={signature}", "X-Portcullis-Timestamp": timestamp}
        answer = await self.post(self.url, body, headers)
        if answer["allow"] is True:
            return _allow()
        kind = str(answer.get("type") or "custom")
        violation_type = (
            ViolationType(kind) if kind in ViolationType._value2member_map_ else ViolationType.CUSTOM
        )
        return _block(
            [GuardrailViolation(violation_type, 1.0, str(answer.get("reason") or "refused by the webhook"))],
            self.name,
        )


class OpenAIModeration(_Provider):
    guardrail = _OpenAI
    required = ("api_key",)


class EnkryptGuardrails(_Provider):
    guardrail = _Enkrypt
    required = ("api_key",)


class WebhookGuardrail(_Provider):
    guardrail = _Webhook
    required = ("url", "secret")
