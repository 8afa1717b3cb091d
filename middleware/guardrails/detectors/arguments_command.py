"""Command and argument injection: a value that, pasted into a shell command line, runs more than
the tool meant to run.

Decided by shell semantics, not by spotting metacharacters: ``;``, ``|``, ``&``, ``&&``, ``||`` or
a newline only count when what follows reads as a command (a known binary, a script, a path to
an executable) with shell-like arguments. So "Rock & Roll.jpg" and "reply; suggest Tuesday"
pass while "x.pdf; rm -rf ~" does not. Substitutions (``$(...)``, backticks, ``<(...)``,
``${IFS}``, ``$'\\x..'``) are flagged by their form alone: prose does not use them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Set
from typing import Final

from middleware.guardrails.detectors.arguments_command_words import (
    COMMAND_WORD_GATE,
    DANGEROUS_LONG_OPTIONS,
    DANGEROUS_SHORT_OPTIONS,
    could_be_command,
    is_unambiguous_command,
    looks_like_command,
)
from middleware.guardrails.detectors.arguments_text import (
    RE2_SPACE,
    RE2_WORD,
    compile_gates,
    open_gates,
    percent_decode,
    re2_caseless,
)
from middleware.guardrails.detectors.findings import Finding

_DETECTOR: Final = "command"
# A chaining operator, then optional spaces/quotes, then the word in command position.
_CHAIN = re.compile(r"([;|&\n\r\x00][;|&]?)[ \t'\"]*(\\?[^\s;|&`'\"()<>$]*)")
_SUBSTITUTION = re.compile(
    r"\$\(\s*[A-Za-z_./\\]"  # $(cmd)
    r"|\$\{?IFS\b"  # field-separator tricks that replace spaces
    r"|\$\{\w+:[-\d]"  # ${PATH:0:1}: characters carved out of variables
    r"|\$'[^'\n]{0,80}?\\(?:x[0-9A-Fa-f]|[0-7]{3}|u[0-9A-Fa-f])"  # $'\x69\x64': ANSI-C escapes
)
_IFS_ASSIGNMENT = re.compile(r"(?:^|[;&|\s`])IFS=")
_COMMAND_WORD = re.compile(r"\\?[^\s;|&`'\"()<>$]*")
_MAX_LINE: Final = 4096  # how far to look for the line or token around an operator (keeps it linear)
_PROSE_WORDS: Final = 3  # a value of three or more words with `code` in it reads as a sentence
_BACKTICKS = re.compile(r"`([^`\n]{1,200})`")
_PROCESS_SUBSTITUTION = re.compile(r"[<>]\(\s*([^\s;|&`'\"()<>$]+)")
_REDIRECTION = re.compile(
    r">>?&?\s*(?:/(?:etc|dev/tcp|dev/udp|tmp|var|root|home|proc|usr|bin|boot)\b|~|\$HOME|%[A-Z]+%|[A-Za-z]:\\)"
    r"|>&[0-2]\b"
)
# A quote closed early, then a statement: "'; DROP TABLE x; --", "' OR '1'='1".
_SQL_BREAKOUT = re.compile(
    r"['\"]\s*\)?\s*(?:;\s*(?:--(?:\s|$)|/\*|(?:drop|truncate|alter)\s+(?:table|database|schema)"
    r"|delete\s+from|insert\s+into|update\s+\w+\s+set\b|select\s[^;]{0,80}?\bfrom\b|exec(?:ute)?\s+(?:xp_|sp_)"
    r"|shutdown\b)|or\s+'?\w+'?\s*=\s*'?\w+)"
    r"|;\s*(?:drop|truncate)\s+(?:table|database)\b",
    re.IGNORECASE,
)
_SQL_UNION = re.compile(r"\bunion\s+(?:all\s+)?select\b", re.IGNORECASE)
_OPTION = re.compile(r"(--?)([A-Za-z][\w-]*)")
_VALUE_END = re.compile(r"\s")
_CONFIG_HIJACK = re.compile(
    r"(?:proxycommand|localcommand|permitlocalcommand|sshcommand|core\.(?:pager|editor|fsmonitor"
    r"|hookspath|gitproxy|askpass))\s*=",
    re.IGNORECASE,
)
# One RE2 gate per check, each a superset of what the check looks for (see arguments_text).
_S = f"[{RE2_SPACE}]"
_CHAIN_GATE, _SUBSTITUTION_GATE, _BACKTICK_GATE, _PROCESS_GATE = range(4)
_REDIRECTION_GATE, _SQL_BREAKOUT_GATE, _SQL_UNION_GATE, _HIJACK_GATE, _OPTION_GATE = range(4, 9)
_SQL_STATEMENT = (
    rf"--|/\*|(?:drop|truncate|alter){_S}+(?:table|database|schema)|delete{_S}+from"
    rf"|{re2_caseless(['insert'])}{_S}+{re2_caseless(['into'])}|update{_S}+{RE2_WORD}+{_S}+set|select{_S}"
    rf"|exec(?:ute)?{_S}+(?:xp_|sp_)|shutdown"
)
_GATE_PATTERNS: Final = (
    rf"[;|&\n\r\x00][;|&]?[ \t'\"]*{COMMAND_WORD_GATE}",
    r"\$[({']|\$IFS|IFS=",
    rf"`{_S}*{COMMAND_WORD_GATE}",
    rf"[<>]\({_S}*{COMMAND_WORD_GATE}",
    rf">>?&?{_S}*(?:/(?:etc|dev/tcp|dev/udp|tmp|var|root|home|proc|usr|bin|boot)|~|\$HOME|%[A-Z]+%|[A-Za-z]:\\)"
    r"|>&[0-2]",
    rf"(?i)['\"]{_S}*\)?{_S}*(?:;{_S}*(?:{_SQL_STATEMENT})|or{_S}+'?{RE2_WORD}+'?{_S}*=)"
    rf"|;{_S}*(?:drop|truncate){_S}+(?:table|database)",
    rf"{re2_caseless(['union'])}{_S}+(?i:all{_S}+)?(?i:select)",
    re2_caseless(
        ["proxycommand", "localcommand", "permitlocalcommand", "sshcommand"]
        + [f"core.{key}" for key in ("pager", "editor", "fsmonitor", "hookspath", "gitproxy", "askpass")]
    )
    + f"{_S}*=",
    rf"(?:^|{_S})--?{re2_caseless(DANGEROUS_LONG_OPTIONS)}|^{_S}*--?[{''.join(sorted(DANGEROUS_SHORT_OPTIONS))}]",
)
_GATES: Final = compile_gates(_GATE_PATTERNS)

_REASONS: Final = {
    "chaining": "Value chains an extra shell command after its own.",
    "substitution": "Value contains shell command substitution or expansion tricks.",
    "redirection": "Value redirects shell output to a sensitive file or socket.",
    "argument_injection": "Value smuggles a dangerous command-line option.",
    "quote_breakout": "Value breaks out of its quotes to inject a statement.",
    "encoded_injection": "Value hides shell metacharacters behind percent-encoding.",
}


def _is_markdown_table_row(text: str, position: int) -> bool:
    """Pipes that delimit a Markdown table row are layout, not shell pipes."""
    floor = max(0, position - _MAX_LINE)
    start = max(floor, text.rfind("\n", floor, position) + 1)
    end = text.find("\n", position, position + _MAX_LINE)
    row = text[start : end if end >= 0 else min(len(text), position + _MAX_LINE)].strip()
    return len(row) > 1 and row.startswith("|") and row.endswith("|")


def _is_query_separator(text: str, match: re.Match[str]) -> bool:
    """``a=1&b=2``: an ampersand glued between parameters joins a query string, not commands."""
    if "=" in match.group(2):
        return True
    start = match.start(1)
    if start == 0 or text[start - 1].isspace():
        return False
    floor = max(0, start - _MAX_LINE)
    token_start = max(floor, text.rfind(" ", floor, start) + 1, text.rfind("\n", floor, start) + 1)
    before = text[token_start:start]
    return "=" in before or "?" in before


def _chaining(text: str) -> Iterator[Finding]:
    for match in _CHAIN.finditer(text):
        operator, word = match.group(1), match.group(2)
        if not word or not could_be_command(word):
            continue
        if operator == "|" and _is_markdown_table_row(text, match.start(1)):
            continue
        if operator == "&" and _is_query_separator(text, match):
            continue
        if looks_like_command(word, text[match.end(2) : match.end(2) + 60], pipe_target=operator == "|"):
            yield Finding(_DETECTOR, "chaining", match.start(1), len(text), _REASONS["chaining"])
            return  # the rest of the value belongs to the injected command


def _has_words(text: str, count: int) -> bool:
    """Whether ``text`` has at least ``count`` words, without splitting all of a huge value."""
    return len(text.split(maxsplit=count)) >= count


def _backticks_run_command(text: str, match: re.Match[str]) -> bool:
    """Backticks around a command. Prose quotes code in backticks too ("what does `ls -la` do?"),
    so inside a sentence only a program that is no English word counts; glued to a file name or
    standing alone, any command does."""
    inner = match.group(1).strip()
    word = _COMMAND_WORD.match(inner)
    if word is None or not word.group(0):
        return False
    start, end = match.start(), match.end()
    spaced_before = start == 0 or text[start - 1].isspace()
    spaced_after = end == len(text) or text[end].isspace() or text[end] in ".,;:!?)"
    if spaced_before and spaced_after and _has_words(text, _PROSE_WORDS):
        return is_unambiguous_command(word.group(0))
    return looks_like_command(word.group(0), inner[word.end() :], pipe_target=True)


def _substitutions(text: str, gates: Set[int]) -> Iterator[Finding]:
    substitution = None
    if _SUBSTITUTION_GATE in gates:
        substitution = _SUBSTITUTION.search(text) if "$" in text else None
        if substitution is None and "IFS=" in text:
            substitution = _IFS_ASSIGNMENT.search(text)
    if substitution is not None:
        yield Finding(_DETECTOR, "substitution", substitution.start(), len(text), _REASONS["substitution"])
        return
    if _BACKTICK_GATE in gates:
        for match in _BACKTICKS.finditer(text):
            if _backticks_run_command(text, match):
                yield Finding(_DETECTOR, "substitution", match.start(), match.end(), _REASONS["substitution"])
    if _PROCESS_GATE in gates:
        for match in _PROCESS_SUBSTITUTION.finditer(text):
            if looks_like_command(match.group(1), text[match.end() : match.end() + 60], pipe_target=True):
                yield Finding(_DETECTOR, "substitution", match.start(), len(text), _REASONS["substitution"])


def _option_is_dangerous(dashes: str, name: str, at_start: bool, has_more: bool) -> bool:
    lowered = name.lower()
    if lowered in DANGEROUS_LONG_OPTIONS:
        return dashes == "--" or len(lowered) > 2  # --output, and find's single-dash -exec
    return at_start and has_more and len(name) == 1 and name in DANGEROUS_SHORT_OPTIONS


def _argument_injection(text: str, gates: Set[int]) -> Iterator[Finding]:
    hijack_hint = "ommand" in text or "OMMAND" in text or "ore." in text
    if _HIJACK_GATE in gates and hijack_hint and "=" in text and _CONFIG_HIJACK.search(text) is not None:
        yield Finding(_DETECTOR, "argument_injection", 0, len(text), _REASONS["argument_injection"])
        return
    if _OPTION_GATE not in gates:
        return
    value_start = len(text) - len(text.lstrip())
    value_end = len(text.rstrip())
    for match in _OPTION.finditer(text):
        if match.start() > 0 and not text[match.start() - 1].isspace():
            continue  # a hyphen inside a word or number: well-known, 2-4
        dashes, name = match.group(1), match.group(2)
        if _option_is_dangerous(dashes, name, match.start() == value_start, match.end() < value_end):
            end = _token_end(text, match.end())
            yield Finding(_DETECTOR, "argument_injection", match.start(), end, _REASONS["argument_injection"])
            return


def _token_end(text: str, start: int) -> int:
    """The end of the option's value (``--output=/x`` up to the next space, ``-o /x`` past it)."""
    first = _VALUE_END.search(text, start)
    if first is None or first.start() > start:
        return first.start() if first else len(text)
    second = _VALUE_END.search(text, len(text) - len(text[start:].lstrip()))
    return second.start() if second else len(text)


