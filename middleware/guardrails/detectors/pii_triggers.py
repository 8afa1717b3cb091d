"""Where personal data may start: two linear-time RE2 passes over the whole text.

Python's ``re`` tries a pattern at every position, which is what made the detector slow: each of
eight passes cost 4-10 us per KB. Here RE2 finds the few places worth a closer look — digit runs
shaped like an identifier (dates, versions and short numbers are excluded by the patterns
themselves), IBAN-like tokens, "@", obfuscation tokens, IPv6 groups, street lines and labels —
and the validators then run ``re`` on a small window around each place only.

Both passes scan the UTF-8 bytes of the text behind a one-character sentinel. Every alternative
starts with exactly one "boundary" character (the sentinel stands in before the first), so the
value itself begins right after it; each search resumes on the last character of the previous
match, which may be the boundary of the next ("(at)passport"). The value pass has no capture
groups (RE2 extracts groups slowly, and it fires often in number-heavy text): the first
character of the value tells a number from a letter-led id. The word pass fires rarely;
``WORD_KIND`` (plain ``re``) names the alternative at the value start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import re2
from re2 import _re2

SENTINEL = "\n"

_SEP = r"[-./ ]"
# Digit runs with at least seven digits that are not dates (2024-05-03, 14/03/2025) or versions:
# the shapes of phone numbers, cards, SSNs and national ids as people print them.
_NUMBER_SHAPES = (
    r"\+ ?\(?(?:[0-9][-./ ()]{0,2}){5}",  # +44 20 7946 0958, +1 (650) 555-0112
    r"\([0-9]{1,5}\) ?[0-9]{2}",  # (212) 555-0187, 0044 (0)20 7946 0958
    r"[0-9]{5,}(?:S?[0-9]){2}",  # 5546867805246537, 07700 900123, 45353.4.0720
    r"[0-9]{3}S[0-9](?:S?[0-9]){3}",  # 401-50-5548, 089 12345678, 046 454 286
    r"[0-9]{4}S(?:[0-9]{3}|[0-9]{1,2}S[0-9]{3})",  # 4111 1111 ..., 0161 496 0753
    # 1-415-555-0163, 06-12345678, 04/60/004/31229; not 14/03/2025 nor 12:00:54.821
    r"[0-9]{1,2}S(?:[0-9]{3}(?:[0-9]|S[0-9]{2})|[0-9]{1,2}S(?:[0-9]{5}|[0-9]{3}(?:[^0-9]|$)))",
    r"[0-9]{2}\.[0-9]{2}\.[0-9]{2}-[0-9]{3}",  # Belgian national number 85.07.30-033.28
    # Four groups or more with one separator: dotted quads, 06 12 34 56 78, NIR, lottery lists
    # (not 2024-05-03 12:00, whose separators differ).
    r"[0-9]{1,4}(?:-[0-9]{1,4}){3}|[0-9]{1,4}(?:\.[0-9]{1,4}){3}|[0-9]{1,4}(?: [0-9]{1,4}){3}"
    r"|[0-9]{1,4}(?:/[0-9]{1,4}){3}",
)
_RUN_TAIL = r"(?:[0-9()]|[-./ ][0-9(])*"  # the rest of the run, so one run fires once
_LETTER_LED_IDS = (
    r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} ?[A-Z0-9]{4}",  # IBAN
    r"[a-z]{2}[0-9]{2} ?[a-z0-9]{4} ?[a-z0-9]{4}",  # IBAN typed in lower case
    r"[A-CEGHJ-PR-TW-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]",  # UK NINO
    r"[XYZ]-?[0-9]{7}-?[A-Z]",  # Spanish NIE
    r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPRST]",  # Italian codice fiscale
)
_VALUE_PATTERN = (
    r"[^0-9A-Za-z_.+/-](?:"
    + "|".join(shape.replace("S", _SEP) for shape in _NUMBER_SHAPES)
    + r")"
    + _RUN_TAIL
    + r"|[^0-9A-Za-z_-](?:"
    + "|".join(_LETTER_LED_IDS)
    + r")"
)

_HEX = "[0-9A-Fa-f]"
_STREET_TYPES = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|terrace|ter|place|pl"
    r"|way|parkway|pkwy|highway|hwy|circle|cir|square|sq|trail|trl|crescent|cres|close|grove|gardens"
    r"|row|mews|plaza|alley|loop"
)
_STREET_SUFFIXES = (
    r"stra(?:ße|sse)|str\.|weg|gasse|allee|platz|damm|ufer|straat|laan|gracht|plein|kade|singel|vej"
    r"|gatan|gata|veien|gade|katu"
)
PASSPORT_LABELS = (
    r"(?i:passport|passeport|reisepass|pasaporte|passaport[oe]|paspoort|pasaport|paszport|passnummer"
    r"|pass-?nr|passe?port-?nr|паспорт)|旅券|パスポート|护照|護照|여권"
)
BIRTH_LABELS = (
    r"(?i:b\.|d\.?o\.?b\.?|date[\s_-]*of[\s_-]*birth|birth[\s_-]*date|birthday|born(?:\s+on)?"
    r"|geb\.|geboren(?:\s+(?:am|op))?|geburtsdatum|geburtstag|n[ée]e?\s+le|date\s+de\s+naissance"
    r"|fecha\s+de\s+nacimiento|nacid[oa]\s+el|data\s+di\s+nascita|nat[oa]\s+il|geboortedatum"
    r"|data\s+de\s+nascimento|nascid[oa]\s+em|data\s+urodzenia|urodzon[ya]|f[øo]dselsdato"
    r"|f[öo]delsedatum|f[öø]dd|født|syntym[äa]aika|ur\.|narozen[aáý]?|datum\s+narozen[ií]"
    r"|do[gğ]um\s+tarihi|sz[üu]let[ée]si\s+d[áa]tum|sz[üu]letett|дата\s+рождения|родил(?:ся|ась))"
    r"|生年月日|出生日期|出生年月日|誕生日|生日|생년월일"
)
# (kind, boundary character, value): the value is what ``WORD_KIND`` recognises at the start.
_WORDS: tuple[tuple[str, str, str], ...] = (
    # "@" plain, URL-encoded (%40) or as an HTML entity (&#64; &#x40; &commat;)
    ("email", r"[A-Za-z0-9._%+-]", r"(?:@|%40|&#0*64;|&#[xX]0*40;|&commat;)(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2}"),
    (
        "obfuscated",
        r"(?s:.)",
        r"(?i:[\[({<]\s*(?:at|arroba|arobase|dot|\.)\s*[\])}>]|\s(?:dot|punkt|punto|ponto|arroba|arobase)\s)",
    ),
    (
        "ipv6",
        r"[^0-9A-Za-z_:.]",
        rf"(?:{_HEX}{{1,4}}:){{1,7}}:|::{_HEX}{{1,4}}:{_HEX}{{1,4}}:{_HEX}|{_HEX}{{1,4}}(?::{_HEX}{{1,4}}){{7}}",
    ),
    (
        "street_number_first",
        r"[^0-9A-Za-z_.,-]",
        r"[0-9]{1,6}(?:[A-Za-z]|\s?(?:bis|ter))?,?\s+(?:(?:[A-Z][A-Za-z'.-]*\s+){1,4}(?i:"
        + _STREET_TYPES
        + r")\b|(?i:rue|avenue|boulevard|bd|chemin|place|all[ée]e|impasse|quai|route|cours)\s)",
    ),
    (
        "street_name_first",
        r"[^0-9A-Za-z_.,-]",
        r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ]?[a-zäöüß]+)*-?(?i:" + _STREET_SUFFIXES + r")\s+[0-9]",
    ),
    (
        "street_word_first",
        r"[^0-9A-Za-z_.,-]",
        r"(?:Calle|C/|Avenida|Avda\.|Plaza|Paseo|Carrer|Camino|Via|Viale|Piazza|Corso|Largo|Rua"
        r"|Travessa|Praça|Ulica|ul\.)\s",
    ),
    ("east_asian_address", r"(?s:.)", r"〒|東京都|北海道|大阪府|京都府|[一-鿿]{2,3}[県省]"),
    # The first line of a passport's machine-readable zone (ICAO 9303 TD3): "P<UTOERIKSSON<<ANNA<..."
    ("mrz", r"[^0-9A-Za-z_<]", r"P[A-Z<][A-Z]{3}[A-Z<]{39}\r?\n"),
    ("passport", r"[^0-9A-Za-z_]", PASSPORT_LABELS),
    ("birth", r"[^0-9A-Za-z_]", BIRTH_LABELS),
)

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 32 << 20  # room for the DFA of the combined alternations
# The compiled programs are driven through the binding's ``Match`` directly: the ``re``-style
# wrapper spends ~2 us of Python per match (span bookkeeping), more than the matching itself.
_VALUE_TRIGGERS: Any = _re2.RE2(_VALUE_PATTERN.encode(), _OPTIONS)
_WORD_TRIGGERS: Any = _re2.RE2(
    "|".join(boundary + "(?:" + value + ")" for _, boundary, value in _WORDS).encode(), _OPTIONS
)
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
WORD_KIND = re.compile("|".join(f"(?P<{kind}>{value})" for kind, _, value in _WORDS))


def encode(text: str) -> bytes:
    """The bytes both passes scan: the sentinel, then the text as UTF-8 (lone surrogates kept)."""
    return (SENTINEL + text).encode("utf-8", "surrogatepass")


def value_starts(data: bytes, ascii_only: bool) -> Iterator[int]:
    """Offsets in the text where a number run or a letter-led id (IBAN, NINO ...) may start."""
    return _starts(_VALUE_TRIGGERS, data, ascii_only)


def word_starts(data: bytes, ascii_only: bool) -> Iterator[int]:
    """Offsets in the text of "@", obfuscation tokens, IPv6, street lines and birth/passport labels."""
    return _starts(_WORD_TRIGGERS, data, ascii_only)


def _starts(program: Any, data: bytes, ascii_only: bool) -> Iterator[int]:
    """Character offsets (in the text, sentinel excluded) of the value after each match's boundary.

    Offsets only grow, so for non-ASCII text each one is found by decoding just the bytes since
    the previous one: linear in the text overall.
    """
    search = program.Match
    size = len(data)
    position = 0
    byte_at = 1
    char_at = 0
    while True:
        begin, stop = search(_UNANCHORED, data, position, size)[0]
        if begin < 0:
            return
        # A match's last character may be the next one's boundary ("(at)passport").
        position = stop - 1
        while data[position] & 0xC0 == 0x80:  # back to the first byte of that character
            position -= 1
        value = begin + _utf8_width(data[begin])
        if ascii_only:
            yield value - 1
            continue
        char_at += len(data[byte_at:value].decode("utf-8", "surrogatepass"))
        byte_at = value
        yield char_at


def _utf8_width(lead: int) -> int:
    """Bytes in the UTF-8 character that starts with ``lead`` (the boundary character)."""
    if lead < 0x80:
        return 1
    if lead < 0xE0:
        return 2
    return 3 if lead < 0xF0 else 4
