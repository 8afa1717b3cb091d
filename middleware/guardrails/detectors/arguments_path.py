"""Path traversal: a path argument that leaves the place the tool is meant to work in.

Escapes are judged by walking the segments (``a/../b`` stays inside, ``src/../../x`` does not)
rather than by spotting ``..``; encoded spellings are judged after decoding. Without configured
roots only well-known sensitive places (system directories, a home's dotfiles, UNC shares) are
flagged; with roots, any absolute path outside them is.
"""

from __future__ import annotations

import ntpath
import posixpath
import re
from collections.abc import Sequence
from typing import Final

from middleware.guardrails.detectors.arguments_text import (
    RE2_SPACE,
    RE2_WORD_DOT_DASH,
    compile_gates,
    decoded_view,
    open_gates,
    re2_caseless,
)
from middleware.guardrails.detectors.findings import Finding

_DETECTOR: Final = "path"
# Sensitive places, one pattern per leading character so each scan jumps between literal hits.
# What precedes a match (the start of a token, or ``file:`` with an optional host; the drive
# letter before ``:\``) is checked in code. Each comes with its RE2 gate (see arguments_text): one
# pass over the text tells which of them can match at all.
_END = r"(?=[/\\\s\"']|$)"
_GATE_END = rf"(?:[/\\{RE2_SPACE}\"']|$)"
_UNIX_SYSTEM = (
    r"/(?:etc|proc|sys|dev|root|boot|private/(?:etc|var)|run/secrets|s?bin|usr/s?bin|usr/local/s?bin"
    r"|lib(?:32|64)?|var/(?:run|lib|log|spool|mail|backups|db)|System|Library/Keychains)"
)
_WINDOWS_SYSTEM = ("Windows", "WINNT", "ProgramData", "System Volume Information", "$Recycle.Bin", "boot.ini")
_WINDOWS_SYSTEM_FILES = (*_WINDOWS_SYSTEM, "pagefile.sys")
_WINDOWS_USER_VARIABLES = ("USERPROFILE", "HOMEPATH", "APPDATA", "LOCALAPPDATA")
_WINDOWS_SYSTEM_VARIABLES = ("SYSTEMROOT", "WINDIR", "PROGRAMDATA", "ALLUSERSPROFILE")
_UNIX_USER = r"/(?:home|Users|root)/(?:[^/\s]+/)?(?:\.[^\s/\\.]|Library/Keychains)"
_WINDOWS_USER = r":[\\/]+{users}[\\/]+[^\\/\s]+[\\/]+(?:\.[^\s/\\.]|{data})"
_TILDE_USER = r"~[A-Za-z_]{word}*[\\/]+\.[^\s/\\.]|~[\\/]+(?:\.[^\s/\\.]|Library/)"
_HOME_VARIABLE = r"\$(?:HOME|\{HOME\})[\\/]+\.[^\s/\\.]"
_UNC = r"\\\\[^\\/\s]+[\\/]"


def _python_words(words: tuple[str, ...]) -> str:
    return "(?i:" + "|".join(re.escape(word) for word in words) + ")"


_MAY_START_TOKEN = r"[ \t\n\r\"'=(,;/:]"  # what may precede a place (see _starts_token)


def _led(lead: str, pattern: str, before: str) -> re.Pattern[str]:
    """``pattern`` (which starts with the literal ``lead``) for the ``re`` scan, with a lookbehind
    that keeps only places that may start a token: a scan through a text full of URLs then drops
    each mid-path slash at once instead of trying every name."""
    return re.compile(lead + rf"(?:(?<=^{before})|(?<={_MAY_START_TOKEN}{before}))" + pattern[len(lead) :])


def _token_led(gate: str) -> str:
    """A place's gate, only where the place may start a token."""
    return rf"(?:^|{_MAY_START_TOKEN})(?:{gate})"


