"""Add, replace or remove one server entry in a client's JSON (or JSONC) file, editing the text.

The file is not re-serialised: only the bytes of our entry change, so other entries, other top-level
keys, key order, indentation, comments and trailing commas all survive as the user left them. Comments
and trailing commas (VS Code's JSONC) are blanked out in a same-length copy that ``json`` can parse;
its offsets are those of the real text, which is where the edits are made.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING_COMMA = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[}\]])')
_SPACE = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()


class ConfigError(Exception):
    """A file we will not edit; the message names it, says why, and what to do."""


@dataclass(frozen=True)
class Member:
    """One ``"key": value`` of an object, as offsets into the text."""

    key: str
    start: int
    value_start: int
    value_end: int


@dataclass(frozen=True)
class Obj:
    """An object's braces (``start`` at ``{``, ``end`` just past ``}``) and its members in order."""

    start: int
    end: int
    members: tuple[Member, ...]

    def find(self, key: str) -> Member | None:
        return next((member for member in self.members if member.key == key), None)

    def entry(self, name: str, where: str) -> Member | None:
        """The member ``name``; refuses two of them (a client would read one, we would edit the other)."""
        found = [member for member in self.members if member.key == name]
        if len(found) > 1:
            raise ConfigError(f'{where}: {len(found)} entries named "{name}"; keep one, then run again')
        return found[0] if found else None


@dataclass(frozen=True)
class Document:
    """The text as read, its parseable twin, and its top-level object (None for an empty file)."""

    text: str
    blank: str
    top: Obj | None


def blank_jsonc(text: str) -> str:
    """The text with comments, trailing commas and a BOM turned to spaces, newlines kept in place."""

    def comment(match: re.Match[str]) -> str:
        found = match.group(0)
        return found if found.startswith('"') else re.sub(r"[^\n]", " ", found)

    def comma(match: re.Match[str]) -> str:
        return match.group(0) if match.group(0).startswith('"') else " "

    blank = _TRAILING_COMMA.sub(comma, _TOKENS.sub(comment, text))
    return " " + blank[1:] if blank.startswith("\ufeff") else blank


def parse(text: str, where: str) -> Document:
    """Check the file is JSON (or JSONC) holding an object; refuse naming the line otherwise."""
    blank = blank_jsonc(text)
    if not blank.strip():
        return Document(text, blank, None)
    try:
        json.loads(blank)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{where}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}); "
            "fix the file (or move it away) and run again"
        ) from None
    start = _skip(blank, 0)
    if blank[start] != "{":
        raise ConfigError(f"{where}: the top level is not a JSON object; this is not a client configuration")
    return Document(text, blank, read_object(blank, start))


def _skip(text: str, position: int) -> int:
    found = _SPACE.match(text, position)
    assert found is not None  # the pattern matches the empty string
    return found.end()


def read_object(blank: str, start: int) -> Obj:
    """The members of the (already validated) object whose ``{`` is at ``start``."""
    members: list[Member] = []
    position = _skip(blank, start + 1)
    while blank[position] != "}":
        key, after_key = _DECODER.raw_decode(blank, position)
        value_start = _skip(blank, _skip(blank, after_key) + 1)
        _, value_end = _DECODER.raw_decode(blank, value_start)
        members.append(Member(key, position, value_start, value_end))
        position = _skip(blank, value_end)
        if blank[position] == ",":
            position = _skip(blank, position + 1)
    return Obj(start, position + 1, tuple(members))


def servers_of(document: Document, key: str, where: str) -> Obj | None:
    """The object under ``key`` (``mcpServers``, ``servers``), or None when the file has none yet."""
    if document.top is None:
        return None
    member = document.top.find(key)
    if member is None:
        return None
    if document.blank[member.value_start] != "{":
        raise ConfigError(f'{where}: "{key}" is not a JSON object; fix it by hand, then run again')
    return read_object(document.blank, member.value_start)


