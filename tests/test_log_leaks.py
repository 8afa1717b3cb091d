"""No secret and no personal data reaches any log: a real gateway with every sink on (debug
level, JSON format, the access log, the audit file, a telemetry provider writing to stderr) and
the guardrails on is sent known secrets and PII through every path a request has; then every
log file and the captured output are searched for every value."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import ACCEPT_BOTH, RunningGateway, default_settings, fixture_server, running_gateway

EXAMPLES = "fixtures.enkrypt.examples"
SECRETS = {
    "openai": "sk-proj-Qw3rTy8uIoP4aSdF6gHjK9lZxC2vBnM5qWeRtY7u",
    "anthropic": "sk-ant-api03-Zx9Cv8Bn7Mq6Wl5Ek4Rj3Th2Yg1Uf0IdOsPaLkJhGf",
    "github": "ghp_R4nd0mT0k3nV4lu3F0rL34kT35t1ng0123456",
    "slack": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
    "stripe": "sk_live_51HdkQ2eZvKYlo2C9x8w7v6u5t4s3r2q1",
    "aws_key": "AKIAQ7LEAKTESTKEY7XZ",
    "aws_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKTESTKEY",
    "jwt": (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJsZWFrLXRlc3QiLCJuYW1lIjoiTGVhayJ9"
        ".Xx7hPq2mWd9sLk4Jf6Rt1Yb3Nc8Vz5Ga0Ue2Io4Hy6T"
    ),
    "url_password": "Hunter2LeakPass",
}
PII = {
    "email": "jane.leaktest@example.org",
    "phone": "+1 415 555 0199",
    "card": "4111 1111 1111 1111",
    "iban": "DE89370400440532013000",
    "ssn": "078-05-1120",
}
URL_WITH_PASSWORD = f"postgres://admin:{SECRETS['url_password']}@db.internal.example:5432/app"
VALUES = {**SECRETS, **PII}
PAYLOAD = ", ".join(
    [*(v for k, v in SECRETS.items() if k != "url_password"), URL_WITH_PASSWORD, *PII.values()]
)

LEAKY_SERVER = textwrap.dedent(
    '''
    """A stdio upstream that says the secrets it was started with (argv) in its stderr, its
    errors, its results and its dying words, whatever the guardrails did to the arguments."""
    import json, sys

    SECRETS = sys.argv[1]
    print("leaky starting with " + SECRETS, file=sys.stderr, flush=True)

    def send(message):
        sys.stdout.write(json.dumps(message) + "\\n")
        sys.stdout.flush()

    for line in sys.stdin:
        message = json.loads(line)
        method, rid, params = message.get("method"), message.get("id"), message.get("params") or {}
        if rid is None:
            continue
        if method == "initialize":
            info = {"name": "leaky", "version": "0"}
            send({"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": params.get("protocolVersion"), "capabilities": {"tools": {}},
                "serverInfo": info}})
        elif method == "tools/list":
            tools = [{"name": n, "inputSchema": {"type": "object"}} for n in ("fail", "die", "tell")]
            send({"jsonrpc": "2.0", "id": rid, "result": {"tools": tools}})
        elif method == "tools/call":
            text = str((params.get("arguments") or {}).get("text")) + " " + SECRETS
            print("upstream saw " + text, file=sys.stderr, flush=True)
            if params.get("name") == "die":
                sys.exit("upstream crashed on " + text)
            if params.get("name") == "tell":
                result = {"content": [{"type": "text", "text": text}]}
                send({"jsonrpc": "2.0", "id": rid, "result": result})
                continue
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": "failed on " + text}})
        else:
            send({"jsonrpc": "2.0", "id": rid, "result": {}})
    '''
)


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Path]]:
    tmp = Path(tmp_path_factory.mktemp("leaks"))
    (tmp / "leaky_server.py").write_text(LEAKY_SERVER)
    audit = tmp / "audit.jsonl"
    settings = default_settings(
        {
            "alpha": fixture_server("alpha"),
            "leaky": {"command": "python", "args": [str(tmp / "leaky_server.py"), PAYLOAD]},
        },
        logging={"level": "debug", "format": "json"},
        middleware=[
            {"use": "middleware.telemetry.access_log:AccessLog"},
            {"use": "acme_guard:DenyTools", "options": {"patterns": ["*__pid"]}},
        ],
        telemetry={"audit": {"sink": str(audit), "include_allowed": True}},
        policies=[
            {"name": "everyone", "effect": "allow"},
            {"name": "no-add", "effect": "deny", "tools": ["add"], "description": "adding is refused"},
        ],
        rate_limits=[{"name": "one-prompt", "methods": ["prompts/get"], "rate": "1/min"}],
        plugins={"telemetry": {"provider": f"{EXAMPLES}.custom_telemetry:MyTelemetryProvider", "config": {}}},
    )
    with running_gateway(tmp, settings) as gateway:
        yield gateway, audit


async def _session(http: httpx2.AsyncClient, gateway: RunningGateway) -> dict[str, str]:
    initialize = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    answer = await http.post(gateway.url, headers=gateway.headers(), json=initialize)
    return gateway.headers(
        **{"mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    )


async def _send_everything(http: httpx2.AsyncClient, gateway: RunningGateway) -> list[Any]:
    """Every path a secret can take into the gateway; the answers, for a sanity check."""
    headers = await _session(http, gateway)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("tools/call", {"name": "alpha__echo", "arguments": {"text": PAYLOAD}}),  # arguments, result
        ("tools/call", {"name": "alpha__pid", "arguments": {"text": PAYLOAD}}),  # refused by a middleware
        ("tools/call", {"name": "alpha__add", "arguments": {"a": PAYLOAD}}),  # refused by a policy
        ("tools/call", {"name": f"no_such_tool {PAYLOAD}", "arguments": {}}),  # an error naming it
        ("prompts/get", {"name": "alpha__greet", "arguments": {"name": PAYLOAD}}),
        ("prompts/get", {"name": "alpha__greet", "arguments": {"name": PAYLOAD}}),  # rate limited
        ("resources/read", {"uri": f"fixture://alpha/items/{PII['email']}-{SECRETS['github']}"}),
        ("resources/read", {"uri": URL_WITH_PASSWORD}),
        ("tools/call", {"name": "leaky__tell", "arguments": {"text": PAYLOAD}}),  # a result with secrets
        ("tools/call", {"name": "leaky__fail", "arguments": {"text": PAYLOAD}}),  # upstream error
        ("tools/call", {"name": "leaky__die", "arguments": {"text": PAYLOAD}}),  # upstream crash
    ]
    answers = []
    for index, (method, params) in enumerate(calls, start=1):
        message = {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
        answers.append(
            await http.post(gateway.url + f"?q={SECRETS['openai']}", headers=headers, json=message)
        )
    ping = {"jsonrpc": "2.0", "id": 99, "method": "ping"}
    refused = [
        {"authorization": f"Bearer {SECRETS['anthropic']}"},
        {"x-api-key": SECRETS["stripe"]},
        {"authorization": f"Basic {SECRETS['jwt']}"},
    ]
    for extra in refused:
        answers.append(await http.post(gateway.url, headers={"accept": ACCEPT_BOTH, **extra}, json=ping))
    query = f"?api_key={SECRETS['slack']}&email={PII['email']}&token={SECRETS['jwt']}"
    answers.append(await http.post(gateway.url + query, headers={"accept": ACCEPT_BOTH}, json=ping))
    return answers


async def test_no_secret_or_personal_data_reaches_any_log(leaky: tuple[RunningGateway, Path]) -> None:
    gateway, audit = leaky
    async with httpx2.AsyncClient(timeout=30) as http:
        answers = await _send_everything(http, gateway)
    assert answers[0].status_code == 200 and [a.status_code for a in answers[-4:]] == [401] * 4
    gateway.stop()
    logs = {"stderr+stdout": gateway.log(), "audit": audit.read_text()}
    leaks = {
        f"{where}: {line[:300]}": [kind for kind, what in VALUES.items() if what in line]
        for where, text in logs.items()
        for line in text.splitlines()
    }
    found = [f"{kinds} in {line}" for line, kinds in leaks.items() if kinds]
    assert found == [], "\n".join(found)
    # The trail is there, every line JSON, and it saw what happened.
    trail = [json.loads(line) for line in logs["audit"].splitlines()]
    verdicts = {(entry["verdict"], entry["method"]) for entry in trail}
    for seen in [("allow", "tools/call"), ("deny", "tools/call"), ("rate_limited", "prompts/get")]:
        assert seen in verdicts, verdicts
    assert ("unauthenticated", None) in verdicts and ("allow", "resources/read") in verdicts, verdicts
    assert (audit.stat().st_mode & 0o777) == 0o600
