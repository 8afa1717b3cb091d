"""Credentials inside URLs and command lines: ``scheme://user:pass@host``, webhook URLs, ``-p'pass'``.

A URL's user-info and a CLI password flag are explicit places for a password, so the value needs no
entropy, only not to be a stand-in (``user:password``, ``guest:guest``, ``${DB_PASS}``). Only the
password is reported, so the redacted URL still shows which host and user were involved.
"""

from __future__ import annotations

import re
from typing import Final

from middleware.guardrails.detectors.secrets_providers import RANK_PROVIDER, RANK_STRUCTURED, Candidate
from middleware.guardrails.detectors.secrets_values import is_password, is_token_body

_SCHEME_BEFORE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,30})\Z")
_USERINFO: Final = re.compile(r"""(?P<user>[^\s:/@'"<>]{0,128}):(?P<password>[^\s/@'"<>]{1,256})@[\w\[]""")
_DATABASE_SCHEMES: Final = frozenset(
    [
        "postgres",
        "postgresql",
        "mysql",
        "mariadb",
        "mongodb",
        "mongodb+srv",
        "redis",
        "rediss",
        "amqp",
        "amqps",
        "mssql",
        "sqlserver",
        "oracle",
        "cockroachdb",
        "clickhouse",
        "couchdb",
        "neo4j",
        "neo4j+s",
        "bolt",
        "cassandra",
        "memcached",
        "kafka",
        "nats",
        "mqtt",
        "mqtts",
        "ldap",
        "ldaps",
        "snowflake",
        "db2",
        "jdbc:postgresql",
        "jdbc:mysql",
        "elasticsearch",
    ]
)
_WEBHOOKS: Final = (
    (
        "hooks.slack.com/",
        "slack",
        re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}"),
    ),
    (
        "discord",
        "discord",
        re.compile(r"(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{5,}/[A-Za-z0-9_-]{30,}"),
    ),
)
_QUOTED_OR_BARE: Final = (
    r"""(?:'(?P<single>[^'\n]{1,200})'|"(?P<double>[^"\n]{1,200})"|(?P<bare>[^\s'"-][^\s'"]{0,200}))"""
)
_MYSQL_FLAG: Final = re.compile("-p" + _QUOTED_OR_BARE)
_SSHPASS_FLAG: Final = re.compile(r"-p[ \t]*" + _QUOTED_OR_BARE)
_REDIS_FLAG: Final = re.compile(r"-a[ \t]+" + _QUOTED_OR_BARE)
_USER_FLAG: Final = re.compile(
    r"""(?:-u|--user)(?:[ \t]+|=)['"]?(?P<user>[^\s:'"]{1,128}):(?P<password>[^\s'"]{1,256})"""
)
_LINE_REACH: Final = 300
_USERINFO_REACH: Final = 390  # user (128) + ":" + password (256) + "@" + slack
_WEBHOOK_LEADS: Final = frozenset("hdpc")
_MYSQL_TOOLS: Final = ("mysql", "mariadb")
# Commands whose ``-p`` is the password: registry/cloud logins (``docker login -u ci -p ...``) and shells.
_PASSWORD_P_COMMANDS: Final = re.compile(
    r"\b(?:sshpass|mongo(?:sh)?|(?:docker|podman|buildah|skopeo|nerdctl|oras|crane|helm(?:[ \t]+registry)?"
    r"|cf|az)[ \t]+login)\b"
)


def url_candidates(text: str, hit: int) -> list[Candidate]:
    """Credentials in the URL whose ``://`` sits at ``hit``: user-info password or a webhook secret."""
    after = hit + 3
    if text.find("@", after, after + _USERINFO_REACH) < 0 and text[after : after + 1] not in _WEBHOOK_LEADS:
        return []
    for host, kind, pattern in _WEBHOOKS:
        if text.startswith(host, after):
            webhook = pattern.match(text, after)
            return [Candidate(after, webhook.end(), kind, RANK_PROVIDER)] if webhook else []
    match = _USERINFO.match(text, after)
    if match is None or not is_password(match.group("password"), match.group("user")):
        return []
    scheme = _SCHEME_BEFORE.search(text, max(0, hit - 31), hit)
    name = scheme.group(1).lower() if scheme else ""
    kind = "conn_string" if name in _DATABASE_SCHEMES or name.startswith("jdbc") else "basic_auth"
    start, end = match.span("password")
    return [Candidate(start, end, kind, RANK_STRUCTURED)]


def _line_of(text: str, position: int) -> str:
    """The (lowered) line around ``position``, to see which program a flag belongs to."""
    low, high = max(0, position - _LINE_REACH), position + _LINE_REACH
    start = text.rfind("\n", low, position) + 1 or low
    end = text.find("\n", position, high)
    return text[start : high if end < 0 else end].lower()


def _flag_value(match: re.Match[str]) -> tuple[int, int]:
    """Span of whichever quoting form the flag's value used."""
    for group in ("single", "double", "bare"):
        if match.group(group) is not None:
            return match.span(group)
    return match.span()


def flag_candidate(text: str, hit: int) -> Candidate | None:
    """A password given on a command line; ``hit`` is the offset of a ``-`` that opens a flag."""
    flag = text[hit + 1 : hit + 2]
    if flag == "u" or text.startswith("-user", hit + 1):
        return user_flag_candidate(text, hit + 1 if flag == "-" else hit)
    if flag not in ("p", "a"):
        return None
    line = _line_of(text, hit)
    if flag == "a":
        match = _REDIS_FLAG.match(text, hit) if "redis-cli" in line else None
    elif _PASSWORD_P_COMMANDS.search(line):
        match = _SSHPASS_FLAG.match(text, hit)
    elif any(tool in line for tool in _MYSQL_TOOLS):
        match = _MYSQL_FLAG.match(text, hit)
    else:
        return None
    if match is None:
        return None
    start, end = _flag_value(match)
    return Candidate(start, end, "generic", RANK_STRUCTURED) if is_password(text[start:end]) else None


def user_flag_candidate(text: str, hit: int) -> Candidate | None:
    """``curl -u user:password`` / ``--user user:password``: ``hit`` is the offset of the flag."""
    match = _USER_FLAG.match(text, hit)
    if match is None:
        return None
    password = match.group("password")
    if not is_password(password, match.group("user")) or not is_token_body(password):
        return None
    start, end = match.span("password")
    return Candidate(start, end, "basic_auth", RANK_STRUCTURED)