_PLACES: Final = (
    ("/", "system_path", _led("/", _UNIX_SYSTEM + _END, "/"), _UNIX_SYSTEM + _GATE_END),
    ("/", "user_secret", _led("/", _UNIX_USER, "/"), _UNIX_USER),
    (
        ":",
        "system_path",
        _led(":", r":[\\/]+" + _python_words(_WINDOWS_SYSTEM_FILES) + _END, "[A-Za-z]:"),
        r":[\\/]+" + re2_caseless(_WINDOWS_SYSTEM_FILES) + _GATE_END,
    ),
    (
        ":",
        "user_secret",
        _led(":", _WINDOWS_USER.format(users="(?i:Users)", data="(?i:AppData|NTUSER)"), "[A-Za-z]:"),
        _WINDOWS_USER.format(users=re2_caseless(["Users"]), data=re2_caseless(["AppData", "NTUSER"])),
    ),
    # A home directory's dotfiles and app data: keys, tokens, shell history, cloud credentials.
    (
        "~",
        "user_secret",
        re.compile(_TILDE_USER.format(word=r"[\w.-]")),
        _TILDE_USER.format(word=RE2_WORD_DOT_DASH),
    ),
    ("~", "system_path", re.compile(r"~root(?=[/\\\s]|$)"), rf"~root(?:[/\\{RE2_SPACE}]|$)"),
    ("$", "user_secret", re.compile(_HOME_VARIABLE), _HOME_VARIABLE),
    (
        "%",
        "user_secret",
        re.compile("%" + _python_words(_WINDOWS_USER_VARIABLES) + "%"),
        "%" + re2_caseless(_WINDOWS_USER_VARIABLES) + "%",
    ),
    (
        "%",
        "system_path",
        re.compile("%" + _python_words(_WINDOWS_SYSTEM_VARIABLES) + "%"),
        "%" + re2_caseless(_WINDOWS_SYSTEM_VARIABLES) + "%",
    ),
    # UNC shares and Win32 device paths (opening one leaks the NTLM hash to the server).
    ("\\\\", "unc_path", re.compile(_UNC), _UNC),
)
# Credential files by name, wherever an absolute path puts them (the token start is checked in code).
_CREDENTIAL_NAMES = (
    r"[/\\](?:\.ssh[/\\]|\.aws[/\\]credentials|\.git-credentials|\.netrc|\.pgpass|\.kube[/\\]config"
    r"|\.docker[/\\]config\.json|id_(?:rsa|dsa|ecdsa|ed25519){end}|\.bash_history|\.zsh_history)"
)
_CREDENTIAL_FILE = re.compile(_CREDENTIAL_NAMES.format(end=r"(?![\w.])"))
_REMOTE_FILE_GATE, _CREDENTIAL_GATE = len(_PLACES), len(_PLACES) + 1
_GATE_PATTERNS: Final = (
    *(_token_led(gate if needle != ":" else "[A-Za-z]" + gate) for needle, _kind, _pattern, gate in _PLACES),
    re2_caseless(["file"]) + r"://[^/\\\s]+[/\\]",
    _CREDENTIAL_NAMES.format(end=""),
)
_GATES: Final = compile_gates(_GATE_PATTERNS)
_ABSOLUTE_START = re.compile(r"[/~\\]|[A-Za-z]:[/\\]|\$\{?HOME|%\w+%|file:", re.IGNORECASE)
_REMOTE_FILE_URL = re.compile(r"file://(?!localhost[/\\])[^/\\\s]+[/\\]", re.IGNORECASE)
_TOKEN_STARTERS = frozenset(" \t\n\r\"'=(,;")
_FILE_PREFIX = re.compile(r"(?:^|[\s\"'=(,;])file:(?://(?:localhost)?)?$", re.IGNORECASE)
_BARE_ROOT = re.compile(r"\s*(?:[A-Za-z]:[\\/]*|[/\\]|~[/\\]?)\s*")
_MAX_TOKEN: Final = 4096  # longer than any real path (PATH_MAX)
_NEAR: Final = 128
_TOKEN_BREAKS = (" ", "\t", "\n", "\r", '"', "'", "<", ">", "|")
_SEPARATORS = re.compile(r"[/\\]+")
_URL_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:(?://[^/\\]*)?")
# "..././" is what a one-pass "../" stripper turns into "../".
_STRIPPER_BYPASS = re.compile(r"\.\.\.[/\\]\.[/\\]")
_DOTS_ONLY = re.compile(r"\.{4,}")
_PARENT = re.compile(r"\.\.")  # found faster than by ``str.find`` for a two-character needle
_TOKEN_END = re.compile(r"[\s\"'<>|]")

_REASONS: Final = {
    "traversal": "Path climbs out of its directory with parent-directory segments.",
    "encoded_traversal": "Path hides parent-directory segments behind encoding or look-alike characters.",
    "nul_byte": "Path contains a NUL byte, which truncates it in many file APIs.",
    "system_path": "Path points into a system location.",
    "user_secret": "Path points at a home directory's private files.",
    "unc_path": "Path names a network share, which leaks credentials when opened.",
    "outside_root": "Path is outside the directories this tool may use.",
}


def _is_parent(segment: str, is_last: bool) -> bool:
    """``..``, Tomcat's ``..;x`` and ``....`` (which a one-pass ``../`` stripper turns into ``..``)."""
    if segment == ".." or segment.startswith("..;"):
        return True
    return not is_last and _DOTS_ONLY.fullmatch(segment) is not None


def _escapes(token: str, is_whole_value: bool) -> bool:
    """Whether walking ``token``'s segments ever climbs above where it started."""
    segments = _SEPARATORS.split(_STRIPPER_BYPASS.sub("../", _URL_PREFIX.sub("", token)))
    if len(segments) == 1 and not is_whole_value:
        return False  # ".." alone inside prose is an ellipsis, not a path
    named = [segment for segment in segments if segment not in ("", ".")]
    if not is_whole_value and all(_is_parent(segment, False) for segment in named):
        return False  # "../" mentioned in prose leads nowhere
    depth = 0
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment in ("", "."):
            continue
        if _is_parent(segment, index == last):
            depth -= 1
            if depth < 0:
                return True
        else:
            depth += 1
    return False


def _traversals(view: str, position: int) -> list[tuple[int, int]]:
    """Spans of whitespace-delimited tokens whose ``..`` segments escape (the first ``..`` is at
    ``position``)."""
    whole = view.strip()
    spans: list[tuple[int, int]] = []
    while position >= 0:
        start = _token_start(view, position)
        end = _token_end(view, position)
        token = view[start:end]
        if _escapes(token, token == whole):
            spans.append((start, end))
        position = view.find("..", end)
    return spans


def _token_start(view: str, position: int) -> int:
    """Where the whitespace-delimited token around ``position`` starts; looking back a bounded
    distance keeps many matches in a huge value linear."""
    floor = max(0, position - _MAX_TOKEN)
    near = max(floor, position - _NEAR)  # most tokens are short: look close first
    found = max(view.rfind(char, near, position) for char in _TOKEN_BREAKS)
    if found < 0 and near > floor:
        found = max(view.rfind(char, floor, near) for char in _TOKEN_BREAKS)
    return max(floor, found + 1)


def _token_end(view: str, start: int) -> int:
    found = _TOKEN_END.search(view, start)
    return found.start() if found else len(view)


def _absolute_candidate(text: str) -> tuple[str, bool] | None:
    """The value as an absolute path and whether it is Windows-style; None for relative values."""
    path = text.strip()
    if path.lower().startswith("file://"):
        path = path[len("file://") :].removeprefix("localhost")
    if re.match(r"[A-Za-z]:[\\/]|\\\\", path):
        return path, True
    if path.startswith(("/", "~", "$HOME", "${HOME}")):
        return path, False
    return None


def _outside_roots(text: str, roots: Sequence[str]) -> bool | None:
    """True/False when ``text`` is an absolute path outside/inside ``roots``; None if relative."""
    candidate = _absolute_candidate(text)
    if candidate is None:
        return None
    path, windows = candidate
    flavour = ntpath if windows else posixpath
    normal = flavour.normcase(flavour.normpath(path))
    for root in roots:
        root_normal = flavour.normcase(flavour.normpath(root)).rstrip("/\\")
        if normal == root_normal or normal.startswith(root_normal + flavour.sep):
            return False
    return True


def _starts_token(view: str, start: int) -> bool:
    """A place counts at the start of a token (or right after ``file:``), not inside a path."""
    if start == 0 or view[start - 1] in _TOKEN_STARTERS:
        return True
    return view[start - 1] in "/:" and _FILE_PREFIX.search(view, max(0, start - 17), start) is not None


def _credential_files(view: str) -> list[Finding]:
    """Key and token files named inside an absolute path (``/srv/app/.ssh/id_rsa``)."""
    findings: list[Finding] = []
    end = -1
    for match in _CREDENTIAL_FILE.finditer(view):
        if match.start() < end:
            continue  # one finding per token
        start = _token_start(view, match.start())
        end = _token_end(view, match.start())
        if _ABSOLUTE_START.match(view, start):
            findings.append(Finding(_DETECTOR, "user_secret", start, end, _REASONS["user_secret"]))
    return findings


def _place_start(view: str, needle: str, match: re.Match[str]) -> int | None:
    """Where a place match really starts (the drive letter before ``:\\``), or None when it sits
    inside another word or path instead of starting a token."""
    start = match.start()
    if needle == ":":
        start -= 1
        if start < 0 or not view[start].isascii() or not view[start].isalpha():
            return None
    return start if _starts_token(view, start) else None


def _place_findings(view: str) -> list[Finding]:
    """Sensitive places named in ``view``: system directories, home secrets, network shares."""
    gates = open_gates(_GATES, len(_GATE_PATTERNS), view)
    spans: list[tuple[str, int]] = []
    for index, (needle, kind, pattern, _gate) in enumerate(_PLACES):
        if index in gates and needle in view:
            starts = (_place_start(view, needle, match) for match in pattern.finditer(view))
            spans += [(kind, start) for start in starts if start is not None]
    if _REMOTE_FILE_GATE in gates and ("file:" in view or "FILE:" in view):
        spans += [("unc_path", match.start()) for match in _REMOTE_FILE_URL.finditer(view)]
    findings = [
        Finding(_DETECTOR, kind, start, _token_end(view, start), _REASONS[kind]) for kind, start in spans
    ]
    if not findings and _CREDENTIAL_GATE in gates and ("/" in view or "\\" in view):
        findings += _credential_files(view)
    if not findings and len(view) < 8 and _BARE_ROOT.fullmatch(view):
        findings.append(Finding(_DETECTOR, "system_path", 0, len(view), _REASONS["system_path"]))
    return findings


def _normalised_place(view: str, has_parent: bool) -> list[Finding]:
    """``/var/www/../../etc/passwd`` never climbs above ``/`` but lands in ``/etc``: judge where an
    absolute path with parent segments ends up."""
    candidate = _absolute_candidate(view) if has_parent else None
    if candidate is None:
        return []
    path, windows = candidate
    landed = (ntpath if windows else posixpath).normpath(path)
    if not _place_findings(landed):
        return []
    return [Finding(_DETECTOR, "traversal", 0, len(view), _REASONS["traversal"])]


def _scan(view: str, roots: Sequence[str]) -> list[Finding]:
    findings: list[Finding] = []
    nul = view.find("\x00")
    if nul >= 0:
        findings.append(Finding(_DETECTOR, "nul_byte", nul, nul + 1, _REASONS["nul_byte"]))
    parent = _PARENT.search(view)
    if parent is not None:
        spans = _traversals(view, parent.start())
        findings += [
            Finding(_DETECTOR, "traversal", start, end, _REASONS["traversal"]) for start, end in spans
        ]
    verdict = _outside_roots(view, roots) if roots else None
    if verdict:
        findings.append(Finding(_DETECTOR, "outside_root", 0, len(view), _REASONS["outside_root"]))
    elif verdict is None:
        findings += _place_findings(view) or _normalised_place(view, parent is not None)
    return findings


def find_path_traversal(text: str, roots: Sequence[str] = ()) -> list[Finding]:
    """Findings for path arguments that escape their directory or name a sensitive place.

    ``roots`` are the directories the tool may use; when given, an absolute path outside all of
    them is reported ("outside_root") and one inside them is not judged by the sensitive-place
    lists. Findings only visible after decoding span the whole text.
    """
    findings = _scan(text, roots)
    if findings:
        return findings
    view = decoded_view(text)
    if view == text:
        return []
    hidden = _scan(view, roots)
    if not hidden:
        return []
    kind = "encoded_traversal" if hidden[0].kind == "traversal" else hidden[0].kind
    return [Finding(_DETECTOR, kind, 0, len(text), _REASONS[kind])]
