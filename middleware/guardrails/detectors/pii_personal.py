"""Dates of birth and postal addresses: personal only in context.

A date is everywhere (releases, sprints, log lines); it is a date of birth only right after a
birth label, in any of several languages. A number followed by capitalised words is everywhere
too; it is an address when a street type is followed by a city/postcode tail, or when an
address label stands before it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from middleware.guardrails.detectors.pii_context import Candidate, Label, label_before, starts_token

# What may sit between a birth label and its date: punctuation, quotes, "on", "am", "le"...
# ... and a format hint forms print after the label: "(MM/DD/YYYY)", "(TT.MM.JJJJ)", "[yyyy-mm-dd]".
_FORMAT_HINT = r"[(\[][A-Za-z]{1,4}[./\- ][A-Za-z]{1,4}[./\- ][A-Za-z]{1,4}[)\]]"
_LABEL_FILLER = (
    r"(?:"
    + _FORMAT_HINT
    + r"|[\s:=\"'()\[\]{},|.\-\uff1a\uff08\uff09「」]|(?:on|am|le|el|il|op|em|is|was|the)\b){0,12}+"
)
_DATE = (
    r"(?P<dmy>[0-9]{1,2}[./-][0-9]{1,2}[./-](?:[0-9]{4}|[0-9]{2}))(?![0-9])"
    r"|(?P<ymd>[0-9]{4}[./-][0-9]{1,2}[./-][0-9]{1,2})(?![0-9])"
    r"|(?P<dtext>[0-9]{1,2})(?:st|nd|rd|th|er)?\.?\s+(?:de\s+|of\s+)?(?P<dmonth>[^\W\d_]{3,10})\.?,?"
    r"\s+(?:de\s+)?(?P<dyear>[0-9]{4})"
    r"|(?P<mtext>[^\W\d_]{3,10})\.?\s+[0-9]{1,2}(?:st|nd|rd|th)?,?\s+(?P<myear>[0-9]{4})"
    r"|(?P<cjk>[0-9]{4})\s*年\s*[0-9]{1,2}\s*月\s*[0-9]{1,2}\s*日"
)
_CELL_DATE = re.compile(r"[\s\"']*(?P<date>" + _DATE + r")[\s\"']*", re.IGNORECASE)
_DATE_AFTER_LABEL = re.compile(_LABEL_FILLER + r"(?P<date>" + _DATE + r")", re.IGNORECASE)
# First three letters of month names in English, German, French, Spanish, Italian, Dutch, ...
_MONTH_PREFIXES = frozenset(
    (
        "jan",
        "feb",
        "fév",
        "fev",
        "mar",
        "mär",
        "maa",
        "apr",
        "avr",
        "abr",
        "may",
        "mai",
        "mag",
        "mei",
        "jun",
        "jui",
        "giu",
        "jul",
        "lug",
        "aug",
        "aoû",
        "aou",
        "ago",
        "sep",
        "set",
        "oct",
        "okt",
        "ott",
        "out",
        "nov",
        "dec",
        "déc",
        "dez",
        "dic",
        "ene",
        "gen",
        # Polish, Czech, Turkish, Scandinavian and Dutch forms not covered above
        "sty",
        "lut",
        "kwi",
        "maj",
        "cze",
        "lip",
        "sie",
        "wrz",
        "paź",
        "paz",
        "lis",
        "gru",
        "mrt",
        "des",
        "oca",
        "şub",
        "sub",
        "nis",
        "haz",
        "tem",
        "ağu",
        "eyl",
        "eki",
        "kas",
        "ara",
    )
)
_EARLIEST_YEAR = 1900
_LATEST_YEAR = 2030


def birth_date_after(text: str, label_start: int, label_end: int) -> Candidate | None:
    """The date right after a birth label (DOB, born, geboren, né le, 生年月日 ...)."""
    if not starts_token(text, label_start, ""):
        return None
    if label_end - label_start == len("b.") and text[label_start - 1 : label_start] != "(":
        return None  # "b." means born only in a biographical parenthesis: "(b. 14 Feb 1991)"
    match = _DATE_AFTER_LABEL.match(text, label_end)
    if match is None or not _plausible_birth_date(match):
        return None
    return Candidate(match.start("date"), match.end("date"), "date_of_birth")


def birth_date_in_cell(text: str, start: int, end: int) -> Candidate | None:
    """The date filling a table cell ``text[start:end]`` (under a birth-date column header)."""
    match = _CELL_DATE.fullmatch(text, start, end)
    if match is None or not _plausible_birth_date(match):
        return None
    return Candidate(match.start("date"), match.end("date"), "date_of_birth")


def _plausible_birth_date(match: re.Match[str]) -> bool:
    """Month names must be months and years must be birth years, so "born in Bonn" stays out."""
    if match.group("dtext") is not None:
        return _is_month(match.group("dmonth")) and _is_birth_year(match.group("dyear"))
    if match.group("mtext") is not None:
        return _is_month(match.group("mtext")) and _is_birth_year(match.group("myear"))
    if match.group("cjk") is not None:
        return _is_birth_year(match.group("cjk"))
    parts = [int(part) for part in re.split(r"[./-]", match.group("date"))]
    if match.group("ymd") is not None:
        return _is_birth_year(str(parts[0])) and 1 <= parts[1] <= 12 and 1 <= parts[2] <= 31
    first, second, year = parts
    year_ok = year < 100 or _EARLIEST_YEAR <= year <= _LATEST_YEAR
    return year_ok and 1 <= min(first, second) <= 12 and max(first, second) <= 31


def _is_month(word: str) -> bool:
    return word[:3].lower() in _MONTH_PREFIXES


def _is_birth_year(year: str) -> bool:
    return _EARLIEST_YEAR <= int(year) <= _LATEST_YEAR


_STREET_TYPE = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|terrace|ter|place|pl"
    r"|way|parkway|pkwy|highway|hwy|circle|cir|square|sq|trail|trl|crescent|cres|close|grove|gardens"
    r"|row|mews|plaza|alley|loop)"
)
_UNIT = r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|flat|floor|fl|rm|room|#)\.?\s*#?[0-9A-Za-z-]{1,6})?"
_STREET_NUMBER_FIRST = re.compile(
    r"[0-9][0-9]{0,5}(?:[A-Za-z]|\s?(?:bis|ter))?,?\s+(?:"
    # 742 Evergreen Terrace / 1600 Elm St Apt 4B / 10 Downing Street
    r"(?:[A-Z][A-Za-z'.-]*\s+){1,4}(?i:"
    + _STREET_TYPE
    + r")\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W))?"
    + _UNIT
    # 12 rue de la Paix
    + r"|(?i:rue|avenue|boulevard|bd|chemin|place|all[ée]e|impasse|quai|route|cours)\s+[^\W\d]"
    r"[^\n,;(){}\"0-9]{0,40}[^\W\d])(?![\w-])"
)
_STREET_NAME_FIRST = re.compile(
    r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ]?[a-zäöüß]+)*-?(?i:stra(?:ße|sse)|str\.|weg|gasse|allee|platz|damm"
    r"|ufer|straat|laan|gracht|plein|kade|singel|vej|gatan|gata|veien|gade|katu)\s+[0-9]{1,5}[a-z]?(?![\w-])"
)
# Calle Mayor 5 / Via Roma 10 / Rua Augusta 27
_STREET_WORD_FIRST = re.compile(
    r"(?:Calle|C/|Avenida|Avda\.|Plaza|Paseo|Carrer|Camino|Via|Viale|Piazza|Corso|Largo|Rua|Travessa"
    r"|Praça|Ulica|ul\.)\s+[^\W\d][^\n,;(){}\"0-9]{1,40}?,?\s[0-9]{1,5}[a-zA-Z]?(?![\w-])"
)
# The street-line pattern for each trigger kind of pii_triggers.
STREET_LAYOUTS: Final[Mapping[str, re.Pattern[str]]] = {
    "street_number_first": _STREET_NUMBER_FIRST,
    "street_name_first": _STREET_NAME_FIRST,
    "street_word_first": _STREET_WORD_FIRST,
}
_POSTAL_TAIL = re.compile(
    r",?\s*(?:"
    r"[A-Z][A-Za-z.' -]{1,30}?,\s*[A-Z]{2}\s+[0-9]{5}(?:-[0-9]{4})?"  # , Springfield, OR 97403
    r"|[A-Z][A-Za-z.' -]{1,30}?,?\s+[A-Z]{2}\s+[A-Z][0-9][A-Z]\s?[0-9][A-Z][0-9]"  # , Toronto, ON M5V 2A2
    r"|[A-Z][A-Za-z.' -]{1,30}?,?\s+(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT)\s+[0-9]{4}"  # , Sydney NSW 2000
    r"|(?:[A-Z][A-Za-z' -]{1,30}?,?\s+)?[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2}"  # , London SW1A 2AA
    r"|(?:[A-Z]{1,2}-)?[0-9]{4,5}(?:\s?[A-Z]{2})?\s+[A-ZÄÖÜÉ][\w'-]+(?:[ -][A-Z][\w'-]+)?"  # , 10115 Berlin
    r")(?![\w-])"
)
_CITY_TAIL = re.compile(r",\s*[A-Z][a-zà-ÿ]+(?:[ -][A-Z][a-zà-ÿ]+)?(?![\w-])")
_ADDRESS_LABEL = Label(
    r"(?i)[^a-z](?:address|addr|ship(?:ping)?\s+to|deliver(?:y)?\s+to|bill(?:ing)?\s+to|mail(?:ing)?"
    r"\s+to|send\s+to|lives?\s+at|living\s+at|moved\s+to|resid(?:es|ence|ing)|home|street|adresse"
    r"|anschrift|lieferadresse|wohnhaft|wohnt|direcci[óo]n|domicilio|indirizzo|residenza|adres"
    r"|endere[çc]o)|住所|地址|주소"
)
_EAST_ASIAN_REACH = 120  # longer than any match of the pattern below
_EAST_ASIAN_ADDRESS = re.compile(
    r"(?:〒\s?[0-9]{3}-[0-9]{4}\s*)?(?:東京都|北海道|大阪府|京都府|[\u4e00-\u9fff]{2,3}[県省])"
    r"[\u4e00-\u9fff]{1,8}?[市区町村县][\u4e00-\u9fff\u3040-\u30ff]{0,12}?[0-9\uff10-\uff19]{1,5}"
    r"(?:[-\u2212ー丁目番地号の][0-9\uff10-\uff19]{0,5}){0,4}[号]?"
)


def street_address_at(text: str, start: int, layout: str) -> Candidate | None:
    """The address whose street line starts at ``start``, when a postcode/city follows it or an
    address label precedes it. ``layout`` names the trigger that fired (see ``STREET_LAYOUTS``)."""
    match = STREET_LAYOUTS[layout].match(text, start)
    if match is None or not starts_token(text, start, ".,-"):
        return None
    return _with_tail(text, start, match.end())


def east_asian_address_near(text: str, start: int) -> Candidate | None:
    """A Japanese or Chinese address (prefecture/province, city, block numbers) starting near ``start``."""
    match = _EAST_ASIAN_ADDRESS.search(text, start, start + _EAST_ASIAN_REACH)
    return None if match is None else Candidate(match.start(), match.end(), "address")


def _with_tail(text: str, start: int, end: int) -> Candidate | None:
    """A street line is an address with a postcode or city after it, or an address label before."""
    tail = _POSTAL_TAIL.match(text, end)
    labelled = label_before(_ADDRESS_LABEL, text, start, 50)
    if tail is None and labelled:
        tail = _CITY_TAIL.match(text, end)
    if tail is None and not labelled:
        return None
    return Candidate(start, tail.end() if tail else end, "address")
