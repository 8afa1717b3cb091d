"""The ``when`` conditions of policy rules: a small expression language, safe by construction.

An expression is parsed with Python's :mod:`ast` once, when the settings load, and compiled into
closures over a whitelist; nothing is ever handed to ``eval``. What it can say (docs/policies.md
is the reference):

- literals (strings, numbers, ``true``/``false``/``null`` and Python's spellings), lists of them;
- ``and``, ``or``, ``not``; comparisons ``== != < <= > >=`` (chained too), ``in`` and ``not in``;
- the variables ``args``, ``principal``, ``project``, ``roles``, ``attributes``, ``server``,
  ``kind``, ``name``, ``tool``, ``prompt``, ``uri``;
- lookups into data: ``args.path``, ``args["a key"]``, ``args.items[0]`` (a missing key is
  ``null``, never an error);
- the functions ``startswith endswith glob matches len lower upper``.

Anything else (attributes of Python objects, other calls, arithmetic, comprehensions, lambdas)
is refused with its line and column. Evaluating never reaches a Python object other than the
JSON values of the request and the caller's strings.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from middleware.authz.policy_globs import GlobError, compile_glob, linear

MAX_SOURCE: Final = 2000
"""Longest expression accepted, in characters."""


class ExpressionError(ValueError):
    """An expression the language refuses; the message says where and why."""


class EvaluationError(Exception):
    """An expression failed on this request's values (``<`` between a number and null, say).
    The rule that owns it fails closed: a deny rule applies, an allow rule does not."""


class Context:
    """What an expression can read: the request's arguments and who asks for what."""

    __slots__ = ("args", "attributes", "kind", "name", "principal", "project", "roles", "server")

    def __init__(
        self,
        *,
        args: Any = None,
        principal: str = "",
        project: str | None = None,
        roles: frozenset[str] = frozenset(),
        attributes: Mapping[str, str] | None = None,
        server: str | None = None,
        kind: str = "",
        name: str = "",
    ) -> None:
        self.args, self.principal, self.project, self.roles = args, principal, project, roles
        self.attributes, self.server, self.kind, self.name = attributes or {}, server, kind, name


Closure = Callable[[Context], Any]


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled ``when``: call it with a :class:`Context`."""

    source: str
    uses_args: bool
    """False when only the caller and the target decide it (it can then be decided once for
    them, and in lists)."""
    run: Closure
    uses_attributes: bool = False
    """It reads the caller's attributes, which a decision kept per caller name must include."""

    def __call__(self, context: Context) -> bool:
        try:
            return bool(self.run(context))
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise EvaluationError(f"{type(exc).__name__}") from None


VARIABLES: Final[dict[str, Closure]] = {
    "args": lambda c: c.args,
    "principal": lambda c: c.principal,
    "project": lambda c: c.project,
    "roles": lambda c: c.roles,
    "attributes": lambda c: c.attributes,
    "server": lambda c: c.server,
    "kind": lambda c: c.kind,
    "name": lambda c: c.name,
    "tool": lambda c: c.name if c.kind == "tool" else None,
    "prompt": lambda c: c.name if c.kind == "prompt" else None,
    "uri": lambda c: c.name if c.kind == "resource" else None,
}
CONSTANTS: Final[dict[str, Any]] = {"true": True, "false": False, "null": None}
LOOKUP_ROOTS: Final = frozenset({"args", "attributes"})
"""The variables whose keys can be read with a dot (``args.path``): they hold data, not objects."""


def lookup(value: Any, key: str | int) -> Any:
    """``value[key]`` for JSON data; anything missing or of another shape is ``None``."""
    if type(value) is dict or isinstance(value, Mapping):  # the common case without the ABC check
        return value.get(key) if isinstance(key, str) else None
    if isinstance(value, list | tuple | frozenset) and isinstance(key, int) and not isinstance(key, bool):
        items = value if not isinstance(value, frozenset) else sorted(value)
        return items[key] if -len(items) <= key < len(items) else None
    return None


def contains(container: Any, item: Any) -> bool:
    """``item in container``, false (not an error) for a container of another shape."""
    if container is None:
        return False
    try:
        return bool(item in container)
    except TypeError:
        return False


def _startswith(text: Any, prefix: Any) -> bool:
    return isinstance(text, str) and isinstance(prefix, str) and text.startswith(prefix)


def _endswith(text: Any, suffix: Any) -> bool:
    return isinstance(text, str) and isinstance(suffix, str) and text.endswith(suffix)


