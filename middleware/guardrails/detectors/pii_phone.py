"""Phone numbers, judged by the numbering plans in ``phonenumbers`` rather than by shape.

``PhoneNumberMatcher`` is too slow for a gateway, so the digit-run pass hands over candidates
and this module validates them: "+" numbers directly; national numbers with a trunk "0" against
the plans of the countries that use one; North-American 3-3-4 numbers against the NANP plan;
anything else only when a phone label stands before it.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber

from middleware.guardrails.detectors.pii_context import WORD_EDGE, Label, label_before

PHONE_LABEL = Label(
    rf"(?i){WORD_EDGE}(?:tel|t[ée]l[ée]?phone|telefon|tel[ée]fono|telefone|phone|mobile?|mob|cell|handy"
    r"|cellulare|celular|m[óo]vil|portable|gsm|whatsapp|signal|sms|text|call|fax|contact|hotline"
    r"|ring|dial|reach|nummer|num[ée]ro|n[úu]mero|rufnummer)"
    r"|電話|携帯|电话|手机|手機|전화|휴대폰|телефон"
)

# Countries whose national format starts with a trunk "0" that the plan itself drops.
_TRUNK_ZERO_COUNTRIES: tuple[int, ...] = (
    44,
    49,
    33,
    81,
    61,
    31,
    82,
    86,
    91,
    41,
    43,
    32,
    46,
    64,
    27,
    90,
    353,
    62,
    66,
    60,
    63,
    92,
    234,
    20,
    972,
    358,
    84,
    886,
    380,
    48,
    36,
    40,
)
_ITALY = 39
_NANP = 1


def _numbering_plan(country: int) -> re.Pattern[str]:
    """Every national number the country's regions can have (``phonenumbers`` metadata).

    ``is_valid_number`` costs ~11 us; a number outside this pattern is invalid anyway, so the
    pattern is tried first and most look-alikes never reach the library.
    """
    patterns = [
        metadata.general_desc.national_number_pattern
        for region in phonenumbers.region_codes_for_country_code(country)
        if (metadata := PhoneMetadata.metadata_for_region(region)) is not None
        and metadata.general_desc is not None
        and metadata.general_desc.national_number_pattern is not None
    ]
    return re.compile("(?:" + "|".join(patterns) + ")")


_TRUNK_ZERO_PLANS: tuple[tuple[int, re.Pattern[str]], ...] = tuple(
    (country, _numbering_plan(country)) for country in _TRUNK_ZERO_COUNTRIES
)
_NANP_PLAN = _numbering_plan(_NANP)
# Countries whose national numbers have no trunk prefix; tried only when a label says "phone".
_NO_TRUNK_REGIONS: tuple[str, ...] = ("ES", "IT", "PT", "PL", "MX", "BR", "DK", "NO", "GR", "CZ", "FR", "US")

_MIN_DIGITS = 7
_MAX_DIGITS = 15
_MAX_TRIMMED_GROUPS = 2
_GROUP = re.compile(r"[0-9]+", re.ASCII)
_LABEL_REACH = 40  # as far back as ``label_before`` looks
# A short standalone number (a count, a size) as the last number before a run takes the label:
# "Phone 2:" is too short to, "depth 4096," does; another phone number ("Tel: 612 345 678, 698 ...") not.
_LAST_NUMBER = re.compile(r"(?<![0-9])(?<![0-9][-./ ])[0-9]{3,6}(?![-./ ]?[0-9])(?=[^0-9]*\Z)", re.ASCII)


def phone_end(text: str, start: int, run_text: str, groups: tuple[str, ...]) -> int | None:
    """Where the phone number in a digit run ends (offset in the run), or None if it is not one."""
    digits = "".join(groups)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS + 3 or _looks_like_date_or_list(run_text, groups):
        return None
    labelled = label_before(PHONE_LABEL, text, start) and _label_is_ours(text, start)
    if run_text.startswith("+"):
        return _international_end(run_text, labelled)
    if run_text.startswith("00"):
        if digits[2:3] == "0":
            return None  # no country code starts with 0
        return _international_end("+" + run_text[2:], labelled, offset=-1)
    if len(digits) > _MAX_DIGITS:
        return None
    if _national_valid(run_text, digits, groups, labelled):
        return len(run_text)
    return None


def _label_is_ours(text: str, start: int) -> bool:
    """A label with another number between it and this run labels that number ("Call stack depth
    4096, heap 2147483648"), unless the label word recurs after it."""
    context = text[max(0, start - _LABEL_REACH) : start]
    between = _LAST_NUMBER.search(context)
    if between is None:
        return True
    return label_before(PHONE_LABEL, text, start, len(context) - between.end())


def _looks_like_date_or_list(run_text: str, groups: tuple[str, ...]) -> bool:
    """Dates (14/03/1987, 2024-05-03) and lists of small numbers (04 12 19 23 37 41) are not phones."""
    if run_text.startswith(("+", "(")):
        return False
    lengths = tuple(len(group) for group in groups)
    if len(lengths) >= 6 and max(lengths) <= 2:
        return True
    if len(lengths) != 3:
        return False
    day_first = lengths[0] <= 2 and lengths[1] <= 2 and lengths[2] in (2, 4)
    year_first = lengths[0] == 4 and lengths[1] <= 2 and lengths[2] <= 2
    return day_first or year_first


def _international_end(run_text: str, labelled: bool, offset: int = 0) -> int | None:
    """A "+" number: try the whole run, then without trailing groups (a year glued on after).

    ``offset`` maps the end back when "00" was rewritten to "+" (one character shorter).
    """
    ends = [match.end() for match in _GROUP.finditer(run_text)]
    for end in reversed(ends[-1 - _MAX_TRIMMED_GROUPS :]):
        try:
            number = phonenumbers.parse(run_text[:end], None)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return end - offset
        if (labelled or run_text.count(" ") >= 2) and phonenumbers.is_possible_number(number):
            return end - offset  # fiction ranges (Ofcom drama) printed as phones are someone's number
    return None


def _national_valid(run_text: str, digits: str, groups: tuple[str, ...], labelled: bool) -> bool:
    """A number without "+": trunk-0 plans, the NANP 3-3-4 shape, or any plan when labelled."""
    if digits.startswith("0"):
        edges_ok = len(groups[0]) >= 2 and len(groups[-1]) >= 2  # ISBN 0-306-40615-2 is not a phone
        return edges_ok and (labelled or len(groups) > 1) and _trunk_zero_valid(digits, labelled)
    if _nanp_shaped(run_text, groups) or labelled:
        national = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
        if (
            len(national) == 10
            and _NANP_PLAN.fullmatch(national)
            and phonenumbers.is_valid_number(PhoneNumber(country_code=_NANP, national_number=int(national)))
        ):
            return True
    return labelled and _no_trunk_valid(run_text)


def _nanp_shaped(run_text: str, groups: tuple[str, ...]) -> bool:
    """How North-American numbers are printed: (415) 555-0163, 415-555-0163, 1-415-555-0163."""
    lengths = tuple(len(group) for group in groups)
    return lengths == (3, 3, 4) or (lengths == (1, 3, 3, 4) and groups[0] == "1") or run_text.startswith("(")


def _trunk_zero_valid(digits: str, labelled: bool) -> bool:
    """Valid in a trunk-0 country; with a label, a possible number is enough (fiction ranges)."""
    national = int(digits[1:])
    italian = PhoneNumber(country_code=_ITALY, national_number=int(digits), italian_leading_zero=True)
    if phonenumbers.is_valid_number(italian):
        return True
    significant = str(national)
    possible = False
    for country, plan in _TRUNK_ZERO_PLANS:
        in_plan = plan.fullmatch(significant) is not None
        if not in_plan and (possible or not labelled):
            continue
        number = PhoneNumber(country_code=country, national_number=national)
        if in_plan and phonenumbers.is_valid_number(number):
            return True
        possible = possible or (labelled and phonenumbers.is_possible_number(number))
    return possible


def _no_trunk_valid(run_text: str) -> bool:
    """Labelled numbers of countries without a trunk prefix (Spain 612 345 678, Brazil (11) ...)."""
    for region in _NO_TRUNK_REGIONS:
        try:
            number = phonenumbers.parse(run_text, region)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False
