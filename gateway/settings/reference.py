"""The configuration reference, rendered from the settings models so that it cannot drift.

``python -m gateway.settings.reference`` prints ``docs/configuration.md``; ``--write`` writes it
there (``tests/test_docs_reference.py`` fails when the committed file differs). Each table of
``settings.toml`` becomes a section: its keys, their types and allowed values, defaults, bounds
and descriptions, read from the ``Field`` descriptions and the models' docstrings.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import types
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gateway.settings.model import Settings

TARGET = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
COMMAND = ".venv/bin/python -m gateway.settings.reference --write"
BOUNDS: tuple[tuple[str, str], ...] = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
BOUNDS += (("min_length", "length ≥"), ("max_length", "length ≤"))
SCALARS: dict[object, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
SCALARS |= {SecretStr: "secret string", datetime: "date-time", Any: "any"}

HEADER = f"""# Configuration reference

<!-- Generated from gateway/settings/ by `{COMMAND}`; do not edit by hand. -->

Every key of `settings.toml`, table by table, as the settings models in `gateway/settings/`
define it: its type (and allowed values), its default, its bounds and what it does. Settings are
read from `--settings`, else `$PORTCULLIS_SETTINGS`, else `./settings.toml`, else these
defaults. Every key can be overridden by an environment variable named after its path,
`PORTCULLIS_` then the keys joined with `__` (shown under each table), e.g.
`PORTCULLIS_PORT=9000` or `PORTCULLIS_AUTH__ENABLED=false`; a list or table is given as JSON.
`portcullis check` validates a file and names every bad key with its fix. A worked example of
every table is [`settings.toml`](../settings.toml); this page is regenerated with `{COMMAND}`
and a test fails when it is out of date.
"""


@dataclass
class Section:
    """One table of the document: its header, what it is, and its keys."""

    path: str
    header: str
    about: str
    env: str = ""
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` (validators and the like dropped)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    """The members of a union (``X | None`` included), else the type itself."""
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [_unwrap(member) for member in get_args(annotation)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def type_name(annotation: Any) -> str:
    """A reader's name for a settings type: ``"a" | "b"``, ``list of string``..."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if len(members) > 1:
        return " or ".join(type_name(member) for member in members)
    one = members[0]
    origin, args = get_origin(one), get_args(one)
    if origin is Literal:
        return " \\| ".join(json.dumps(arg) for arg in args)
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"table of {type_name(args[1])}"
    if _is_model(one):
        return "table"
    return SCALARS.get(one, getattr(one, "__name__", str(one)))


def _value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {k: _value(v) for k, v in value.model_dump(exclude_defaults=True).items()} or "{}"
    if isinstance(value, list | tuple):
        return [_value(item) for item in value]
    return value


def default_text(info: FieldInfo) -> str:
    """The default as TOML-ish text: required, none, or the value."""
    if info.default is PydanticUndefined and info.default_factory is None:
        return "*required*"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "*none*"
    if isinstance(value, BaseModel):
        return "*its table's defaults*"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return ", ".join(f"`{item.use}`" if hasattr(item, "use") else "`…`" for item in value)
    return f"`{json.dumps(_value(value), ensure_ascii=False)}`"


def _bounds(info: FieldInfo) -> str:
    found = []
    for meta in info.metadata:
        for attribute, sign in BOUNDS:
            bound = getattr(meta, attribute, None)
            if bound is not None:
                found.append(f"{sign} {bound}")
    return "; ".join(found)


def _describe(info: FieldInfo) -> str:
    text = " ".join((info.description or "").split())
    bounds = _bounds(info)
    return f"{text} ({bounds})" if text and bounds else text or (f"({bounds})" if bounds else "")


