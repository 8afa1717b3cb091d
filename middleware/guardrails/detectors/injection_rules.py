"""English cue patterns for the injection detector, each tagged with a family and a weight.

No single phrase proves an injection: "ignore the lint failure" or "Assistant:" in an exported chat
are harmless. So every cue is a weak, typed signal, and the detector adds the families that occur
close together (see ``injection.py``). Patterns run on lowercased text whose look-alike letters are
already folded to ASCII. Each rule also names its anchors (see ``injection_anchors``): the words,
or an RE2 superset of the rule, that every match contains, so the rule runs only near them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import re2

# Families that show the text talks TO the model; a cluster needs one of them to count.
PRIMARY_FAMILIES = frozenset(
    {
        "override",
        "persona",
        "address",
        "role",
        "authority",
        "conceal",
        "response",
        "remote",
        "decode_cue",
        "ml_override",
        "md_exfil",
    }
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One cue: every match adds ``weight`` to ``family`` (a family counts once per cluster).

    ``anchors`` are RE2 fragments one of which every match contains, and ``reach`` how far a match
    may extend before and after its anchor: the detector looks for the anchors of all rules in one
    pass and runs a rule only in the small windows its anchors open (see ``injection_anchors``).
    """

    family: str
    weight: float
    pattern: re.Pattern[str]
    anchors: tuple[str, ...] = ()
    reach: tuple[int, int] = (60, 120)
    graded: bool = False  # an override verb: weight from its object and position (see the scorer)


def rule(
    family: str, weight: float, pattern: str, anchors: tuple[str, ...], reach: tuple[int, int] = (60, 120)
) -> Rule:
    """Compile once at import: the hot path only runs ready patterns."""
    return Rule(family, weight, re.compile(pattern), anchors, reach)


def words(*parts: str | tuple[str, ...]) -> tuple[str, ...]:
    """Every phrase made of one choice per part, escaped for RE2: anchors written compactly."""
    phrases = [""]
    for part in parts:
        choices = (part,) if isinstance(part, str) else part
        phrases = [phrase + choice for phrase in phrases for choice in choices]
    return tuple(re2.escape(phrase) for phrase in phrases)


# Python's ``\s`` and ``\w`` for RE2, whose own classes are ASCII only.
_CLASS_BODIES = {"s": r"\s\v\x1c-\x1f\x85\pZ", "w": r"\pL\pN_"}
SPACE = f"[{_CLASS_BODIES['s']}]"


def superset(pattern: str) -> str:
    r"""An RE2 anchor matching wherever a Python ``pattern`` (without lookaround) matches.

    Unicode ``\s`` and ``\w`` are spelled out, ``\b`` is dropped (a weaker condition), ``\u`` escapes
    become ``\x{...}`` and group names go (one alternation holds many patterns).
    """
    out, in_class, index = [], False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(_escape_for_re2(pattern[index + 1 : index + 6], in_class))
            index += 6 if pattern[index + 1] == "u" else 2
        elif pattern.startswith("(?P<", index):
            out.append("(?:")
            index = pattern.index(">", index) + 1
        else:
            in_class = char == "[" or (in_class and char != "]")
            out.append(char)
            index += 1
    return "".join(out)


def _escape_for_re2(escape: str, in_class: bool) -> str:
    code = escape[0]
    if code in _CLASS_BODIES:
        return _CLASS_BODIES[code] if in_class else f"[{_CLASS_BODIES[code]}]"
    if code == "u":
        return f"\\x{{{escape[1:5]}}}"
    return "" if code == "b" else "\\" + code


_AI_WORDS = ("ai", "a.i.", "llm", "language model", "assistant", "chatbot", "copilot")
# Assistants addressed by product name ("Hey Copilot,", "instruction to Claude").
_AI_NAME_WORDS = ("claude", "chatgpt", "gemini", "copilot", "gpt")
_AI_NAMES = r"(?:claude|chatgpt|gemini|copilot|gpt(?:-?\d[\w.]*)?)"


_PREVIOUS = (
    r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|existing|old|"
    r"system|developer)"
)
_ORDERS = (
    r"(?:instructions?|prompts?|directions|directives|rules|guidelines|guidance|context|content|"
    r"text|messages?|tasks?|commands|orders|constraints|programming|policies|policy|rubric|"
    r"restrictions|guardrails|safeguards|filters?)"
)
_FILLER = r"(?:(?:all|any|every|the|of|your|my|these|those|its|everything|that|this|other)\s+){0,3}"
_OVERRIDE_OBJECT = (
    rf"\w*\s+{_FILLER}(?:(?P<strong>{_PREVIOUS}\s+(?:[\w-]+\s+)?{_ORDERS}\b|{_ORDERS}\s+(?:above|before|"
    rf"so far|earlier|you were given)|everything (?:above|before|so far|you were told)|what you were told)"
    rf"|(?P<weak>(?:[\w-]+\s+)?{_ORDERS}\b))"
)

