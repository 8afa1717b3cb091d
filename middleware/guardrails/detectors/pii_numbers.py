"""Number-shaped PII: the digit runs the RE2 pre-pass points at, each judged by validity rules.

Only runs shaped like an identifier reach this module (pii_triggers leaves dates, versions and
short numbers out), and a bare 7-12 digit number with no label before it is settled by one
label search (``plain_number_end``) before any run is built. A run is a card, an SSN, a
national id or a phone number only when the matching checksum or numbering plan says so —
shape alone never decides, because order ids, ISBNs and part numbers share the shapes.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from stdnum import luhn
from stdnum.us import ssn as us_ssn

from middleware.guardrails.detectors.pii_contact import ipv4_at
from middleware.guardrails.detectors.pii_context import (
    WORD_EDGE,
    Candidate,
    Label,
    label_before,
    starts_token,
)
from middleware.guardrails.detectors.pii_ids import ANY_ID_LABEL, numeric_id_matches
from middleware.guardrails.detectors.pii_phone import PHONE_LABEL, phone_end

# Digits with single separators; a parenthesised group may sit anywhere (trunk "(0)", area
# "(415)"). Separators are mandatory between digit groups, so each run splits one way only and
# the possessive repeat cannot backtrack. Runs glued to a token ("v1.2", "ID-42") are skipped.
_RUN = re.compile(
    r"(?:\+ ?)?(?:\([0-9]{1,5}\) ?)?[0-9]+(?:(?:[-./ ]| ?\([0-9]{1,4}\) ?)[0-9]+)*+",
    re.ASCII,
)
_SHORTEST_PII_RUN = 7  # the shortest phone number; anything shorter is a count, a year, a price
# The cheap first pass: starts with a single character class (so the engine skips ahead in C)
# and walks digits, brackets and single separators one character at a time, possessively.
# Runs are capped: nothing personal is that long, and a capped run's continuation is skipped.
_LONGEST_RUN = 64
_LOOSE_RUN = re.compile(rf"[+(0-9](?:[0-9()]|[-./ ](?=[0-9(])){{0,{_LONGEST_RUN - 1}}}+", re.ASCII)
_ANY_RUN = re.compile(r"[+(0-9)]?(?:[0-9()]|[-./ ](?=[0-9(]))*+", re.ASCII)
_RUN_CHARS = frozenset("0123456789()")
_RUN_SEPARATORS = frozenset("-./ ")
_GROUPS = re.compile(r"[0-9]+", re.ASCII)
_SEPARATORS = re.compile(r"[^0-9]+", re.ASCII)

_ADVERTISED_SSN = "123456789"  # voided by the SSA after use in advertising; a placeholder
_SSN_LABEL = Label(rf"(?i){WORD_EDGE}(?:ssn|social(?:\s+security)?|ss\s*(?:#|no)|tin|taxpayer)")

# Any label that can make a bare number personal (phone, SSN, national id): without one, a plain
# run of 7-12 digits (a JSON id, an epoch, a count) is settled with this one search.
_ANY_NUMBER_LABEL = Label(
    "|".join(f"(?:{label.pattern})" for label in (PHONE_LABEL, _SSN_LABEL, ANY_ID_LABEL))
)
_PLAIN_DIGITS = re.compile(r"[0-9]{7,12}", re.ASCII)
_CARD_DIGITS = 13  # a contiguous run this long may be a card, label or not

# (first digits low, high, how many leading digits, allowed lengths) for the card networks.
_CARD_NETWORKS: tuple[tuple[int, int, int, tuple[int, ...]], ...] = (
    (4, 4, 1, (13, 16, 19)),  # Visa
    (51, 55, 2, (16,)),  # Mastercard
    (2221, 2720, 4, (16,)),  # Mastercard 2-series
    (2200, 2204, 4, (16, 17, 18, 19)),  # Mir
    (34, 34, 2, (15,)),  # American Express
    (37, 37, 2, (15,)),  # American Express
    (300, 305, 3, (14, 16, 19)),  # Diners Club
    (36, 36, 2, (14, 16, 19)),  # Diners Club
    (38, 39, 2, (14, 16, 19)),  # Diners Club
    (3528, 3589, 4, (16, 17, 18, 19)),  # JCB
    (6011, 6011, 4, (16, 17, 18, 19)),  # Discover
    (644, 649, 3, (16, 17, 18, 19)),  # Discover
    (65, 65, 2, (16, 17, 18, 19)),  # Discover
    (62, 62, 2, (16, 17, 18, 19)),  # UnionPay
    (50, 50, 2, (13, 14, 15, 16, 17, 18, 19)),  # Maestro
    (56, 69, 2, (13, 14, 15, 16, 17, 18, 19)),  # Maestro and other debit
)


class Run(NamedTuple):
    """One digit run: where it is, its text, its digit groups and the separators between them."""

    start: int
    text: str
    groups: tuple[str, ...]
    separators: frozenset[str]

    @property
    def digits(self) -> str:
        """The digits alone, as checksums want them."""
        return "".join(self.groups)

    @property
    def lengths(self) -> tuple[int, ...]:
        """Group lengths: the formatting fingerprint (4-4-4-4 card, 3-2-4 SSN)."""
        return tuple(len(group) for group in self.groups)


def number_candidates(window: str, start: int) -> tuple[list[Candidate], int]:
    """The personal number (or IPv4 address) in the digit run around ``start``, and where it ends.

    ``window`` is a slice of the text; everything the rules look at (the run, a label up to 40
    characters before it) lies inside it, so a result can be reused wherever the slice repeats.
    """
    begin = _run_start(window, start)
    if begin is None:
        return [], _long_run_end(window, start)
    loose = _LOOSE_RUN.match(window, begin)
    if loose is None:
        return [], start + 1
    if loose.end() - begin >= _LONGEST_RUN:
        return [], _long_run_end(window, begin)
    if loose.end() - begin < _SHORTEST_PII_RUN or not starts_token(window, begin, ".+/-"):
        return [], loose.end()
    if "." in loose.group() and (address := ipv4_at(window, begin)) is not None:
        return [address], loose.end()
    match = _RUN.match(window, begin, loose.end())
    if match is None:
        return [], loose.end()
    following = window[match.end() : match.end() + 1]
    if following.isalpha() or following == "_":
        return [], loose.end()  # "1920x1080", "4B": part of a word, not a standalone number
    run_text = match.group()
    groups = tuple(_GROUPS.findall(run_text))
    candidate = classify_run(window, Run(begin, run_text, groups, frozenset(_SEPARATORS.findall(run_text))))
    return ([] if candidate is None else [candidate]), loose.end()


def plain_number_end(text: str, start: int) -> int | None:
    """Where the run at ``start`` ends when it is a bare 7-12 digit number with no label before it
    (nothing personal: only a label makes such a number a phone, an SSN or an id); else None.

    The common number in JSON and logs is settled here without building the run.
    """
    match = _PLAIN_DIGITS.match(text, start)
    if match is None or match.group().startswith("00"):
        return None  # "0044..." may be an international phone number
    after, then = text[match.end() : match.end() + 1], text[match.end() + 1 : match.end() + 2]
    if after in _RUN_CHARS or (after in _RUN_SEPARATORS and (then in _RUN_CHARS or then.isalpha())):
        return None  # the run goes on, or a DNI control letter follows ("12345678-Z")
    if after.isalpha():
        return None  # glued to a word, or a DNI control letter ("12345678Z")
    return None if label_before(_ANY_NUMBER_LABEL, text, start) else match.end()


def _run_start(window: str, start: int) -> int | None:
    """Where the run that ``start`` lies in begins (a trigger can fire past "12 " in "12 3456789").

    None when the run reaches back further than any personal number is long.
    """
    begin = start
    while begin > 0:
        before = window[begin - 1]
        if before == "+":
            return begin - 1
        glued = before in _RUN_CHARS or (
            before in _RUN_SEPARATORS
            and begin > 1
            and window[begin - 2] in _RUN_CHARS
            and window[begin] in "0123456789("
        )
        if not glued:
            break
        begin -= 1
        if start - begin >= _LONGEST_RUN:
            return None
    while begin < start and window[begin] not in "+(0123456789":
        begin += 1
    return begin


def _long_run_end(window: str, begin: int) -> int:
    """Where an over-long run ends: nothing in it is a personal number, so it is skipped whole."""
    match = _ANY_RUN.match(window, begin)
    return max(begin + 1, match.end() if match is not None else begin + 1)


def classify_run(text: str, run: Run) -> Candidate | None:
    """The first kind whose rules the run satisfies, with the span it covers."""
    end = run.start + len(run.text)
    if is_card(run):
        return Candidate(run.start, end, "card")
    if is_ssn(text, run):
        return Candidate(run.start, end, "ssn")
    if numeric_id_matches(text, run.start, run.text, run.groups):
        return Candidate(run.start, end, "national_id")
    phone_stop = phone_end(text, run.start, run.text, run.groups)
    if phone_stop is not None:
        return Candidate(run.start, run.start + phone_stop, "phone")
    return None


def is_card(run: Run) -> bool:
    """A payment card: network prefix and length agree, grouping is a card's, Luhn passes."""
    if not run.separators <= {" ", "-", "."} or len(run.separators) > 1 or run.text.startswith("+"):
        return False
    digits = run.digits
    if not 13 <= len(digits) <= 19 or not _card_grouping(run.lengths):
        return False
    if "." in run.separators and run.lengths != (4, 4, 4, 4):
        return False  # dots only in the plain 4-4-4-4 layout; other dotted runs are versions or ids
    return _card_network_known(digits) and luhn.is_valid(digits)