def _len(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str | list | tuple | dict | frozenset):
        return len(value)
    raise TypeError("len() of a number or boolean")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else None


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else None


PLAIN_FUNCTIONS: Final[dict[str, tuple[int, Callable[..., Any]]]] = {
    "startswith": (2, _startswith),
    "endswith": (2, _endswith),
    "len": (1, _len),
    "lower": (1, _lower),
    "upper": (1, _upper),
}
"""name → (number of arguments, implementation)."""
PATTERN_FUNCTIONS: Final = ("glob", "matches")
"""Functions whose second argument is a literal pattern, compiled with the expression."""

COMPARISONS: Final[dict[type[ast.cmpop], Callable[[Any, Any], bool]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: contains(b, a),
    ast.NotIn: lambda a, b: not contains(b, a),
}


def _where(node: ast.AST) -> str:
    return f"line {getattr(node, 'lineno', 1)}, column {getattr(node, 'col_offset', 0) + 1}"


def _refuse(node: ast.AST, why: str) -> ExpressionError:
    return ExpressionError(f"{_where(node)}: {why}")


def compile_condition(source: str) -> Condition:
    """Parse and compile ``source``; raises :class:`ExpressionError` saying where it is wrong."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("an empty condition; write one such as args.path != null, or remove `when`")
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"longer than {MAX_SOURCE} characters; split it into several rules")
    tree = _parse(source.strip())
    compiler = _Compiler()
    try:
        run = compiler.compile(tree.body)
    except RecursionError:
        raise ExpressionError("nested too deeply") from None
    return Condition(source, compiler.uses_args, run, compiler.uses_attributes)


def _parse(source: str) -> ast.Expression:
    """The syntax tree; an expression written over several lines (a TOML multi-line string) is
    read in parentheses, its positions still counted in the lines as written."""
    lines = source.count("\n")
    text = f"(\n{source}\n)" if lines else source
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        line = max((exc.lineno or 1) - (1 if lines else 0), 1)
        raise ExpressionError(f"line {line}, column {exc.offset or 1}: invalid syntax ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"cannot parse it ({type(exc).__name__})") from None
    return ast.increment_lineno(tree, -1) if lines else tree


class _Compiler:
    """Turns whitelisted nodes into closures; every other node is refused."""

    def __init__(self) -> None:
        self.uses_args = False
        self.uses_attributes = False

    def compile(self, node: ast.expr) -> Closure:
        method = _NODES.get(type(node))
        if method is None:
            raise _refuse(node, f"{_describe(node)} is not part of the policy expression language")
        closure: Closure = method(self, node)
        return closure

    def _constant(self, node: ast.Constant) -> Closure:
        value = node.value
        if value is not None and not isinstance(value, str | int | float | bool):
            raise _refuse(node, f"the literal {value!r} is not allowed (strings, numbers, true, false, null)")
        return lambda _: value

    def _name(self, node: ast.Name) -> Closure:
        if node.id in CONSTANTS:
            constant = CONSTANTS[node.id]
            return lambda _: constant
        variable = VARIABLES.get(node.id)
        if variable is None:
            known = ", ".join(sorted(VARIABLES))
            raise _refuse(node, f"unknown name {node.id!r}; the variables are {known}")
        self.uses_args = self.uses_args or node.id == "args"
        self.uses_attributes = self.uses_attributes or node.id == "attributes"
        return variable

    def _list(self, node: ast.List | ast.Tuple) -> Closure:
        items = [self.compile(item) for item in node.elts]
        if all(isinstance(item, ast.Constant) for item in node.elts):
            values = tuple(item(Context()) for item in items)
            return lambda _: values
        return lambda c: tuple(item(c) for item in items)

    def _unaryop(self, node: ast.UnaryOp) -> Closure:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda c: not operand(c)
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            value = node.operand.value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return lambda _: -value
        raise _refuse(node, "only `not` and negative numbers are allowed as unary operators")

    def _boolop(self, node: ast.BoolOp) -> Closure:
        values = [self.compile(value) for value in node.values]
        if isinstance(node.op, ast.And):
            return lambda c: all(value(c) for value in values)
        return lambda c: any(value(c) for value in values)

    def _compare(self, node: ast.Compare) -> Closure:
        operands = [self.compile(node.left), *(self.compile(item) for item in node.comparators)]
        tests = [COMPARISONS[type(op)] for op in node.ops]  # every cmpop of Python is listed
        if len(tests) == 1:
            left, right, test = operands[0], operands[1], tests[0]
            return lambda c: test(left(c), right(c))

        def chained(c: Context) -> bool:
            before = operands[0](c)
            for test, operand in zip(tests, operands[1:], strict=True):
                after = operand(c)
                if not test(before, after):
                    return False
                before = after
            return True

        return chained

    def _attribute(self, node: ast.Attribute) -> Closure:
        root = node.value
        while isinstance(root, ast.Attribute | ast.Subscript):
            root = root.value
        if not (isinstance(root, ast.Name) and root.id in LOOKUP_ROOTS):
            raise _refuse(
                node, "a dot only reads a key of args or attributes (args.path); nothing else has keys"
            )
        _check_key(node, node.attr)
        value, key = self.compile(node.value), node.attr
        return lambda c: lookup(value(c), key)

    def _subscript(self, node: ast.Subscript) -> Closure:
        index = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            key_closure = self._unaryop(index)
            key: Any = key_closure(Context())
        elif isinstance(index, ast.Constant) and isinstance(index.value, str | int):
            key = index.value
        else:
            raise _refuse(node, 'a lookup takes a literal key: args["name"] or args.items[0]')
        if isinstance(key, str):
            _check_key(node, key)
        value = self.compile(node.value)
        return lambda c: lookup(value(c), key)

    def _call(self, node: ast.Call) -> Closure:
        if not isinstance(node.func, ast.Name):
            raise _refuse(node, "only the functions of the language can be called, by name")
        name = node.func.id
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise _refuse(node, f"{name}() takes plain positional arguments")
        if name in PATTERN_FUNCTIONS:
            return self._pattern_call(node, name)
        if name not in PLAIN_FUNCTIONS:
            known = ", ".join(sorted([*PLAIN_FUNCTIONS, *PATTERN_FUNCTIONS]))
            raise _refuse(node, f"unknown function {name!r}; the functions are {known}")
        arity, function = PLAIN_FUNCTIONS[name]
        if len(node.args) != arity:
            raise _refuse(node, f"{name}() takes {arity} argument{'s' if arity > 1 else ''}")
        arguments = [self.compile(a) for a in node.args]
        if arity == 1:
            only = arguments[0]
            return lambda c: function(only(c))
        first, second = arguments
        return lambda c: function(first(c), second(c))

    def _pattern_call(self, node: ast.Call, name: str) -> Closure:
        """``glob(value, "pattern")`` and ``matches(value, "regex")``: the pattern is a literal,
        compiled here once (a regex runs in RE2, in linear time)."""
        if len(node.args) != 2 or not (
            isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
        ):
            raise _refuse(node, f'{name}() takes a value and a literal pattern: {name}(args.path, "...")')
        pattern = node.args[1].value
        try:
            matcher = compile_glob(pattern) if name == "glob" else linear(pattern, whole=False)
        except GlobError as exc:
            raise _refuse(node.args[1], f"invalid pattern for {name}(): {exc}") from None
        value = self.compile(node.args[0])
        return lambda c: isinstance(text := value(c), str) and matcher(text)


_NODES: Final[dict[type[ast.expr], Callable[[_Compiler, Any], Closure]]] = {
    ast.Constant: _Compiler._constant,
    ast.Name: _Compiler._name,
    ast.List: _Compiler._list,
    ast.Tuple: _Compiler._list,
    ast.UnaryOp: _Compiler._unaryop,
    ast.BoolOp: _Compiler._boolop,
    ast.Compare: _Compiler._compare,
    ast.Attribute: _Compiler._attribute,
    ast.Subscript: _Compiler._subscript,
    ast.Call: _Compiler._call,
}
"""The whole language: every node type not listed here is refused."""


def _check_key(node: ast.AST, key: str) -> None:
    if key.startswith("__"):
        raise _refuse(node, f"the key {key!r} is not allowed (keys starting with '__')")


def _describe(node: ast.AST) -> str:
    names = {
        "BinOp": "arithmetic",
        "Lambda": "a lambda",
        "IfExp": "a conditional expression",
        "Dict": "a dict literal",
        "Set": "a set literal",
        "JoinedStr": "an f-string",
        "NamedExpr": "an assignment",
        "Starred": "unpacking",
        "Slice": "a slice",
        "Await": "await",
    }
    kind = type(node).__name__
    if kind.endswith("Comp") or kind == "GeneratorExp":
        return "a comprehension"
    return names.get(kind, f"a {kind} node")
