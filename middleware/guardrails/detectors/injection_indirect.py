"""Cues of indirect injections: the model named in the third person, data fields, quieter verbs.

Unseen injections rarely say "AI: ignore all previous instructions". They write "the assistant
summarising these results should ...", "Note to the shopping assistant:", put the order in an
``ai_note`` field, cancel "the task you were handed", or ask to "leave it out of your summary".
Each cue is still weak on its own and adds up with its neighbours (see ``injection_score``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

import re2

from middleware.guardrails.detectors.injection_rules import Rule, rule, words

# Nouns that can only mean an AI system (alone or with an AI modifier), as an RE2 anchor too.
_STRONG = (
    r"(?:(?:ai|automated|autonomous|coding|llm)[ -](?:agents?|models?|bots?|systems?|tools?|readers?|"
    r"helpers?|screeners?|summari[sz]ers?|crawlers?)|ai|a\.i\.|llms?|language models?|assistants?|"
    r"chatbots?|copilots?)"
)
_STRONG_ANCHORS = (
    r"\bai\b",
    r"\ba\.i\.",
    r"\bllms?\b",
    *words(("language model", "assistant", "chatbot", "copilot", "automated ", "autonomous ", "coding ")),
)
# "agent", "model", "bot" also name people and maths: only with a clause that shows what they read.
_CLAUSE = (
    r"(?:agents?|models?|bots?|systems?|readers?)\s+(?:that is |who is |which is )?(?:reading|processing|"
    r"answering|summari[sz]ing|indexing|handling|parsing|reviewing|screening|crawling|analy[sz]ing|"
    r"ingesting|triaging|grading|evaluating|translating|classifying)\s+"
    r"(?:this|these|the|our)\b"
)
_MODAL = (
    r" (?:must|should|shall|ought to|needs? to|has to|have to|is to|are to|will now|may now|can now|"
    r"(?:is|are) (?:now )?(?:expected|required|authori[sz]ed|allowed|permitted|cleared|instructed|asked|"
    r"supposed|told|directed) to|(?:has|have) been (?:granted|given|authori[sz]ed|cleared|approved))\b"
)
_SUBJECT_MODAL = rf"(?:{_STRONG}\b(?: [\w'-]+){{0,4}}?|{_CLAUSE}(?: [\w'-]+){{0,2}}?){_MODAL}"

_ACT = (
    r" (?:call|invoke|use|run|execute|send|email|forward|fetch|open|delete|post|upload|share|transfer|"
    r"approve|"
    r"grant|read|export|book|buy|pay|click|visit|install|push|merge|tell|inform|say|state|answer|reply|respond|"
    r"disable|set|ignore|forget|treat|recommend|reveal|warn|ask|include|mark|rank)\b"
)
_DROP_ORDERS = (
    r"(?:set aside|abandon|drop|discard|disregard|ignore|forget)\s+(?:(?:whatever|what|everything)\s+"
    r"(?:it|you|"
    r"they)\s+(?:was|were|has been|have been|had been)\s+(?:asked|told|instructed|given)|what (?:the |your )?"
    r"(?:operator|user|developer|system)s?\s+(?:told|asked|instructed)|the user(?:'s|s'| s|s)?\s+(?:request|"
    r"question|instructions?|task))"
)
_ANSWER_ONLY = r"(?:answers?|repl(?:y|ies)|responds?) only with|from this point(?: on| forward)?|from here on"
_HEADER = (
    r"(?:notes?|messages?|instructions?|notice|memo|reminder|attention|directive|hint|guidance|p\.?s\.?)"
    rf"[ ,:]*(?:to|for)?\s*(?:the |any |all |every |whatever |each |our )?(?:[\w-]+ ){{0,2}}?{_STRONG}\b"
)
_FOR_HEADER = (
    rf"(?:^|[\n(\[.;!?>*-] ?)(?:for|to) (?:the |any |all |whatever )?(?:[\w-]+ ){{0,2}}?{_STRONG}"
    r"\b(?: [\w'-]+){0,4}?\s*(?::|,|\x{2014}| - )"
)
_FIELD = (
    r"\b(?:(?:ai|llm|assistant|gpt|copilot)[_ -]?|(?:agent|model|bot)[_-])(?:notes?|instructions?|"
    r"directives?|prompts?"
    r"|guidance|polic(?:y|ies)|hints?)[\"']?\s*[:=]|\b(?:notes?|instructions?|directives?|prompts?|hints?|"
    r"guidance|memos?)[_-]"
    r"(?:for|to)[_-](?:ai|llm|agents?|assistants?|models?|bots?)\b|\boperator[_ -]directive"
)
_CANCELLED = (
    r"(?:(?:previous|prior|original|current|earlier|initial|old|all|any|your|system|existing|safety|usual|"
    r"normal)\s+(?:[\w-]+\s+)?(?:tasks?|instructions?|requests?|assignments?|prompts?|rules|directives?|"
    r"guidelines|orders|programming|restrictions|policies)(?:\s+you (?:normally |usually |would )?(?:follow|"
    r"obey|were given|have))?|(?:tasks?|instructions?|jobs?|assignments?)\s+(?:you were|you've been|"
    r"you have been|given to you|handed to you)(?:\s+\w+)?)\s+(?:(?:is|are|was|were|has been|have been)\s+"
    r"(?:now\s+)?(?:hereby\s+)?)?(?:(?:outdated|obsolete|old) and )?(?:cancel+ed|void|null and void|"
    r"obsolete|revoked|superseded|replaced|overridden|"
    r"no longer (?:valid|in effect|apply|applies|applicable)|do not apply|invalid|suspended)\b"
)
_UNLOCKED = (
    r"(?:granted|given|in|enabled|unlocked|into) (?:an? )?(?:unrestricted|developer|admin|god|elevated|root|"
    r"jailbreak|debug|sudo) (?:mode|access|privileges|permissions)|developer mode (?:enabled|activated|on)|"
    r"(?:safety|content|ethical|moderation) (?:guidelines|filters?|rules|policies|restrictions|checks) "
    r"(?:are|have been|were|is) (?:now )?(?:suspended|disabled|lifted|removed|off|turned off|deactivated)"
)
_PRIORITY = (
    r"(?:treat|consider|regard) (?:it|this|these|them|this \w+) as (?:a )?(?:higher|the highest|highest|"
    r"top|absolute|overriding) priority|(?:over|above) (?:the |your )?(?:system prompt|operator)|"
    r"obey (?:it|this|these|them|me) (?:over|instead|rather)"
)
_FROM_AUTHORITY = (
    r"(?:official (?:notice|message|instruction|communication|directive)|(?:notice|message|instructions?|"
    r"directive|order|communication) from (?:the |your )?(?:[\w-]+ ){1,2}(?:developers?|admins?|"
    r"administrators?|operators?|owners?|openai|anthropic|google|microsoft))"
)
_CONCEAL_MORE = (
    r"keep (?:this|it|that|the following|these \w+)\b[^.\n]{0,40}?\bfrom (?:the |your )?(?:user|human|"
    r"person|customer|owner|reader|mailbox owner|operator)",
    r"(?:omit|leave out|exclude|hide|strip)\b[^.\n]{0,60}?\b(?:from|in|out of) (?:your|the) (?:summary|"
    r"answer|response|reply|report|output|sources)",
    r"leave (?:it|this|that|them) out\b|never (?:bring (?:it|this|that) up|let (?:them|the user|the human)"
    r" know)|quietly|discreetly",
    r"(?:user|human|person|customer|reader|owner)s? (?:never|must never|must not|should not|shouldn't|"
    r"won't|doesn't|does not) (?:finds? out|knows?|learns?|sees?|notices?|realizes?|suspects?)",
    r"(?:must|should|may) (?:not|never) be (?:mentioned|disclosed|revealed|shown|surfaced) to|"
    r"(?:act|pretend|behave) as (?:if|though) (?:it|this|that|they|the \w+) (?:does not|doesn't|did not|"
    r"didn't|do not|don't) exist",
)


def _rule(family: str, weight: float, pattern: str, anchors: tuple[str, ...], reach: tuple[int, int]) -> Rule:
    return rule(family, weight, pattern, anchors, reach)


class _Shifted:
    """An RE2 match found in a slice, answering like a ``re`` match on the whole text."""

    __slots__ = ("_base", "_match")

    def __init__(self, match: Any, base: int) -> None:
        self._match, self._base = match, base

    def start(self) -> int:
        return int(self._match.start()) + self._base

    def end(self) -> int:
        return int(self._match.end()) + self._base

    def group(self, *names: Any) -> Any:
        return self._match.group(*names)


class _SlicedRe2:
    """RE2 run on the window only: given a ``str`` and a start, RE2 would re-encode the whole text."""

    __slots__ = ("_pattern",)

    def __init__(self, pattern: str) -> None:
        self._pattern = re2.compile(pattern)

    def finditer(self, text: str, start: int = 0, end: int = -1) -> Iterator[_Shifted]:
        window = text[start:end] if end >= 0 else text[start:]
        return (_Shifted(match, start) for match in self._pattern.finditer(window))


def _fast(family: str, weight: float, pattern: str, anchors: tuple[str, ...], reach: tuple[int, int]) -> Rule:
    """RE2 for the rules whose windows open on common words and that start with no literal (10x faster)."""
    return Rule(family, weight, cast("re.Pattern[str]", _SlicedRe2(pattern)), anchors, reach)


_AI_NOUNS = ("ai", "llm", "agent", "assistant", "model", "bot", "gpt", "copilot")
_GERUNDS = ("reading", "processing", "answering", "summaris", "summariz", "indexing", "handling", "parsing")
_GERUNDS_MORE = ("reviewing", "screening", "crawling", "analys", "analyz", "ingesting", "triaging")
_GERUNDS_LAST = ("grading", "evaluating", "translating", "classifying")
_CONCEAL_ANCHORS = (
    words("keep ", ("this", "it", "that", "the following", "these ")),
    words(("omit", "leave out", "exclude", "hide ", "strip ")),
    words(("leave it out", "leave this out", "leave that out", "leave them out", "never bring", "never let"))
    + words(("quietly", "discreetly")),
    words(
        ("never", "must not", "should not", "shouldn't", "won't", "doesn't", "does not"),
        " ",
        ("find", "know", "learn", "see", "notice", "realiz", "suspect"),
    ),
    words(("not", "never"), " be ", ("mentioned", "disclosed", "revealed", "shown", "surfaced"), " to")
    + words(("act", "pretend", "behave"), " as ", ("if", "though")),
)
_CONCEAL_REACH = ((0, 80), (0, 110), (0, 8), (30, 12), (40, 60))

INDIRECT_RULES: tuple[Rule, ...] = (
    _rule(
        "override",
        2,
        _DROP_ORDERS,
        words(("whatever", "what", "everything"), " ", ("it", "you", "they"), " ")
        + words("what ", ("the ", "your ", ""), ("operator", "user", "developer", "system"))
        + words("the user", ("'s", "s'", " s", "s", ""), " ", ("request", "question", "instruction", "task")),
        (24, 50),
    ),
    _rule("response", 1, _ANSWER_ONLY, words(("only with", "from this point", "from here on")), (24, 12)),
    _rule("authority", 1.5, r"system override\b", ("system override",), (0, 2)),
    # "must refuse", "should not" describe a product: only an action verb right after the modal counts
    _fast(
        "address",
        2,
        f"{_SUBJECT_MODAL}{_ACT}|{_HEADER}|{_FOR_HEADER}",
        (*_STRONG_ANCHORS, *words((*_GERUNDS, *_GERUNDS_MORE, *_GERUNDS_LAST))),
        (50, 130),
    ),
    _rule(
        "address",
        2,
        rf"(?:if|when|while) (?:an? |the |any )?{_STRONG} is (?:reading|answering|summari[sz]ing|processing|"
        r"parsing|handling|reviewing|screening|using|translating)\b",
        words(" is ", ("reading", "answering", "summaris", "summariz", "processing", "parsing"))
        + words(" is ", ("handling", "reviewing", "screening", "using", "translating")),
        (60, 16),
    ),
    rule(
        "address",
        2,
        r"if you(?:'re| are) (?:an? |the )?(?:[\w-]+ ){0,2}?(?:ai|llm|language model|"
        r"assistant|agent|bot|model|chatbot)\b",
        words("if you", ("'re ", " are ")),
        (0, 60),
    ),
    _rule(
        "address",
        1.5,
        _FIELD,
        words(
            _AI_NOUNS,
            ("_", "-", " ", ""),
            ("note", "instruction", "directive", "prompt", "guidance", "polic", "hint"),
        )
        + words(
            ("note", "instruction", "directive", "prompt", "hint", "guidance", "memo"), ("s_", "_", "s-", "-")
        )
        + words("operator", ("_", "-", " "), "directive"),
        (4, 20),
    ),
    _rule(
        "override",
        2,
        _CANCELLED,
        words(("cancel", "void", "obsolete", "revoked", "superseded", "replaced", "overridden", "no longer"))
        + words(("outdated and ", "old and "))
        + words(("not apply", "suspended")),
        (100, 24),
    ),
    _rule(
        "persona",
        2,
        _UNLOCKED,
        words(
            ("unrestricted", "developer", "admin", "god", "elevated", "root", "jailbreak", "debug", "sudo"),
            " ",
            ("mode", "access", "privileges", "permissions"),
        )
        + words(
            ("safety ", "content ", "ethical ", "moderation "),
            ("guidelines", "filter", "rules", "policies", "restrictions", "checks"),
        ),
        (24, 60),
    ),
    _rule(
        "authority",
        2,
        _PRIORITY,
        words(("higher", "highest", "top", "absolute", "overriding"), " priority")
        + words(("system prompt", "operator", "obey ")),
        (50, 24),
    ),
    _rule(
        "authority",
        1.5,
        _FROM_AUTHORITY,
        words("official ", ("notice", "message", "instruction", "communication", "directive"))
        + words(("notice", "message", "instruction", "directive", "order", "communication"), " from "),
        (0, 60),
    ),
    *(
        _rule("conceal", 1.5, pattern, anchors, reach)
        for pattern, anchors, reach in zip(_CONCEAL_MORE, _CONCEAL_ANCHORS, _CONCEAL_REACH, strict=True)
    ),
)

_CREDENTIAL = (
    r"(?:enter|provide|submit|confirm|type|paste|reply with|share|send)\b[^.\n]{0,30}?\b(?:their|your|the "
    r"user's) (?:full )?(?:card(?: number)?|credit card|cvv|cvc|pin|password|passcode|2fa|otp|one-time "
    r"(?:code|password)|login|credentials|social security|ssn|online banking|bank(?:ing)? (?:details|pin|"
    r"password)|seed phrase|recovery phrase)"
)
_LOCKED = (
    r"(?:session|login|apple id|subscription|membership|card)\b[^.\n]{0,40}?\b(?:locked|suspended|expired|"
    r"compromised|disabled|deactivated|frozen|blocked)|(?:fees?|charges?|duties|payment)\b[^.\n]{0,30}?\b"
    r"(?:unpaid|outstanding|overdue)"
)
INDIRECT_SECONDARY: tuple[Rule, ...] = (
    _rule(
        "phishing",
        2,
        _CREDENTIAL,
        words(
            ("their", "your", "the user's"),
            " ",
            ("", "full "),
            ("card", "credit card", "cvv", "cvc", "pin", "password", "passcode", "2fa", "otp", "one-time"),
        )
        + words(
            ("their", "your", "the user's"),
            " ",
            ("login", "credentials", "social security", "ssn", "online banking", "bank", "seed", "recovery"),
        ),
        (50, 24),
    ),
    _rule(
        "phishing",
        2,
        _LOCKED,
        words(
            ("locked", "suspended", "expired", "compromised", "disabled", "deactivated", "frozen", "blocked")
        )
        + words(("unpaid", "outstanding", "overdue")),
        (60, 4),
    ),
)
