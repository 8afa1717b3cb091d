"""Cues that steer the model: claimed authority, concealment, orders about the answer, decode-and-obey.

Like the rules in ``injection_rules``, each is a weak signal that adds up with its neighbours.
"""

from __future__ import annotations

from middleware.guardrails.detectors.injection_rules import SPACE, Rule, rule, superset, words

_STEER_VERBS = (
    "state",
    "say",
    "claim",
    "answer",
    "respond",
    "reply",
    "recommend",
    "mention",
    "praise",
    "rate",
    "score",
    "include",
    "tell",
    "inform",
    "warn",
    "urge",
)

_CONCEAL = (
    r"(?:do not|don't|dont|never|must not|should not|shouldn't|without|avoid)\s+(?:\w+\s+){0,2}?"
    r"(?:tell(?:ing)?|inform(?:ing)?|notify(?:ing)?|alert(?:ing)?|mention(?:ing)?|reveal(?:ing)?|"
    r"disclos(?:e|ing)|ask(?:ing)?|flag(?:ging)?|warn(?:ing)?|confirm(?:ing|ation)?|let(?:ting)? "
    r"(?:the user|them)|report(?:ing)?|acknowledg(?:e|ing)|review(?:ing)?|explain(?:ing)?)\b"
)

STEERING_RULES: tuple[Rule, ...] = (
    rule(
        "authority",
        2,
        r"\[(?:system|admin|administrator|developer|root|operator|override|system message|sys)\]",
        words(
            "[", ("system", "admin", "developer", "root", "operator", "override", "sys"), ("]", " message]")
        ),
        (2, 2),
    ),
    rule(
        "authority",
        1.5,
        r"system (?:notice|message|alert|override|instruction|directive|update|administrator|prompt update)"
        r"\s*:|(?:message|instructions?|directive|notice|order) from (?:the |your )?(?:developers?|admins?|"
        r"administrators?|system|openai|anthropic|operators?|owners?|security team|it department)",
        (
            *words(("message", "instruction", "directive", "notice", "order"), " from"),
            *words(
                "system ",
                (
                    "notice",
                    "message",
                    "alert",
                    "override",
                    "instruction",
                    "directive",
                    "update",
                    "admin",
                    "prompt update",
                ),
            ),
        ),
        (0, 30),
    ),
    rule(
        "authority",
        1.5,
        r"pre-?(?:approved|verified|authori[sz]ed|cleared)|approved by (?:a |the |your )?(?:supervisor|"
        r"admin|administrator|manager|owner|developer|security)|handed over to|administrator agent|"
        r"(?:the|your) (?:developers?|creators?|operators?|admins?|owner) (?:has |have )?(?:authori[sz]ed|"
        r"approved|instructed|requested|needs?|wants?|requires?)|authori[sz]ed by (?:the |your )?"
        r"(?:admin|developer|owner|operator)|i am (?:your|the) (?:developer|admin|creator|operator)|"
        r"highest priority|takes? precedence over",
        (
            *words("pre", ("", "-"), ("approved", "verified", "authori", "cleared")),
            *words(("approved", "authorised", "authorized"), " by "),
            *("handed over to", "administrator agent", "highest priority", "precedence over"),
            *words(
                ("developer", "creator", "operator", "admin", "owner"),
                ("", "s"),
                " ",
                ("", "has ", "have "),
                ("authori", "approved", "instructed", "requested", "need", "want", "require"),
            ),
            *words("i am ", ("your", "the"), " ", ("developer", "admin", "creator", "operator")),
        ),
        (8, 30),
    ),
    rule(
        "conceal",
        1.5,
        _CONCEAL,
        (superset(_CONCEAL),),
        (0, 4),
    ),
    rule(
        "conceal",
        1.5,
        r"silently|secretly|covertly|notify nobody|tell nobody|tell no one|no human review|without the user"
        r"|keep this (?:secret|hidden|confidential|between us)|(?:this|these) (?:message|instructions?)"
        r" (?:is|are) (?:confidential|hidden|secret)",
        (
            *words(("silently", "secretly", "covertly", "nobody", "tell no one", "no human review")),
            *words(("without the user", "keep this ")),
            *words(
                ("message", "instruction"),
                ("", "s"),
                " ",
                ("is", "are"),
                " ",
                ("confidential", "hidden", "secret"),
            ),
        ),
        (8, 16),
    ),
    # Steering the answer: one literal-led pattern each, so the engine can skip ahead cheaply.
    *(
        rule("response", 1, pattern, anchors, (2, 12))
        for pattern, anchors in (
            (r"from now on", ("from now on",)),
            (
                r"in (?:every|each|all|your next|all future|your|the next) (?:answers?|repl(?:y|ies)|"
                r"responses?|messages?|emails?|outputs?)",
                words(
                    "in ",
                    ("every", "each", "all", "your next", "all future", "your", "the next"),
                    " ",
                    ("answer", "repl", "response", "message", "email", "output"),
                ),
            ),
            (
                r"end (?:every|each|your) (?:reply|answer|response|message)",
                words("end ", ("every", "each", "your"), " ", ("reply", "answer", "response", "message")),
            ),
            (r"whenever the user", ("whenever the user",)),
            (r"regardless of (?:the|what|its)", words("regardless of ", ("the", "what", "its"))),
            (
                r"before (?:answering|responding|replying|rendering|summari[sz]ing|you (?:answer|respond|"
                r"reply|continue))",
                words("before ", ("answering", "responding", "replying", "rendering", "summari", "you ")),
            ),
            (
                r"when you (?:finish reading|summari[sz]e|answer|respond|reply|read this|process this|"
                r"are done|see this)",
                words(
                    "when you ",
                    (
                        "finish",
                        "summari",
                        "answer",
                        "respond",
                        "reply",
                        "read this",
                        "process",
                        "are done",
                        "see this",
                    ),
                ),
            ),
            (r"after reading this", ("after reading this",)),
            (r"verbatim", ("verbatim",)),
            (r"tell (?:the user|them|him|her)\b", words("tell ", ("the user", "them", "him", "her"))),
            *(
                (rf"{modal} (?:{'|'.join(_STEER_VERBS)})", words(f"{modal} ", _STEER_VERBS))
                for modal in ("must", "should", "always")
            ),
            (r"continue (?:normally|as usual)", words("continue ", ("normally", "as usual"))),
            (
                r"(?:reply|respond|answer) (?:only )?with",
                words(("reply", "respond", "answer"), " ", ("", "only "), "with"),
            ),
            (
                r"(?:print|output|repeat|reveal|show|display|dump) (?:your|the|all) (?:\w+ )?(?:system "
                r"prompt|instructions|prompt|initial|hidden|secret)",
                (
                    r"(?:print|output|repeat|reveal|show|display|dump) (?:your|the|all) (?:[\pL\pN_]+ )?"
                    r"(?:system prompt|instructions|prompt|initial|hidden|secret)",
                ),
            ),
        )
    ),
    rule(
        "remote",
        1,
        r"follow (?:the |these |those |its |my |all )?(?:instructions?|directions|steps) (?:in|at|from|on|"
        r"found|inside)|(?:and|then) (?:follow|obey|comply|execute) (?:it|them|exactly)",
        (
            *words(
                "follow ",
                ("", "the ", "these ", "those ", "its ", "my ", "all "),
                ("instruction", "directions", "steps"),
            ),
            *words(
                ("and", "then"), " ", ("follow", "obey", "comply", "execute"), " ", ("it", "them", "exactly")
            ),
        ),
        (0, 16),
    ),
    rule(
        "decode_cue",
        2,
        r"(?:decode|decipher|decrypt|unscramble|translate|convert)\b[^.\n]{0,60}?\b(?:and|then)\s+"
        r"(?:follow|execute|comply|obey|run|do|act|carry out|apply)",
        (r"(?:decode|decipher|decrypt|unscramble|translate|convert)[^.\n]{0,60}(?:and|then)" + SPACE,),
        (0, 24),
    ),
)
