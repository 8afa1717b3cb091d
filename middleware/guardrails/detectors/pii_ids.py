"""National identity numbers and passport numbers.

Most national numbers are short digit strings with a one-digit checksum, so a random number
passes about one time in ten: they count only after a label naming them (or a generic
"national id" label). Formats distinctive enough on their own (Spanish DNI letter, Italian
codice fiscale, UK NINO prefixes, Brazilian CPF dots, Swiss AHV "756.") need no label.
Passport numbers have no checksum at all, so they always need a passport label.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from stdnum import luhn
from stdnum.au import tfn
from stdnum.be import nn as be_nn
from stdnum.br import cpf
from stdnum.ch import ssn as ch_ssn
from stdnum.cn import ric
from stdnum.de import idnr
from stdnum.dk import cpr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.kr import rrn
from stdnum.nl import bsn
from stdnum.no import fodselsnummer
from stdnum.pl import pesel
from stdnum.se import personnummer

from middleware.guardrails.detectors.pii_context import (
    WORD_EDGE,
    WORD_END,
    Candidate,
    Label,
    digits_only,
    label_before,
    starts_token,
)


class IdRule(NamedTuple):
    """One numeric national id: the label words that name it, its lengths, its checksum, and the
    printed shape (if any) distinctive enough to accept without a label."""

    words: str
    lengths: tuple[int, ...]
    is_valid: Callable[[str], bool]
    shape_without_label: re.Pattern[str] | None = None


def _words(words: str) -> str:
    """Label words as a whole-word RE2 pattern."""
    return WORD_EDGE + "(?i:" + words + ")" + WORD_END


_ID_RULES: tuple[IdRule, ...] = (
    IdRule(r"sin|social\s+insurance(?:\s+number)?|nas", (9,), luhn.is_valid),
    IdRule(r"bsn|burgerservicenummer|sofinummer", (8, 9), bsn.is_valid),
    IdRule(r"aadhaa?r(?:\s+(?:no|number))?|uid|uidai|आधार", (12,), aadhaar.is_valid),
    IdRule(
        r"steuer-?id|steuer-?identifikationsnummer|identifikationsnummer|idnr|tin",
        (11,),
        idnr.is_valid,
    ),
    IdRule(
        r"nir|insee|s[ée]curit[ée]\s+sociale|s[ée]cu|carte\s+vitale",
        (13, 15),
        nir.is_valid,
        re.compile(r"[12] [0-9]{2} [0-9]{2} [0-9]{2} [0-9]{3} [0-9]{3}(?: [0-9]{2})?"),
    ),
    IdRule(r"pesel", (11,), pesel.is_valid),
    IdRule(r"personnummer|personnr|person-?nummer", (10, 12), personnummer.is_valid),
    IdRule(r"cpr(?:-nummer)?", (10,), cpr.is_valid),
    IdRule(r"f[øo]dselsnummer", (11,), fodselsnummer.is_valid),
    IdRule(r"cpf", (11,), cpf.is_valid, re.compile(r"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}")),
    IdRule(r"rrn|resident\s+registration(?:\s+number)?|주민등록번호", (13,), rrn.is_valid),
    IdRule(r"rijksregisternummer|insz|niss|num[ée]ro\s+national", (11,), be_nn.is_valid),
    IdRule(r"tfn|tax\s+file\s+number", (8, 9), tfn.is_valid),
    IdRule(r"nhs(?:\s+(?:no|number))?", (10,), nhs.is_valid),
    IdRule(
        r"ahv|avs|sozialversicherungsnummer",
        (13,),
        ch_ssn.is_valid,
        re.compile(r"756\.[0-9]{4}\.[0-9]{4}\.[0-9]{2}"),
    ),
)

# A label that names an identity number without saying which country's.
_GENERIC_ID_WORDS = (
    r"national\s+(?:id|identity|identification)(?:\s+(?:no|number|card))?|identity\s+(?:number|card|no)"
    r"|personal\s+(?:id|identity|identification)\s+(?:no|number)|citizen\s+id|id\s+card"
    r"|personalausweis(?:nummer)?|c[ée]dula|carte\s+d'identit[ée]|carta\s+d'identit[àa]|身份证(?:号)?"
)
_GENERIC_ID_LABEL = Label(_words(_GENERIC_ID_WORDS))
_ID_LABELS: tuple[Label, ...] = tuple(Label(_words(rule.words)) for rule in _ID_RULES)

# Any of the labels above: one search that usually rules out every id rule at once.
ANY_ID_LABEL = Label(_words("|".join(rule.words for rule in _ID_RULES) + "|" + _GENERIC_ID_WORDS))

# Letter-bearing national ids whose format is distinctive on its own (validated below).
_ALNUM_ID = re.compile(
    r"(?:"
    r"(?P<nino>[A-CEGHJ-PR-TW-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D])"
    r"|(?P<dni>[0-9]{8}-?[A-Z]|[XYZ]-?[0-9]{7}-?[A-Z])"
    r"|(?P<cf>[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])"
    r"|(?P<ric>[1-9][0-9]{16}[0-9X])"
    r")(?![\w-])",
    re.ASCII,
)
_NINO_FORBIDDEN_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})

# A passport number: 6-10 capitals and digits with at least 5 digits; no checksum exists.
# Mostly digits (US 9 digits, NL X4821957), or longer mixes with fewer (German C4J9K2L7M).
_PASSPORT_NUMBER = re.compile(
    r"(?<![\w-])(?:(?=(?:[A-Z]*[0-9]){5})[A-Z0-9]{6,10}|(?=(?:[A-Z]*[0-9]){3})[A-Z0-9]{8,10})(?![\w-])",
    re.ASCII,
)
_PASSPORT_WINDOW = 40


def numeric_id_matches(text: str, start: int, run_text: str, groups: tuple[str, ...]) -> bool:
    """A digit run is a national id when a rule's checksum holds and its label (or shape) is there.

    Labels are looked for before checksums are computed: one combined search usually says that
    no id label is near, and then no checksum runs at all.
    """
    digits = "".join(groups)
    rules = [
        (rule, label)
        for rule, label in zip(_ID_RULES, _ID_LABELS, strict=True)
        if len(digits) in rule.lengths
    ]
    if not rules:
        return False
    labelled = label_before(ANY_ID_LABEL, text, start)
    generic = labelled and label_before(_GENERIC_ID_LABEL, text, start)
    for rule, label in rules:
        shaped = rule.shape_without_label is not None and rule.shape_without_label.fullmatch(run_text)
        named = shaped or generic or (labelled and label_before(label, text, start))
        if named and rule.is_valid(digits):
            return True
    return False


def alnum_id_at(text: str, start: int) -> Candidate | None:
    """The letter-bearing national id (NINO, DNI/NIE, codice fiscale, Chinese resident id) at ``start``."""
    if not starts_token(text, start, "-"):
        return None
    match = _ALNUM_ID.match(text, start)
    if match is None or not _alnum_id_valid(match.lastgroup, match.group()):
        return None
    return Candidate(match.start(), match.end(), "national_id")


def _alnum_id_valid(family: str | None, value: str) -> bool:
    """Apply the id family's own checksum or allocation rules."""
    compact = value.replace(" ", "").replace("-", "")
    if family == "nino":
        return compact[:2] not in _NINO_FORBIDDEN_PREFIXES and compact[1] != "O"
    if family == "dni":
        return nie.is_valid(compact) if compact[0] in "XYZ" else dni.is_valid(compact)
    if family == "cf":
        return codicefiscale.is_valid(compact)
    if family == "ric":
        return ric.is_valid(compact)
    return False


