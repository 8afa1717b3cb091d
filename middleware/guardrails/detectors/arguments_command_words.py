"""What counts as "a command" after a shell operator, and which options are dangerous to smuggle.

Two tiers keep prose out: words that are only ever programs (``rm``, ``curl``, ``whoami``) count
on their own; words that are also English or common nouns (``cat``, ``find``, ``sleep``, ``python``)
count only when followed by something shell-shaped (an option, a path, a number, another operator).
"""

from __future__ import annotations

import re
from typing import Final

from middleware.guardrails.detectors.arguments_text import RE2_SPACE, re2_caseless


def _words(text: str) -> frozenset[str]:
    """Word lists are kept as prose-like strings: a hundred names stay readable in a few lines."""
    return frozenset(text.split())


# Programs whose names are not English words: seeing one after an operator is enough.
_PROGRAMS_ONLY: Final = _words(
    "rm rmdir curl wget nc ncat netcat socat telnet bash sh zsh ksh csh tcsh busybox whoami uname "
    "hostname ifconfig ipconfig netstat chmod chown chgrp chattr mkfifo mknod nslookup base64 xxd "
    "eval exec sudo su crontab systemctl useradd usermod userdel passwd killall pkill mkfs dd awk "
    "gawk nawk xargs nohup setsid grep egrep fgrep sed tftp openssl iptables nmap strace gdb lsof "
    "getent wget2"
)
# Windows programs: matched case-insensitively, as cmd.exe does.
_WINDOWS_PROGRAMS: Final = _words(
    "powershell pwsh cmd certutil bitsadmin mshta rundll32 regsvr32 wmic schtasks tasklist "
    "taskkill wscript cscript msiexec calc notepad mspaint"
)
# Programs that share their name with words, nouns or languages: need shell-shaped arguments.
_NEEDS_ARGUMENTS: Final = _words(
    "cat id echo printf sleep ping find kill touch head tail sort ls dir pwd cd cp mv env export "
    "set unset tee who ps dig host source alias del copy move type net reg sc start timeout ftp "
    "uniq wc tr od strings shred unlink ln mkdir history whois traceroute tracert tar zip unzip "
    "gzip git docker kubectl npm npx pip pip3 apt apt-get yum brew ssh scp rsync make open dash "
    "expect halt shutdown reboot cc gcc less more file stat date time test exit read python "
    "python2 python3 perl ruby php lua node nodejs deno java"
)
# Reconnaissance payloads that are complete on their own ("x.png\nid").
_COMPLETE_ALONE: Final = _words("id pwd ls ps env who date set history dir reboot shutdown halt")
_EXECUTABLE_EXTENSIONS: Final = ("exe", "bat", "cmd", "ps1", "vbs", "hta", "scr", "msi")
_WINDOWS_EXECUTABLE = re.compile(rf"[\w.-]+\.(?:{'|'.join(_EXECUTABLE_EXTENSIONS)})", re.IGNORECASE)
_EXECUTABLE_PATH = re.compile(r"(?:\.{1,2}/|/(?:usr/(?:local/)?)?s?bin/|[A-Za-z]:\\)[\w.\\/-]")
# What follows a command word when it really is a command.
_SHELL_SHAPED = re.compile(
    r"\s*(?:$|[;|&`)\n]|\$|[<>])"  # end, another operator, a variable, a redirection
    r"|\s+(?:-{1,2}[\w@]|[/~.$`\"'\\*%]|[A-Za-z]:\\"  # an option, a path, an expansion, a quoted argument
    r"|\d+(?:\.\d+){0,3}(?::\d+)?\s*(?:$|[;|&)`\n]|\s+\d)"  # a number or address: sleep 5, nc 10.0.0.1 4444
    r"|[\w-]+\.[A-Za-z0-9]{1,4}\s*(?:$|[;|&)`\n]))"  # a file name: cat notes.txt
)

