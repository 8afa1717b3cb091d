"""Code a stranger can carry: small modules and short functions in the product packages.

What is still over is listed with its current size, so the list can only shrink: a listed
module or function that grows fails too, and one that is split must leave the list.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parent.parent
PACKAGES: Final = ("gateway", "middleware", "upstream")
MAX_MODULE_LINES: Final = 400
MAX_FUNCTION_LINES: Final = 50

# Anything still over names its current size here, so the lists can only shrink.
OVERSIZED_MODULES: Final[dict[str, int]] = {}
OVERSIZED_FUNCTIONS: Final[dict[str, int]] = {}


def _modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _module_sizes() -> dict[str, int]:
    return {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines()) for path in _modules()}


def _function_sizes() -> dict[str, int]:
    """Each function's length in lines (its decorators and docstring included), by
    ``path:qualified.name``."""
    sizes: dict[str, int] = {}
    for path in _modules():
        tree = ast.parse(path.read_text())
        _walk(tree, path.relative_to(ROOT).as_posix() + ":", sizes)
    return sizes


def _walk(node: ast.AST, prefix: str, sizes: dict[str, int]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
            assert child.end_lineno is not None
            sizes[prefix + child.name] = child.end_lineno - start + 1
            _walk(child, prefix + child.name + ".", sizes)
        elif isinstance(child, ast.ClassDef):
            _walk(child, prefix + child.name + ".", sizes)


def _over(sizes: dict[str, int], limit: int, allowed: dict[str, int]) -> list[str]:
    problems = []
    for name, size in sorted(sizes.items()):
        if size > allowed.get(name, limit):
            problems.append(f"{name}: {size} lines (limit {allowed.get(name, limit)})")
    for name, size in allowed.items():
        if sizes.get(name, 0) <= limit:
            problems.append(f"{name} is no longer over {limit} lines: remove it from the allowlist")
        elif sizes[name] < size:
            problems.append(f"{name} shrank to {sizes[name]} lines: lower its allowance from {size}")
    return problems


def test_modules_are_small() -> None:
    assert _over(_module_sizes(), MAX_MODULE_LINES, OVERSIZED_MODULES) == []


def test_functions_are_short() -> None:
    assert _over(_function_sizes(), MAX_FUNCTION_LINES, OVERSIZED_FUNCTIONS) == []


def test_the_check_sees_an_oversized_function() -> None:
    """The walk finds nested and async methods, decorators included."""
    body = "\n".join(f"        x{i} = {i}" for i in range(60))
    tree = ast.parse(f"class A:\n    @staticmethod\n    async def f():\n{body}\n")
    sizes: dict[str, int] = {}
    _walk(tree, "m.py:", sizes)
    assert sizes == {"m.py:A.f": 62}
    assert _over(sizes, MAX_FUNCTION_LINES, {}) == ["m.py:A.f: 62 lines (limit 50)"]