def _pattern_findings(text: str, gates: Set[int]) -> Iterator[Finding]:
    checks = (
        (_REDIRECTION_GATE in gates and ">" in text, _REDIRECTION, "redirection"),
        (_SQL_BREAKOUT_GATE in gates, _SQL_BREAKOUT, "quote_breakout"),
        (_SQL_UNION_GATE in gates and ("nion" in text or "NION" in text), _SQL_UNION, "quote_breakout"),
    )
    for wanted, pattern, kind in checks:
        match = pattern.search(text) if wanted else None
        if match is not None:
            yield Finding(_DETECTOR, kind, match.start(), len(text), _REASONS[kind])
            return


def _scan(text: str) -> list[Finding]:
    gates = open_gates(_GATES, len(_GATE_PATTERNS), text)
    if not gates:
        return []
    chaining = _chaining(text) if _CHAIN_GATE in gates else ()
    findings = [*_substitutions(text, gates), *chaining, *_pattern_findings(text, gates)]
    findings += _argument_injection(text, gates)
    return sorted(findings, key=lambda finding: (finding.start, finding.end))


def find_command_injection(text: str) -> list[Finding]:
    """Findings for shell command or argument injection in one argument value.

    Percent-encoded metacharacters (``%3B``, ``%0a``) are judged after decoding; such findings
    span the whole text and have kind "encoded_injection".
    """
    findings = _scan(text)
    if findings or "%" not in text:
        return findings
    decoded = percent_decode(text)
    if decoded != text and _scan(decoded):
        return [Finding(_DETECTOR, "encoded_injection", 0, len(text), _REASONS["encoded_injection"])]
    return []
