"""Enkrypt-style providers with the seed's own example providers (``tests/fixtures/enkrypt/
examples``: only their imports changed): loaded as Enkrypt's gateway loads them, then through the
real gateway against local fakes of the services they call (an auth service, OpenAI's
moderation API)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from aiohttp import web

from middleware.plugins import PluginContext, ToolPostInvokePayload
from middleware.plugins.models import GlobalContext
from middleware.providers import GuardrailResponse, ProviderError, construct
from middleware.providers.guardrails import GuardrailPlugin
from tests.support import (
    ACCEPT_BOTH,
    ALICE_KEY,
    INITIALIZE,
    default_settings,
    fixture_server,
    running_gateway,
    serving,
)

pytestmark = pytest.mark.timeout(90)

EXAMPLES = "tests.fixtures.enkrypt.examples"
SECRET = "jwt-test-secret-0123456789abcdef0123"


def test_providers_are_built_as_enkrypt_builds_them_and_their_config_is_checked() -> None:
    custom = construct(
        f"{EXAMPLES}.custom_api_key:MyAuthProvider", {"api_endpoint": "http://x"}, "auth"
    )  # cls(config)
    assert custom.get_name() == "my_auth"
    token = construct(f"{EXAMPLES}.jwt_auth:JWTAuthProvider", {"secret_key": SECRET}, "auth")  # cls(**config)
    assert token.get_name() == "jwt"
    with pytest.raises(ProviderError, match="needs config keys api_endpoint"):
        construct(f"{EXAMPLES}.custom_api_key:MyAuthProvider", {"timeout": 3}, "auth")
    with pytest.raises(ProviderError, match="is not a GuardrailProvider"):
        construct(f"{EXAMPLES}.jwt_auth:JWTAuthProvider", {"secret_key": SECRET}, "guardrails")
    with pytest.raises(ProviderError, match="cannot import"):
        construct("nowhere.module:Nothing", {}, "auth")


class OutputOnly:
    """An output guardrail defined as Enkrypt's gateway calls it (keywords, not a request)."""

    async def validate(self, response_content: str, original_request: Any) -> GuardrailResponse:
        from middleware.providers import GuardrailAction

        unsafe = "leak" in response_content
        return GuardrailResponse(
            is_safe=not unsafe, action=GuardrailAction.BLOCK if unsafe else GuardrailAction.ALLOW
        )