def passport_after(text: str, label_start: int, label_end: int) -> Candidate | None:
    """The first number-like token shortly after a passport label (on the same line)."""
    if not starts_token(text, label_start, ""):
        return None
    stop = text.find("\n", label_end, label_end + _PASSPORT_WINDOW)
    if stop < 0:
        stop = min(len(text), label_end + _PASSPORT_WINDOW)
    number = _PASSPORT_NUMBER.search(text, label_end, stop)
    if number is None or _looks_like_year_or_date(number.group()):
        return None
    return Candidate(number.start(), number.end(), "passport")


def _looks_like_year_or_date(token: str) -> bool:
    """Compact dates (20310402) after a passport label are expiry dates, not the number."""
    digits = digits_only(token)
    return len(token) == 8 and digits == token and token[:2] in ("19", "20")


# The second MRZ line opens with the document number (9 characters, "<"-padded) and its check digit.
_MRZ_NUMBER = re.compile(r"([A-Z0-9<]{9})([0-9])[A-Z<]{3}[0-9]{7}[MFX<][0-9]{7}")
_MRZ_WEIGHTS = (7, 3, 1)


def passport_in_mrz(text: str, second_line: int) -> Candidate | None:
    """The passport number on the MRZ line starting at ``second_line``, if its check digit holds."""
    match = _MRZ_NUMBER.match(text, second_line)
    if match is None or _mrz_check_digit(match.group(1)) != int(match.group(2)):
        return None
    number = match.group(1).rstrip("<")
    if not number or "<" in number:
        return None
    return Candidate(match.start(1), match.start(1) + len(number), "passport")


def _mrz_check_digit(field: str) -> int:
    """ICAO 9303: digits count as themselves, A-Z as 10-35, the filler "<" as 0; weights 7, 3, 1."""
    values = (0 if char == "<" else int(char, 36) for char in field)
    return sum(value * _MRZ_WEIGHTS[index % 3] for index, value in enumerate(values)) % 10