def _card_grouping(lengths: tuple[int, ...]) -> bool:
    """Printed cards are contiguous, 4-4-4-4(-3), or Amex/Diners 4-6-5 / 4-6-4."""
    if len(lengths) == 1:
        return True
    if lengths in ((4, 6, 5), (4, 6, 4)):
        return True
    return all(length == 4 for length in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _card_network_known(digits: str) -> bool:
    """The leading digits belong to an issuing network that uses this length."""
    for low, high, width, lengths in _CARD_NETWORKS:
        if low <= int(digits[:width]) <= high and len(digits) in lengths:
            return True
    return False


def is_ssn(text: str, run: Run) -> bool:
    """A US SSN: printed 3-2-4, or nine bare digits after an SSN label; never an impossible one.

    python-stdnum rejects area 000/666/9xx, group 00, serial 0000 and the famous published ones.
    """
    if len(run.digits) != 9 or run.text.startswith(("+", "(")):
        return False
    if run.digits == _ADVERTISED_SSN:
        return False
    if run.lengths == (3, 2, 4) and len(run.separators) == 1 and run.separators <= {"-", " "}:
        return us_ssn.is_valid(run.digits)
    if len(run.groups) == 1 and label_before(_SSN_LABEL, text, run.start, 30):
        return us_ssn.is_valid(run.digits)
    return False
