"""Policy rules: their semantics (deny wins, allow opts a kind in, conditions, subjects), globs,
and the settings checks that name the rule and the fix."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.policies import compiled_rules
from gateway.settings import Settings, SettingsError, explain
from gateway.settings.policy import PolicyRule
from middleware.authz.policy import DEFAULT_DENY, DENIED_IF, MATCHED, UNEVALUATED, Policy
from middleware.authz.policy_globs import GlobError, compile_glob, compile_globs
from middleware.protocol import Principal
from tests.support import ROOT

ALICE = Principal("alice", project="acme", roles=frozenset({"dev"}))
BOB = Principal("bob", project="acme")
SVC = Principal("svc-backup", roles=frozenset({"ops", "admin"}))


def policy(*rules: dict[str, Any]) -> Policy:
    return Policy(compiled_rules([PolicyRule.model_validate(rule) for rule in rules]))


def allowed(p: Policy, who: Principal, kind: Any, server: str | None, name: str, *args: Any) -> bool:
    return p.check(who, kind, server, name, args[0] if args else {}) is None


# --- semantics --------------------------------------------------------------------------------


def test_without_rules_everything_is_allowed_and_visible() -> None:
    p = policy()
    assert allowed(p, BOB, "tool", "files", "write")
    assert p.visible(BOB, "resource", None, "file:///etc/passwd")


def test_a_deny_rule_wins_over_an_allow_rule() -> None:
    p = policy(
        {"name": "everyone", "effect": "allow"},
        {"name": "no-writes", "effect": "deny", "tools": ["write_*"], "description": "read-only"},
    )
    denial = p.check(ALICE, "tool", "files", "write_file", {})
    assert denial is not None and (denial.rule, denial.reason) == ("no-writes", MATCHED)
    assert "(read-only)" in denial.message("tool", "write_file", "files")
    assert allowed(p, ALICE, "tool", "files", "read_file")
    assert not p.visible(ALICE, "tool", "files", "write_file")


def test_an_allow_rule_opts_its_kind_in_and_leaves_the_others_open() -> None:
    p = policy({"name": "devs-read", "effect": "allow", "roles": ["dev"], "tools": ["read_*"]})
    assert allowed(p, ALICE, "tool", "files", "read_file")
    denial = p.check(ALICE, "tool", "files", "write_file", {})
    assert denial is not None and denial.rule == DEFAULT_DENY
    assert not allowed(p, BOB, "tool", "files", "read_file"), "bob is no dev: nothing allows him"
    assert allowed(p, BOB, "prompt", "files", "greet"), "prompts are not opted in"
    assert p.visible(BOB, "resource", "files", "file:///x")


def test_a_rule_without_tools_prompts_or_resources_is_about_whole_servers() -> None:
    p = policy({"name": "no-billing", "effect": "deny", "principals": ["bob"], "servers": ["billing*"]})
    for kind in ("tool", "prompt", "resource"):
        assert not allowed(p, BOB, kind, "billing-eu", "anything")
        assert allowed(p, BOB, kind, "files", "anything")
        assert allowed(p, ALICE, kind, "billing-eu", "anything")
    assert p.server_denial(BOB, "billing-eu") is not None
    assert p.server_denial(ALICE, "billing-eu") is None


def test_subjects_principals_projects_and_roles_must_all_match() -> None:
    p = policy({"name": "ops", "effect": "deny", "principals": ["svc-*"], "roles": ["admin"], "tools": ["*"]})
    assert not allowed(p, SVC, "tool", "a", "t")
    assert allowed(p, Principal("svc-other", roles=frozenset({"ops"})), "tool", "a", "t")
    assert allowed(p, ALICE, "tool", "a", "t")
    q = policy({"name": "acme-only", "effect": "deny", "projects": ["acme"], "tools": ["*"]})
    assert not allowed(q, BOB, "tool", "a", "t")
    assert allowed(q, SVC, "tool", "a", "t"), "a caller without a project matches no project"


def test_an_argument_condition_decides_the_call_but_not_the_list() -> None:
    p = policy(
        {"name": "tmp-only", "effect": "allow", "tools": ["write"], "when": 'startswith(args.path, "/tmp/")'},
        {"name": "no-big", "effect": "deny", "tools": ["*"], "when": "args.size > 1000"},
    )
    assert p.visible(BOB, "tool", "files", "write")
    assert allowed(p, BOB, "tool", "files", "write", {"path": "/tmp/a", "size": 1})
    refused = p.check(BOB, "tool", "files", "write", {"path": "/etc/passwd", "size": 1})
    assert refused is not None and refused.rule == DEFAULT_DENY
    big = p.check(BOB, "tool", "files", "write", {"path": "/tmp/a", "size": 5000})
    assert big is not None and (big.rule, big.reason) == ("no-big", DENIED_IF)


def test_a_condition_on_the_caller_alone_is_decided_in_lists_too() -> None:
    p = policy({"name": "admins", "effect": "deny", "tools": ["admin_*"], "when": '"admin" not in roles'})
    assert not p.visible(BOB, "tool", "ops", "admin_reset")
    assert p.visible(SVC, "tool", "ops", "admin_reset")
    assert allowed(p, SVC, "tool", "ops", "admin_reset")


def test_a_condition_that_fails_to_evaluate_fails_closed() -> None:
    allow = policy({"name": "small", "effect": "allow", "tools": ["t"], "when": "args.n < 3"})
    refused = allow.check(BOB, "tool", "s", "t", {})  # null < 3: no answer, so no allowance
    assert refused is not None and refused.rule == DEFAULT_DENY
    deny = policy({"name": "big", "effect": "deny", "tools": ["t"], "when": "args.n > 3"})
    refused = deny.check(BOB, "tool", "s", "t", {"n": "many"})
    assert refused is not None and (refused.rule, refused.reason) == ("big", UNEVALUATED)
    assert allowed(deny, BOB, "tool", "s", "t", {"n": 1})


def test_an_unknown_server_is_in_every_deny_rules_reach_and_no_allow_rules() -> None:
    deny = policy({"name": "no-files", "effect": "deny", "servers": ["files"], "tools": ["rm"]})
    assert not allowed(deny, BOB, "tool", None, "rm")
    allow = policy({"name": "files", "effect": "allow", "servers": ["files"], "tools": ["*"]})
    assert not allowed(allow, BOB, "tool", None, "ls")
    assert allowed(allow, BOB, "tool", "files", "ls")


def test_resource_globs_stop_at_slashes_unless_doubled() -> None:
    p = policy({"name": "public", "effect": "allow", "resources": ["file:///public/*", "db://**"]})
    assert allowed(p, BOB, "resource", "s", "file:///public/a.txt")
    assert not allowed(p, BOB, "resource", "s", "file:///public/sub/a.txt")
    assert allowed(p, BOB, "resource", "s", "db://x/y/z")


def test_plans_are_cached_within_their_bound() -> None:
    p = Policy(compiled_rules([PolicyRule(name="t", effect="allow", tools=["t*"])]), cache_size=16)
    for index in range(100):
        p.check(BOB, "tool", "s", f"t{index}", {})
    assert len(p._plans) <= 16
    assert p.plan(BOB, "tool", "s", "t1") is p.plan(BOB, "tool", "s", "t1")


# --- globs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("echo", "echo", True),
        ("echo", "echo2", False),
        ("read_*", "read_file", True),
        ("read_*", "read_a/b", False),
        ("read_**", "read_a/b", True),
        ("*", "anything", True),
        ("*", "a/b", False),
        ("**", "a/b", True),
        ("*_file", "write_file", True),
        ("t?", "t1", True),
        ("t?", "t12", False),
        ("[abc]x", "bx", True),
        ("[!abc]x", "bx", False),
        ("[!abc]x", "dx", True),
        ("file:///pub/*.txt", "file:///pub/a.txt", True),
        ("file:///pub/*.txt", "file:///pub/a.md", False),
        ("a.b", "axb", False),
        ("x+(y)", "x+(y)", True),
    ],
)
def test_globs(pattern: str, text: str, expected: bool) -> None:
    assert compile_glob(pattern)(text) is expected
    assert compile_globs([pattern, "zzz-unrelated"])(text) is expected


def test_a_glob_is_linear_on_a_hostile_uri() -> None:
    match = compile_glob("*a*a*a*a*a*b")
    assert match("a" * 100_000) is False  # backtracking would take ages here


def test_an_unclosed_set_is_refused_with_its_position() -> None:
    with pytest.raises(GlobError, match=r"unclosed '\[' at position 5"):
        compile_glob("tool[ab")


# --- settings ---------------------------------------------------------------------------------


def problems_of(rule: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"policies": [rule]})
    return [explain(error) for error in caught.value.errors()]


def test_settings_name_the_rule_and_the_fix() -> None:
    [problem] = problems_of({"name": "devs", "effect": "allow", "tools": []})
    assert problem.startswith("policies[0].tools: rule 'devs': an empty list matches nothing; remove `tools`")
    [problem] = problems_of({"name": "devs", "effect": "allow", "servers": ["files[ab"]})
    assert "rule 'devs': unclosed '['" in problem
    [problem] = problems_of({"name": "devs", "effect": "allow", "when": "args.x +"})
    assert problem.startswith("policies[0].when: rule 'devs': `when` line 1, column")
    [problem] = problems_of({"name": "devs", "effect": "deny", "when": "args.__class__"})
    assert "'__class__' is not allowed" in problem
    [problem] = problems_of({"name": "devs", "effect": "maybe"})
    assert problem.startswith("policies[0].effect:") and "'allow' or 'deny'" in problem
    [problem] = problems_of({"name": "bad name!", "effect": "deny"})
    assert "a rule name is 1-64 letters" in problem
    [problem] = problems_of({"name": "x", "effect": "deny", "tool": ["t"]})
    assert problem.startswith("policies[0].tool: unknown key")


def test_two_rules_with_one_name_are_refused() -> None:
    rules = [PolicyRule(name="same", effect="allow"), PolicyRule(name="same", effect="deny")]
    with pytest.raises(SettingsError) as caught:
        compiled_rules(rules)
    assert caught.value.problems == [
        "policies[1].name: rule 'same' is also policies[0]; give each rule its own name "
        "(refusals and the audit log name them)"
    ]


# --- the examples of docs/policies.md -----------------------------------------------------------

DOC = ROOT / "docs" / "policies.md"


def doc_policies() -> list[list[dict[str, Any]]]:
    """Every TOML block of docs/policies.md that declares rules, as settings would read it."""
    blocks = re.findall(r"^```toml\n(.*?)^```", DOC.read_text(), re.DOTALL | re.MULTILINE)
    return [tomllib.loads(block)["policies"] for block in blocks if "[[policies]]" in block]


def test_every_example_of_the_documentation_is_valid() -> None:
    examples = doc_policies()
    assert len(examples) >= 3
    for rules in examples:
        Settings.model_validate({"policies": rules})


def test_the_first_example_decides_as_its_table_says() -> None:
    p = Policy(compiled_rules([PolicyRule.model_validate(rule) for rule in doc_policies()[0]]))
    alice = Principal("alice", roles=frozenset({"dev"}))
    carol = Principal("carol", roles=frozenset({"ops"}))

    def rule_of(who: Principal, kind: Any, name: str, args: dict[str, Any] | None = None) -> str | None:
        denial = p.check(who, kind, "files", name, args or {})
        return None if denial is None else denial.rule

    assert rule_of(alice, "tool", "read_file", {"path": "/home/a.txt"}) is None
    assert rule_of(alice, "tool", "write_file") == DEFAULT_DENY
    assert rule_of(alice, "tool", "read_file", {"path": "/etc/passwd"}) == "no-etc"
    assert rule_of(alice, "prompt", "greet") == DEFAULT_DENY
    assert rule_of(carol, "tool", "write_file") is None
    assert rule_of(carol, "tool", "read_file", {"path": "/etc/passwd"}) == "no-etc"
    assert rule_of(BOB, "tool", "read_file", {"path": "/home/a.txt"}) == DEFAULT_DENY
    assert rule_of(BOB, "resource", "file:///x") == DEFAULT_DENY
    assert p.visible(alice, "tool", "files", "list_dir") and not p.visible(
        alice, "tool", "files", "write_file"
    )


def test_the_condition_examples_of_the_documentation_decide_as_they_read() -> None:
    rules = [rule for block in doc_policies() for rule in block if rule["name"] != "public-files"]
    p = Policy(compiled_rules([PolicyRule.model_validate(rule) for rule in rules if "when" in rule]))
    assert p.check(BOB, "tool", "s", "write_file", {"path": "/tmp/../etc/x"}) is not None
    assert p.check(BOB, "tool", "s", "write_file", {"path": "/tmp/a"}) is None
    assert p.check(BOB, "tool", "warehouse", "query", {"limit": 10, "sql": "DROP  TABLE users"}) is not None
    assert p.check(BOB, "tool", "warehouse", "query", {"limit": 10, "sql": "select 1"}) is None
    assert not p.visible(BOB, "tool", "ops", "admin_reset")


def test_a_decision_on_attributes_follows_the_callers_attributes() -> None:
    p = policy({"name": "blue-only", "effect": "deny", "tools": ["*"], "when": 'attributes.team != "blue"'})
    assert allowed(p, Principal("ann", attributes={"team": "blue"}), "tool", "s", "t")
    assert not allowed(p, Principal("ann", attributes={"team": "red"}), "tool", "s", "t")