# Options that make a program write files, run programs or load code.
DANGEROUS_LONG_OPTIONS: Final = _words(
    "output output-document output-file outfile out-file exec execdir ok upload-pack receive-pack "
    "config eval command post-file use-compress-program compress-program checkpoint-action "
    "to-command rsh rsh-command rcfile init-file shell proxy-command script import template "
    "log-file upload-file directory-prefix info-script new-volume-script index-filter tree-filter "
    "msg-filter extcmd editor pager exec-path preload plugin interpreter"
)
# Single-letter options with the same powers (ssh/curl -o, wget -O, rsync -e, sh/git -c, tar -I,
# curl -T and -K, ssh -F); only judged at the start of the value, where option parsing happens.
DANGEROUS_SHORT_OPTIONS: Final = frozenset("oOecTIKF")


_COMMAND_CHAR: Final = rf"[^{RE2_SPACE};|&`'\"()<>$]"
_WORD_END: Final = rf"(?:[{RE2_SPACE};|&`'\"()<>$]|$)"
_NAMES = "|".join(re.escape(name) for name in sorted(_PROGRAMS_ONLY | _NEEDS_ARGUMENTS))
# RE2 gate fragment, read where a command word starts: a word :func:`looks_like_command` may
# accept. Its last path segment is a known program, or it is an executable path or file, or a
# slash-led glob (the checks of :func:`is_unambiguous_command`, loosened).
COMMAND_WORD_GATE: Final = (
    rf"\\*(?:(?:{_COMMAND_CHAR}*[/\\])?(?:{_NAMES}|{re2_caseless(_WINDOWS_PROGRAMS)}){_WORD_END}"
    rf"|/{_COMMAND_CHAR}*[?*]|\.{{1,2}}/|/(?:usr/(?:local/)?)?s?bin/|[A-Za-z]:\\"
    rf"|{_COMMAND_CHAR}*\.{re2_caseless(_EXECUTABLE_EXTENSIONS)}{_WORD_END})"
)


def _program_name(word: str) -> str:
    """``/usr/bin/curl`` and ``C:\\x\\calc.exe`` name the programs ``curl`` and ``calc.exe``."""
    return word.rpartition("/")[2].rpartition("\\")[2]


def could_be_command(word: str) -> bool:
    """Cheap first filter: most words after a ``;`` or ``&`` in prose are plainly not programs."""
    name = _program_name(word.lstrip("\\"))
    return (
        name in _PROGRAMS_ONLY
        or name in _NEEDS_ARGUMENTS
        or "/" in word
        or "\\" in word
        or "." in name
        or name.lower() in _WINDOWS_PROGRAMS
    )


def is_unambiguous_command(word: str) -> bool:
    """A path to an executable, a Windows executable, or a program name that is no English word."""
    word = word.lstrip("\\")  # \rm skips aliases and naive filters alike
    name = _program_name(word)
    if name in _PROGRAMS_ONLY:
        return True
    if not name or not ("/" in word or "\\" in word or "." in name or name.lower() in _WINDOWS_PROGRAMS):
        return False
    if word.startswith("/") and ("?" in word or "*" in word):
        return True  # /???/??t: the shell globs it into /bin/cat
    return (
        _EXECUTABLE_PATH.match(word) is not None
        or _WINDOWS_EXECUTABLE.fullmatch(name) is not None
        or name.lower() in _WINDOWS_PROGRAMS
    )


def looks_like_command(word: str, after: str, pipe_target: bool = False) -> bool:
    """Whether ``word`` (followed by ``after``) reads as a command in shell command position.

    ``pipe_target`` relaxes the need for arguments: ``| python`` runs python on its own.
    """
    if is_unambiguous_command(word):
        return True
    name = _program_name(word.lstrip("\\"))
    if name not in _NEEDS_ARGUMENTS:
        return False
    if not after.strip():
        return pipe_target or name in _COMPLETE_ALONE
    return _SHELL_SHAPED.match(after) is not None