def get_entry(text: str, key: str, name: str, where: str) -> Any:
    """Our entry's value as JSON, or None when the file has no entry of that name."""
    document = parse(text, where)
    servers = servers_of(document, key, where)
    member = servers.entry(name, where) if servers is not None else None
    if member is None:
        return None
    return json.loads(document.blank[member.value_start : member.value_end])


def set_entry(text: str, key: str, name: str, value: Any, where: str) -> str:
    """The text with ``key.name`` set to ``value``: replaced in place, else added as the last member."""
    document = parse(text, where)
    if document.top is None:
        return json.dumps({key: {name: value}}, indent=2, ensure_ascii=False) + "\n"
    unit = _indent_unit(document)
    servers = servers_of(document, key, where)
    if servers is None:
        return _insert(document, document.top, key, {name: value}, unit)
    existing = servers.entry(name, where)
    if existing is None:
        return _insert(document, servers, name, value, unit)
    base = _line_indent(document.text, existing.start)
    rendered = _newlines(document.text, _render(value, unit, base if base is not None else ""))
    return document.text[: existing.value_start] + rendered + document.text[existing.value_end :]


def remove_entry(text: str, key: str, name: str, where: str) -> str | None:
    """The text without ``key.name`` (the rest untouched), or None when there is no such entry."""
    document = parse(text, where)
    servers = servers_of(document, key, where)
    member = servers.entry(name, where) if servers is not None else None
    if servers is None or member is None:
        return None
    index = servers.members.index(member)
    start, end = member.start, member.value_end
    if index > 0:
        start = servers.members[index - 1].value_end  # the comma before us goes with us
    elif len(servers.members) > 1:
        end = servers.members[1].start
    elif not (document.blank[servers.start + 1 : member.start] + document.blank[end : servers.end - 1]).strip(
        " \t\r\n,"
    ):
        start, end = servers.start + 1, servers.end - 1  # nothing else inside: leave "{}"
    return document.text[:start] + document.text[end:]


def _indent_unit(document: Document) -> str | None:
    """One level of the file's indentation (spaces or a tab), or None for a one-line file."""
    if "\n" not in document.text.strip():
        return None
    assert document.top is not None
    for member in document.top.members:
        indent = _line_indent(document.text, member.start)
        if indent:
            return indent
    return "  "


def _line_indent(text: str, position: int) -> str | None:
    """The whitespace before ``position`` on its line, or None when something else precedes it."""
    line_start = text.rfind("\n", 0, position) + 1
    before = text[line_start:position]
    return before if not before.strip() else None


def _leading(text: str, position: int) -> str:
    line_start = text.rfind("\n", 0, position) + 1
    line = text[line_start:position]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _newlines(text: str, piece: str) -> str:
    """``piece`` with the file's line endings (a Windows file stays CRLF throughout)."""
    return piece.replace("\n", "\r\n") if "\r\n" in text else piece


def _render(value: Any, unit: str | None, base: str) -> str:
    if unit is None:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", "\n" + base)


def _insert(document: Document, obj: Obj, key: str, value: Any, unit: str | None) -> str:
    """Add ``"key": value`` as the last member of ``obj``, indented like its siblings."""
    text = document.text
    indent = _member_indent(document, obj, unit or "")
    member = json.dumps(key, ensure_ascii=False) + ": " + _render(value, unit, indent)
    if obj.members:
        at = obj.members[-1].value_end
        separator = ", " if unit is None else ",\n" + indent
        return text[:at] + _newlines(text, separator + member) + text[at:]
    inside = text[obj.start + 1 : obj.end - 1]
    if unit is None:
        return text[: obj.start + 1] + member + text[obj.start + 1 :]
    if not document.blank[obj.start + 1 : obj.end - 1].strip():
        inside = ""  # only whitespace: lay the braces out afresh
    added = _newlines(text, "\n" + indent + member + ("" if inside else "\n" + _leading(text, obj.start)))
    return text[: obj.start + 1] + added + inside + text[obj.end - 1 :]


def _member_indent(document: Document, obj: Obj, unit: str) -> str:
    for member in reversed(obj.members):
        indent = _line_indent(document.text, member.start)
        if indent is not None:
            return indent
    return _leading(document.text, obj.start) + unit
