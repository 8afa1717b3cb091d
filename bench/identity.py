"""What identity and access cost: per request in process, and the whole stack under load.

In process (best of many short runs; the machine may be shared):

- ``api key``: the tenancy's key authenticator on one request (budget <= 10 us);
- ``cached JWT``: the OIDC authenticator on a token it verified before (budget <= 10 us);
- ``auth chain, JWT``: the whole HTTP-tier chain (API keys, then OIDC) for that token;
- ``policy check``: the policy middleware on ``tools/call`` with six rules, one with an argument
  condition (budget <= 10 us);
- ``rate limit``: a token bucket and a concurrency cap, in memory, on ``tools/call``.

Under load (``--load``): two gateways in front of the same echo upstream, alternating rounds of
``tools/call`` at c=32 (wrk when installed): ``bare`` (one API key, nothing else) and
``identity`` (projects, users, OIDC tokens from a local issuer, six policy rules and two rate
limits too high to refuse), called with a JWT. Budget: ``identity`` within 10 % of ``bare``.

Run: ``.venv/bin/python -m bench.identity [--load] [--smoke]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable
from typing import Any

from bench import probes
from bench.harness import (
    Endpoint,
    GatewayConfig,
    Load,
    Processes,
    Window,
    http_load,
    loadavg,
    machine,
    request_tail,
    start_echo,
    start_gateway,
    wrk_path,
)
from gateway.identity import authentication, oidc_authenticator, protected_resource
from gateway.policies import compiled_rules
from gateway.rate_limits import RateLimiting
from gateway.settings import Settings
from gateway.settings.policy import PolicyRule
from gateway.tenancy import Tenancy
from middleware.authz.authorize import Authorize
from middleware.authz.policy import Kind, Policy
from middleware.protocol import RESPONSE, Principal, result_message
from middleware.protocol.testing import make_test_scope
from tests.fixtures.oauth_issuer import running_issuer

USER_KEY = "pcs_bench_user_" + "k" * 32
AUDIENCE = "https://portcullis.bench/mcp"
RESULT = {"content": [{"type": "text", "text": "hello"}], "isError": False}
POLICIES: list[dict[str, Any]] = [
    {"name": "no-admin-tools", "effect": "deny", "tools": ["admin_*", "drop_*"]},
    {"name": "ops-only-restart", "effect": "deny", "tools": ["restart"], "when": '"ops" not in roles'},
    {"name": "devs-echo", "effect": "allow", "roles": ["dev"], "tools": ["echo", "big", "slow"]},
    {"name": "svc-read", "effect": "allow", "principals": ["svc-*"], "tools": ["read_*"]},
    {"name": "no-secrets-path", "effect": "deny", "tools": ["echo"], "when": 'startswith(args.text, "/etc")'},
    {"name": "beta-prompts", "effect": "allow", "projects": ["beta"], "prompts": ["*"]},
]
TENANCY = {
    "projects": {"bench": {"servers": ["s*"]}},
    "users": {
        "bencher": {
            "project": "bench",
            "roles": ["dev"],
            "keys": [{"name": "main", "sha256": hashlib.sha256(USER_KEY.encode()).hexdigest()}],
        }
    },
}


def http_scope(credential: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp",
        "server": ("127.0.0.1", 8787),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"127.0.0.1:8787"),
            (b"accept", b"application/json, text/event-stream"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {credential}".encode()),
            (b"mcp-protocol-version", b"2025-11-25"),
        ],
    }


async def best_us(step: Callable[[], Awaitable[Any]], calls: int, rounds: int) -> float:
    """The best round's mean, in µs per call."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            await step()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": RESPONSE, "message": result_message(scope["id"], RESULT)})


async def sink(event: Any) -> None:
    return None


class StaticOwners:
    """Names of the aggregate endpoint resolved by their prefix, as the router would."""

    def listed(self, scope: Any, list_method: str, key: str) -> tuple[str, str] | None:
        server, _, name = key.partition("__")
        return (server, name) if name else None

    async def called(self, scope: Any, kind: Kind, key: str) -> tuple[str, str] | None:
        return self.listed(scope, "", key)


async def in_process(calls: int, rounds: int) -> list[tuple[str, float, str]]:
    rows: list[tuple[str, float, str]] = []
    settings = Settings(**TENANCY, auth={"oidc": None})
    keys = Tenancy(settings).authenticator
    key_scope = http_scope(USER_KEY)
    assert await keys.authenticate(key_scope) is not None
    rows.append(("api key", await best_us(lambda: keys.authenticate(key_scope), calls, rounds), "<= 10"))

    with running_issuer() as issuer:
        oidc_settings = Settings(auth={"oidc": {"issuer": issuer.url, "audience": [AUDIENCE]}})
        assert oidc_settings.auth.oidc is not None
        resource = protected_resource(oidc_settings, ["/mcp"])
        assert resource is not None
        oidc = oidc_authenticator(oidc_settings.auth.oidc, resource)
        token = issuer.mint(sub="bencher", aud=AUDIENCE, scope="mcp", expires_in=3600)
        jwt_scope = http_scope(token)
        assert await oidc.authenticate(jwt_scope) is not None  # verified once: now cached
        rows.append(
            ("cached JWT", await best_us(lambda: oidc.authenticate(jwt_scope), calls, rounds), "<= 10")
        )
        chained = authentication(oidc_settings, _swallow, tenancy=Tenancy(settings), endpoint_paths=["/mcp"])
        chain_us = await best_us(lambda: chained(http_scope(token), _no_receive, _no_send), calls, rounds)
        rows.append(("auth chain (keys, then OIDC), cached JWT", chain_us, "-"))

    policy = Authorize(
        answer, Policy(compiled_rules([PolicyRule(**rule) for rule in POLICIES])), owners=StaticOwners()
    )
    principal = Principal("bencher", project="bench", roles=frozenset({"dev"}))
    call = make_test_scope(
        "tools/call", {"name": "s1__echo", "arguments": {"text": "hello"}}, principal=principal
    )
    baseline = await best_us(lambda: answer(call, None, sink), calls, rounds)
    policy_us = await best_us(lambda: policy(call, None, sink), calls, rounds) - baseline
    rows.append(("policy check (6 rules, one `when`), tools/call", policy_us, "<= 10"))

    limits_settings = Settings(**tomllib.loads(RATE_LIMITS))
    limiting = RateLimiting(limits_settings)
    await limiting.start()
    limited = limiting.wrap(answer)
    limits_us = await best_us(lambda: limited(call, None, sink), calls, rounds) - baseline
    await limiting.close()
    rows.append(("rate limits in memory (a bucket and a cap, a bucket per project and tool)", limits_us, "-"))
    return rows