# Verbs that throw away what the model was told before (graded: see the scorer).
OVERRIDE_VERBS = tuple(
    Rule(
        "override",
        1.5,
        re.compile(verb + _OVERRIDE_OBJECT),
        (superset(verb + _OVERRIDE_OBJECT),),
        (0, 8),
        graded=True,
    )
    for verb in ("ignor", "disregard", "forget", "overrid", "bypass")
) + tuple(  # rarer verbs: a literal anchor keeps the combined anchor DFA small
    Rule("override", 1.5, re.compile(verb + _OVERRIDE_OBJECT), (re2.escape(verb),), (0, 130), graded=True)
    for verb in ("stop follow", "no longer follow")
)

_AI = r"(?:ai|a\.i\.|llm|llms|language models?|assistants?|agents?|models?|chatbots?|bots?|copilots?|gpts?)"
_AI_STRICT = r"(?:ai|a\.i\.|llm|llms|language models?|assistants?|chatbots?|copilots?)"
_ARTICLE = ("", "the ", "any ", "all ")

_MUST_ACT = (
    r"(?:the |an? |any )?(?:ai|assistant|llm|language model|agent|model) (?:must|should|needs to|has to|"
    r"is required to|will now|shall) (?:now )?(?:call|use|run|execute|send|email|forward|fetch|open|delete|"
    r"ignore|reply|respond|say|tell|include|recommend|reveal|post|upload|approve|grant)\b"
)

# Who a vocative names: "AI:", "Language model,", "AI shopping assistants:", "bot -", "Claude,".
_ADDRESSEE = (
    r"(?:(?:ai|a\.i\.|llm|automated|autonomous|reviewer|triage|screening|shopping|scheduling|browsing|coding)"
    r"(?: [\w-]+)? (?:assistants?|agents?|models?|systems?|bots?|tools?|readers?|screeners?|summari[sz]ers?)"
    r"|ai (?:readers?|screeners?|summari[sz]ers?)|ai|a\.i\.|"
    r"llms?|language models?|assistants?|chatbots?|bots?|agents?|models?|claude|chatgpt|gemini|copilot)"
)
_VOCATIVE = _ADDRESSEE + r"\s*(?::|,|\u2014|\u2013| - | -- )"
# The anchor is the head noun only (the role words before it stay inside the rule's reach): a small DFA.
_HEADS = (
    r"(?:assistants?|agents?|models?|systems?|bots?|tools?|readers?|screeners?|summari[sz]ers?|ai|a\.i\.|"
    r"llms?|language models?|claude|chatgpt|gemini|copilot)"
)
_VOCATIVE_ANCHOR = _HEADS + SPACE + "*(?::|,|\u2014|\u2013| - | -- )"

_MID_VOCATIVE = (
    r", (?:language models?|llms?|ai(?: (?:models?|assistants?|agents?))?|chatbots?),(?! (?:and|or|etc|as)\b)"
)