async def test_output_guardrails_are_called_either_way() -> None:
    keywords = construct(
        f"{EXAMPLES}.keyword_guardrail:MyGuardrailProvider", {"blocked_keywords": ["leak"]}, "guardrails"
    )
    context = PluginContext(global_context=GlobalContext(request_id="1"))
    result = {"content": [{"type": "text", "text": "a leak here"}]}
    seed_style = GuardrailPlugin(keywords, {}, 0)  # validate(request), as the guide's example defines it
    verdict = await seed_style.tool_post_invoke(ToolPostInvokePayload(name="t", result=result), context)
    assert not verdict.continue_processing and verdict.violation is not None
    assert verdict.violation.code == "KEYWORD_VIOLATION"

    class Provider:
        def create_input_guardrail(self, config: dict[str, Any]) -> None:
            return None

        def create_output_guardrail(self, config: dict[str, Any]) -> OutputOnly:
            return OutputOnly()

    gateway_style = GuardrailPlugin(Provider(), {}, 0)
    assert gateway_style.hooks == ["tool_post_invoke", "prompt_post_fetch", "resource_post_fetch"]
    verdict = await gateway_style.tool_post_invoke(ToolPostInvokePayload(name="t", result=result), context)
    assert not verdict.continue_processing


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[str]:
    """One local server: the custom API-key service and OpenAI's moderation endpoint."""

    async def validate(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer enkrypt-key-1":
            return web.json_response({"error": "unknown key"}, status=401)
        user = {
            "user_id": "carol",
            "project_id": "proj-9",
            "config": {},
            "permissions": ["read"],
            "roles": ["analyst"],
        }
        return web.json_response(user)

    async def moderations(request: web.Request) -> web.Response:
        text = (await request.json())["input"]
        flagged = "violent" in text
        scores = {"violence": 0.97 if flagged else 0.01}
        return web.json_response(
            {
                "results": [
                    {"flagged": flagged, "categories": {"violence": flagged}, "category_scores": scores}
                ]
            }
        )

    app = web.Application()
    app.router.add_post("/auth/validate", validate)
    app.router.add_post("/v1/moderations", moderations)
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


async def test_the_seeds_example_providers_run_in_the_gateway(tmp_path: Path) -> None:
    async with fakes() as url:
        plugins = {
            "auth": [
                {"provider": f"{EXAMPLES}.custom_api_key:MyAuthProvider", "config": {"api_endpoint": url}},
                {"provider": f"{EXAMPLES}.jwt_auth:JWTAuthProvider", "config": {"secret_key": SECRET}},
            ],
            "guardrails": [
                {
                    "provider": f"{EXAMPLES}.keyword_guardrail:MyGuardrailProvider",
                    "config": {"blocked_keywords": ["confidential"]},
                },
                {
                    "provider": f"{EXAMPLES}.openai_moderation:OpenAIGuardrailProvider",
                    "config": {"api_key": "sk-test"},
                },
            ],
            "telemetry": {
                "provider": f"{EXAMPLES}.custom_telemetry:MyTelemetryProvider",
                "config": {"endpoint": url},
            },
        }
        settings = default_settings({"files": fixture_server("files")}, plugins=plugins)
        with running_gateway(tmp_path, settings, env={"FAKE_OPENAI_URL": url}) as gateway:
            async with httpx2.AsyncClient(timeout=20) as http:

                async def echo(text: str, **headers: str) -> tuple[int, Any]:
                    session = await http.post(
                        gateway.url, headers={"accept": ACCEPT_BOTH, **headers}, json=INITIALIZE
                    )
                    if session.status_code != 200:
                        return session.status_code, session.json()
                    sid = {
                        "mcp-session-id": session.headers["mcp-session-id"],
                        "mcp-protocol-version": "2025-11-25",
                    }
                    call = {
                        "jsonrpc": "2.0",
                        "id": 2,
                        "method": "tools/call",
                        "params": {"name": "files__echo", "arguments": {"text": text}},
                    }
                    answer = await http.post(
                        gateway.url, headers={"accept": ACCEPT_BOTH, **headers, **sid}, json=call
                    )
                    return answer.status_code, answer.json()

                token = jwt.encode(
                    {"user_id": "dave", "project_id": "p2", "exp": int(time.time()) + 600},
                    SECRET,
                    algorithm="HS256",
                )
                status, answer = await echo("hello", apikey="enkrypt-key-1")  # the custom API-key service
                assert status == 200 and answer["result"]["content"][0]["text"] == "files:hello"
                status, answer = await echo("hello", authorization=f"Bearer {token}")  # the JWT provider
                assert status == 200 and not answer["result"]["isError"]
                status, _ = await echo(
                    "hello", authorization=f"Bearer {ALICE_KEY}"
                )  # the built-in keys first
                assert status == 200
                status, _ = await echo("hello", apikey="unknown-key")
                assert status == 401
                status, answer = await echo("the confidential plan", apikey="enkrypt-key-1")
                assert (
                    answer["result"]["isError"]
                    and "KEYWORD_VIOLATION" in answer["result"]["content"][0]["text"]
                )
                status, answer = await echo("something violent", apikey="enkrypt-key-1")
                assert (
                    answer["result"]["isError"] and "TOXIC_CONTENT" in answer["result"]["content"][0]["text"]
                )
            log = gateway.log()
    assert "principal=carol" in log and "principal=dave" in log
    assert " - portcullis.access - INFO - " in log  # the telemetry provider's own logger got the records
    assert "enkrypt-key-1" not in log and token not in log


def test_check_names_a_provider_that_would_not_load(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support import ROOT, to_toml

    plugins = {"auth": {"provider": f"{EXAMPLES}.custom_api_key:MyAuthProvider", "config": {"timeout": 3}}}
    settings = tmp_path / "settings.toml"
    settings.write_text(to_toml(default_settings({}, plugins=plugins)))
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--settings", str(settings)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 2
    expected = f"plugins.auth[0]: {EXAMPLES}.custom_api_key:MyAuthProvider needs config keys api_endpoint"
    assert expected in checked.stderr