async def _swallow(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _no_send(message: Any) -> None:
    return None


def _toml_tables(issuer_url: str) -> str:
    digest = hashlib.sha256(USER_KEY.encode()).hexdigest()
    lines = [
        "[auth.oidc]",
        f'issuer = "{issuer_url}"',
        f'audience = ["{AUDIENCE}"]',
        'project_claim = "project"',
        'roles_claim = "roles"',
        "[projects.bench]",
        'servers = ["s*"]',
        "[users.bencher]",
        'project = "bench"',
        'roles = ["dev"]',
        "[[users.bencher.keys]]",
        'name = "main"',
        f'sha256 = "{digest}"',
    ]
    for rule in POLICIES:
        lines.append("[[policies]]")
        for key, value in rule.items():
            lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines) + "\n" + RATE_LIMITS


RATE_LIMITS = """[[rate_limits]]
name = "per-user"
per = "principal"
rate = "100000/s"
max_concurrent = 1000
[[rate_limits]]
name = "per-project-tool"
per = ["project", "tool"]
rate = "100000/s"
"""
"""Two limits too high to refuse anything: what counting costs, not what refusing does."""


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "'" + str(value) + "'" if '"' in str(value) else f'"{value}"'


async def under_load(duration: float, rounds: int, concurrency: int) -> list[str]:
    use_wrk = wrk_path() is not None
    call = request_tail("tools/call", {"name": "s1__echo", "arguments": probes.ECHO_ARGUMENTS})
    with Processes() as procs, running_issuer() as issuer:
        upstream = start_echo(procs, "echo-s1")
        servers = {"s1": {"url": f"http://127.0.0.1:{upstream.port}/mcp", "start": "eager"}}
        bare = start_gateway(procs, "bare", GatewayConfig("bare"), servers, wait=False)
        full = start_gateway(
            procs, "identity", GatewayConfig("identity", extra=_toml_tables(issuer.url)), servers, wait=False
        )
        bare.ready()
        full.ready()
        token = issuer.mint(
            sub="bencher", aud=AUDIENCE, expires_in=3600, claims={"project": "bench", "roles": ["dev"]}
        )
        sides = [
            ("bare: one API key", bare, Endpoint("bare", bare.port, auth=True)),
            (
                "identity: JWT, tenancy, 6 policies, rate limits",
                full,
                Endpoint("identity", full.port, auth=token),
            ),
        ]
        loads: dict[str, list[Load]] = {label: [] for label, _, _ in sides}
        for round_index in range(rounds):
            order = sides if round_index % 2 == 0 else list(reversed(sides))
            for label, gateway, endpoint in order:
                load = await http_load(
                    endpoint, call, concurrency, duration, use_wrk=use_wrk, window=Window(gateway.stats)
                )
                if load.errors:
                    raise RuntimeError(f"{label}: {load.errors} failed requests; see {gateway.log()[-2000:]}")
                loads[label].append(load)
    from bench.run import merge

    lines = [
        f"| configuration | req/s at c={concurrency} | p99 ms | gateway CPU µs/req |",
        "|---|---|---|---|",
    ]
    rates = []
    for label, _, _ in sides:
        merged = merge(loads[label])
        rates.append(merged.rps)
        lines.append(f"| {label} | {merged.rps:,.0f} | {merged.p99:.1f} | {merged.cpu_us or 0:.0f} |")
    lines.append("")
    lines.append(f"identity / bare throughput: {rates[1] / rates[0] * 100:.1f} % (budget: >= 90 %)")
    lines.append(
        f"load generator: {'wrk' if use_wrk else 'Python'}; {rounds} rounds of {duration:g} s, alternating"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--load", action="store_true", help="also the two gateways under load")
    parser.add_argument("--smoke", action="store_true", help="a few calls, to see it runs")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4)
    options = parser.parse_args(argv)
    calls, rounds = (200, 2) if options.smoke else (20_000, 7)
    print("# Identity and access: cost")
    print(f"\n- machine: {machine()}; load average {loadavg()}\n")
    print("| in process | µs per request | budget |\n|---|---|---|")
    for label, micros, budget in asyncio.run(in_process(calls, rounds)):
        print(f"| {label} | {micros:.2f} | {budget} |")
    if options.load:
        duration, load_rounds = (1.0, 1) if options.smoke else (options.duration, options.rounds)
        print()
        print("\n".join(asyncio.run(under_load(duration, load_rounds, 32))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