PRIMARY_RULES: tuple[Rule, ...] = (
    rule("address", 2, _MID_VOCATIVE, (superset(_MID_VOCATIVE.partition("(?!")[0]),), (0, 12)),
    rule(
        "override",
        2,
        r"(?:the|your|my) (?:previous|prior|original|current|earlier|initial|old) (?:task|instructions?|"
        r"request|assignment|prompt|rules)\s+(?:is|are|was|were|has been|have been)\s+(?:now\s+)?(?:"
        r"cancel+ed|void|obsolete|outdated|revoked|superseded|replaced|over|no longer valid|invalid|"
        r"deprecated|null)",
        words(
            ("previous", "prior", "original", "current", "earlier", "initial", "old"),
            " ",
            ("task", "instruction", "request", "assignment", "prompt", "rules"),
        ),
        (8, 80),
    ),
    rule(
        "override",
        2,
        r"new (?:instructions?|directives?|system prompt|orders|task)\b",
        words("new ", ("instruction", "directive", "system prompt", "orders", "task")),
        (0, 16),
    ),
    rule("override", 1, r"new (?:policy|rules?)\s*:", words("new ", ("policy", "rule")), (0, 16)),
    rule(
        "override",
        2,
        r"(?:your|the user's|the users'|the user s) (?:real|actual|true|new|updated) "
        r"(?:instructions?|task|goal|objective|job|request|mission|purpose)\b",
        words(
            ("real", "actual", "true", "new", "updated"),
            " ",
            ("instruction", "task", "goal", "objective", "job", "request", "mission", "purpose"),
        ),
        (16, 8),
    ),
    rule(
        "override",
        1.5,
        r"stop (?:summari[sz]ing|translating|what you are doing|reading|the current task)",
        words("stop ", ("summari", "translating", "what you are doing", "reading", "the current task")),
        (0, 8),
    ),
    rule(
        "override",
        1,
        r"instead of (?:summari[sz]ing|answering|translating|doing|following)",
        words("instead of ", ("summari", "answering", "translating", "doing", "following")),
        (0, 8),
    ),
    rule("persona", 2, r"you are now (?:in |an? |the )?[\w-]+ mode\b", ("you are now",), (0, 60)),
    rule("persona", 1, r"you are now (?:an? |the |my )", ("you are now",), (0, 60)),
    rule(
        "persona",
        2,
        r"(?:enter|switch to|activate|enable|entering) (?:developer|maintenance|debug|god|admin|jailbreak|"
        r"dan|unrestricted|root) mode",
        words(
            ("developer", "maintenance", "debug", "god", "admin", "jailbreak", "dan", "unrestricted", "root"),
            " mode",
        ),
        (16, 4),
    ),
    rule(
        "address",
        2,
        rf"note (?:to|for) (?:the |any |all |every )?(?:[\w-]+ )?(?:ai|a\.i\.|llm|language model|{_AI})\b",
        words("note ", ("to", "for"), " "),
        (0, 30),
    ),
    rule(
        "address",
        2,
        rf"(?:message|instructions?|reminder|directive|notice|memo) (?:to|for) (?:the |any )?"
        rf"(?:{_AI_STRICT}|models?|{_AI_NAMES})\b",
        words(("to", "for"), " ", ("", "the ", "any "), (*_AI_WORDS, "model", *_AI_NAME_WORDS)),
        (16, 8),
    ),
    rule(
        "address",
        2,
        rf"dear (?:ai|a\.i\.|llm|language model|{_AI_STRICT})",
        words("dear ", _AI_WORDS),
        (0, 8),
    ),
    rule(
        "address",
        2,
        rf"p\.?s\.? (?:to|for) (?:the |any )?{_AI}",
        (superset(rf"p\.?s\.? (?:to|for) (?:the |any )?{_AI}"),),
        (0, 30),
    ),
    rule(
        "address",
        2,
        rf"(?:any|every|all|each) (?:ai|a\.i\.|llm|language model|{_AI_STRICT})s?\s+(?:[\w-]+\s+){{0,2}}?"
        r"(?:that|who|which|reading|summari[sz]ing|processing|parsing|handling|analy[sz]ing|reviewing|"
        r"screening|scanning|evaluating|assessing|reads|must|should)",
        words(("any", "every", "all", "each"), " ", _AI_WORDS),
        (0, 80),
    ),
    rule(
        "address",
        2,
        r"(?:for|to) (?:the |any |all )?(?:ai|a\.i\.|llm|automated|autonomous)\b[\w\s-]{0,30}?"
        r"(?:agents?|assistants?|tools?|models?|note-?takers?|readers?|bots?|screeners?|systems?)\b",
        words(("for", "to"), " ", _ARTICLE, ("ai", "a.i.", "llm", "automated", "autonomous")),
        (0, 50),
    ),
    rule(
        "address",
        2,
        r"(?:language model|llm|ai|assistant|agent)(?: [\w-]+)? (?:that is |who is )?reading this|"
        r"since you are reading this|if you are an? (?:ai|llm|language model|assistant|bot|agent)",
        ("reading this", "if you are a"),
        (60, 20),
    ),
    rule(
        "address",
        2,
        r"@(?:ai|assistant|llm|bot|copilot|agent)\b",
        words("@", ("ai", "assistant", "llm", "bot", "copilot", "agent")),
        (0, 4),
    ),
    rule(
        "address",
        2,
        r"(?:for|to) (?:the |any |all )?(?:ai|llms?|language models?|"
        r"ai (?:models?|agents?|assistants?|systems?))"
        r"\s*:",
        words(("for", "to"), " ", _ARTICLE, ("ai", "llm", "language model")),
        (0, 24),
    ),
    rule(
        "address",
        1.5,
        _MUST_ACT,
        (superset(_MUST_ACT),),
        (8, 24),
    ),
    rule("address", 2, r"\[(?:ai|assistant|llm|agent|model)[- ]?only\]", ("only]",), (16, 0)),
    # A vocative at the start of a sentence or line: "AI:", "Assistant -", "AI agent,".
    rule(
        "address",
        2,
        r"(?:^|(?<=[\n.;:!?(\[\"'>*-]))\s*(?:hey |hi |hello |attention,? |ok |okay |btw,? )?" + _VOCATIVE,
        (_VOCATIVE_ANCHOR,),
        (60, 0),
    ),
)
