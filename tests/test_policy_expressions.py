"""The ``when`` expression language: what it evaluates to, and what it refuses to compile."""

from __future__ import annotations

import time
from typing import Any

import pytest

from middleware.authz.expressions import Context, EvaluationError, ExpressionError, compile_condition

ARGS: dict[str, Any] = {
    "path": "/tmp/report.txt",
    "size": 120,
    "ratio": 0.5,
    "force": True,
    "tags": ["a", "b"],
    "opts": {"mode": "fast", "depth": 2},
    "a key": "spaced",
    "nothing": None,
}


def run(source: str, **context: Any) -> bool:
    context.setdefault("args", ARGS)
    return compile_condition(source)(Context(**context))


@pytest.mark.parametrize(
    "source",
    [
        'args.path == "/tmp/report.txt"',
        "args.size > 100 and args.size <= 120",
        "100 < args.size < 200",
        "args.ratio == 0.5",
        "args.force",
        "args.force == true and args.nothing == null",
        "args.missing == null and args.missing.deeper == null",
        '"b" in args.tags and "c" not in args.tags',
        '"mode" in args.opts',
        'args.opts.mode == "fast" and args.opts["depth"] == 2',
        'args["a key"] == "spaced"',
        'args.tags[0] == "a" and args.tags[-1] == "b" and args.tags[5] == null',
        '"report" in args.path',
        'startswith(args.path, "/tmp/") and endswith(args.path, ".txt")',
        'glob(args.path, "/tmp/*.txt") and not glob(args.path, "/etc/**")',
        r'matches(args.path, "^/tmp/[a-z]+\.txt$")',
        "len(args.tags) == 2 and len(args.path) > 3 and len(args.missing) == 0",
        'lower("ABC") == "abc" and upper(args.opts.mode) == "FAST"',
        "args.size in [100, 120] and args.size not in (1, 2)",
        "not (args.size > 500 or args.force == false)",
        "args.size > -1",
        "True and not False and None == null",
    ],
)
def test_true_expressions(source: str) -> None:
    assert run(source) is True


def test_the_caller_and_the_target_are_variables() -> None:
    context = {
        "principal": "alice",
        "project": "acme",
        "roles": frozenset({"dev"}),
        "attributes": {"team": "blue"},
        "server": "files",
        "kind": "tool",
        "name": "read_file",
    }
    source = (
        'principal == "alice" and project == "acme" and "dev" in roles and attributes.team == "blue" '
        'and server == "files" and kind == "tool" and tool == "read_file" and name == tool '
        "and prompt == null and uri == null"
    )
    assert run(source, **context)
    assert run('uri == "file:///a"', kind="resource", name="file:///a")
    assert run('"admin" not in roles')


def test_only_expressions_that_read_args_say_so() -> None:
    assert compile_condition("args.x == 1").uses_args
    assert not compile_condition('principal == "bob" and "dev" in roles').uses_args


def test_a_value_of_the_wrong_type_is_an_evaluation_error_not_a_crash() -> None:
    with pytest.raises(EvaluationError):
        run("args.missing < 3")
    with pytest.raises(EvaluationError):
        run("len(args.size) > 1")
    assert run('"x" in args.size') is False  # a number contains nothing
    assert run("startswith(args.size, 1)") is False


def test_a_regular_expression_runs_in_linear_time() -> None:
    started = time.perf_counter()
    assert run(r'matches(args.text, "^(a+)+$")', args={"text": "a" * 50_000 + "!"}) is False
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('__import__("os").system("id")', "line 1, column 1: only the functions of the language"),
        ('open("/etc/passwd")', "unknown function 'open'"),
        ("eval('1')", "unknown function 'eval'"),
        ("args.__class__", "the key '__class__' is not allowed"),
        ('args["__class__"]', "the key '__class__' is not allowed"),
        ("().__class__.__bases__", "a dot only reads a key of args or attributes"),
        ("principal.upper()", "only the functions of the language can be called"),
        ('"abc".startswith("a")', "only the functions of the language can be called"),
        ("server.__len__", "a dot only reads a key"),
        ("[c for c in args]", "a comprehension is not part"),
        ("(lambda: 1)()", "only the functions of the language can be called"),
        ("lambda: 1", "a lambda is not part"),
        ("args.size * 2 > 3", "arithmetic is not part"),
        ("(x := 1)", "an assignment is not part"),
        ('f"{args}"', "an f-string is not part"),
        ("args.tags[0:1]", "a lookup takes a literal key"),
        ("args[args.key]", "a lookup takes a literal key"),
        ("len(*args.tags)", "takes plain positional arguments"),
        ('startswith(text=args.path, prefix="/")', "takes plain positional arguments"),
        ("len(args.a, args.b)", "len() takes 1 argument"),
        ("glob(args.path, args.pattern)", "takes a value and a literal pattern"),
        ('matches(args.path, "(")', "line 1, column 20: invalid pattern for matches()"),
        ('glob(args.path, "[ab")', "invalid pattern for glob(): unclosed '['"),
        ("os", "unknown name 'os'"),
        ("{1: 2}", "a dict literal is not part"),
        ("1 if args.x else 2", "a conditional expression is not part"),
        ("b'bytes' == args.x", "the literal b'bytes' is not allowed"),
        ("args.x ==", "line 1, column"),
        ("args.x\n== 1\nand y", "line 3, column 5: unknown name 'y'"),
        ("", "an empty condition"),
        ("x" * 3000, "longer than 2000 characters"),
        ("~args.x", "only `not` and negative numbers"),
    ],
)
def test_refused_expressions(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(source)
    assert message in str(caught.value)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ExpressionError):
        compile_condition("not " * 5000 + "true")
