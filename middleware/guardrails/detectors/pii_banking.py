"""Bank account numbers (IBAN), accepted only when the mod-97 check digits hold.

A wrong check digit means a typo or a made-up reference, and the product treats those as not
personal data; python-stdnum also checks each country's length and BBAN format.
"""

from __future__ import annotations

import re

from stdnum import iban

from middleware.guardrails.detectors.pii_context import Candidate, starts_token

# Country code, check digits, then the BBAN compact or in groups of four (last group shorter).
# Typed in lower case too ("de89 3704 ..."), but one case throughout: mixed case is a token, not an IBAN.
_IBAN = re.compile(
    r"[A-Z][A-Z][0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w-])"
    r"|[a-z][a-z][0-9]{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,3})?(?![\w-])",
    re.ASCII,
)


_LETTER_VALUES = str.maketrans(
    {chr(code): str(code - ord("A") + 10) for code in range(ord("A"), ord("Z") + 1)}
)


def iban_at(text: str, start: int) -> Candidate | None:
    """The IBAN at ``start``, compact or grouped, with the right length and format for its country
    and valid mod-97 check digits (national BBAN check digits are not required: issuers vary).

    The mod-97 sum is computed first because it is cheap and rejects almost every look-alike;
    python-stdnum's fuller (and slower) check runs only on the survivors.
    """
    if not starts_token(text, start, "-"):
        return None
    match = _IBAN.match(text, start)
    if match is None:
        return None
    compact = match.group().replace(" ", "").upper()
    if not _mod97_holds(compact) or not iban.is_valid(compact, check_country=False):
        return None
    return Candidate(match.start(), match.end(), "iban")


def _mod97_holds(compact: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters become 10..35, mod 97 is 1."""
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_LETTER_VALUES)) % 97 == 1