def _table_kind(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """How a field holds a table: ``one``, ``named`` (dict of them), ``array`` or ``one-or-array``."""
    members = [m for m in _members(annotation) if m is not type(None)]
    models = [m for m in members if _is_model(m)]
    lists = [get_args(m)[0] for m in members if get_origin(m) is list and _is_model(get_args(m)[0])]
    dicts = [get_args(m)[1] for m in members if get_origin(m) is dict and _is_model(get_args(m)[1])]
    if models and lists:
        return "one-or-array", models[0]
    if models:
        return "one", models[0]
    if lists:
        return "array", lists[0]
    if dicts:
        return "named", dicts[0]
    return None


def _header(path: str, kind: str) -> str:
    if kind == "array":
        return f"[[{path}]]"
    if kind == "named":
        return f"[{path}.NAME]"
    return f"[{path}]"


def _env(path: str, kind: str) -> str:
    """How the environment overrides a table's keys."""
    name = "PORTCULLIS_" + path.upper().replace(".", "__")
    if kind == "array":
        return f"`{name}`, the whole array as JSON"
    if kind == "one-or-array":
        return f"`{name}__KEY`, or `{name}` as a JSON array"
    if kind == "named":
        return f"`{name}__NAME__KEY`"
    return f"`{name}__KEY`"


def _sentence(text: str) -> str:
    """``text`` capitalised and ending with a full stop (a field description, as a table's intro)."""
    text = text.strip()
    if not text:
        return ""
    return text[0].upper() + text[1:] + ("" if text.endswith((".", ")")) else ".")


def _doc(model: type[BaseModel]) -> str:
    own = model.__dict__.get("__doc__")
    return " ".join(inspect.cleandoc(own).replace("``", "`").split()) if own else ""


def walk(model: type[BaseModel], path: str = "", header: str = "top level") -> list[Section]:
    """Every section under ``model``, depth first, in the models' field order."""
    section = Section(path, header, _doc(model))
    sections = [section]
    for name, info in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        table = _table_kind(info.annotation)
        if table is None:
            row = (name, type_name(info.annotation), default_text(info), _describe(info))
            section.rows.append(row)
            continue
        kind, inner = table
        shown = key.replace(".NAME", "") if kind == "named" else key
        child = walk(inner, f"{shown}.NAME" if kind == "named" else shown, _header(shown, kind))
        note = _describe(info)
        if kind == "one-or-array":
            note = f"One table, or an array of them (`[[{shown}]]`). {note}".strip()
        if kind == "array" and info.get_default(call_default_factory=True):
            note = f"{note} Default: {default_text(info)}.".strip()
        child[0].about = " ".join(part for part in (_sentence(note), child[0].about) if part)
        child[0].env = _env(shown, kind)
        sections.extend(child)
    return sections


def _anchor_list(sections: list[Section]) -> str:
    lines = []
    for section in sections:
        if section.rows:
            anchor = "".join(c for c in section.header.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")
            lines.append(f"- [`{section.header}`](#{anchor})")
    return "\n".join(lines)


def _render_section(section: Section) -> str:
    parts = [f"## `{section.header}`", ""]
    if section.about:
        parts += [section.about, ""]
    if section.env:
        parts += [f"Environment: {section.env}.", ""]
    parts += ["| key | type | default | description |", "|---|---|---|---|"]
    for name, kind, default, description in section.rows:
        parts.append(f"| `{name}` | {kind} | {default} | {description} |")
    return "\n".join(parts)


def render() -> str:
    """The whole ``docs/configuration.md``."""
    sections = [s for s in walk(Settings) if s.rows]
    sections[0].about = "Keys outside any table. Environment: `PORTCULLIS_KEY` (e.g. `PORTCULLIS_PORT`)."
    body = "\n\n".join(_render_section(section) for section in sections)
    return f"{HEADER}\n## Tables\n\n{_anchor_list(sections)}\n\n{body}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print (or --write) docs/configuration.md.")
    parser.add_argument("--write", action="store_true", help=f"write {TARGET.name} in docs/")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        TARGET.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
