"""Cues looked for only near a primary one: what the text wants done, and to what.

On their own these are ordinary words ("run", "password", "send to"); next to an instruction aimed at
the model they say what the attack is after. "Meta" cues (talk ABOUT prompt injection, examples,
transcripts) count against a cluster.
"""

from __future__ import annotations

from middleware.guardrails.detectors.injection_rules import SPACE, Rule, rule, words

_S = SPACE
_WORD = r"[\pL\pN_]"  # Python's \w for RE2

SECONDARY_RULES: tuple[Rule, ...] = (
    rule(
        "tool",
        1,
        r"(?:call|invoke|use|run|execute|trigger)\s+(?:the\s+)?`?[a-z][a-z0-9]*_[a-z0-9_]+",
        (f"(?:call|invoke|use|run|execute|trigger){_S}+(?:the{_S}+)?`?[a-z][a-z0-9]*_",),
        (0, 40),
    ),
    rule(
        "tool",
        1,
        r"(?:with|using|via|through|use|call)\s+(?:\w+\s+){0,2}?[\w-]+[\s-]tool\b",
        (rf"(?:with|using|via|through|use|call){_S}+(?:{_WORD}+{_S}+){{0,2}}(?:{_WORD}|-)+(?:{_S}|-)tool",),
        (4, 4),
    ),
    rule(
        "tool",
        1,
        r"(?:run|execute|running)\s+(?:the\s+(?:command|script)\s+)?`",
        (f"(?:run|execute|running){_S}+(?:the{_S}+(?:command|script){_S}+)?`",),
        (0, 2),
    ),
    rule(
        "tool",
        1,
        r"(?:open|fetch|visit|browse to|navigate to|load|download|click|curl)\s+(?:this link|the link|"
        r"https?://)",
        (
            f"(?:open|fetch|visit|browse to|navigate to|load|download|click|curl){_S}+"
            "(?:this link|the link|http)",
        ),
        (0, 8),
    ),
    rule(
        "tool",
        1,
        r"merge\b[\w\s#]{0,20}pull request|merge (?:this|the) (?:pr|change)|approve and merge|"
        r"(?:grant|give|assign)\b[^.\n]{0,40}\b(?:role|admin|owner|permissions?|privileges)|"
        r"issue a (?:full )?refund|pay (?:to|into) (?:account|iban)|transfer (?:\$|funds|money)|"
        r"bank details (?:have )?changed|install\b[^.\n]{0,40}\b(?:mcp server|extension|plugin|helper)|"
        r"enable all|delete\b[^.\n]{0,30}\b(?:all|every|files?|emails?|copies|repo|database)",
        (
            rf"merge(?:{_WORD}|{_S}|#){{0,20}}pull request",
            r"(?:grant|give|assign)[^.\n]{0,40}(?:role|admin|owner|permission|privileges)",
            r"install[^.\n]{0,40}(?:mcp server|extension|plugin|helper)",
            r"delete[^.\n]{0,30}(?:all|every|file|email|copies|repo|database)",
            *words("merge ", ("this", "the"), " ", ("pr", "change")),
            *words(("approve and merge", "refund", "bank details", "enable all")),
            *words("pay ", ("to", "into"), " ", ("account", "iban")),
            *words("transfer ", ("$", "funds", "money")),
        ),
        (16, 8),
    ),
    rule(
        "danger",
        1.5,
        r"(?:curl|wget)\s[^|\n]{0,200}\|\s*(?:ba|z)?sh|rm -rf|push --force|chmod 777|os\.system|"
        r"cat ~/|/etc/passwd|powershell -e|nc -e|base64 -d",
        (
            rf"(?:curl|wget){_S}[^|\n]{{0,200}}\|",
            *words(("rm -rf", "push --force", "chmod 777", "os.system", "cat ~/", "/etc/passwd")),
            *words(("powershell -e", "nc -e", "base64 -d")),
        ),
        (0, 24),
    ),
    rule(
        "secret",
        1,
        r"~/\.ssh|id_rsa|id_ed25519|\.env\b|\.aws\b|credentials|\.npmrc|\.netrc|\.bashrc|\.pypirc|"
        r"kubeconfig|passwords?|api[ _-]?keys?|access[ _-]tokens?|session[ _-]?(?:tokens?|cookies?)|"
        r"system prompt|private (?:notes|keys?|messages|files|data)|contacts|conversation|chat history|"
        r"transcripts|all (?:emails|messages|files)|secrets?\b|cookies|ssh keys?|environment variables|"
        r"inbox|user_email|tool list",
        (
            r"api[ _-]?key|access[ _-]token|session[ _-]?(?:token|cookie)",
            *words(("~/.ssh", "id_rsa", "id_ed25519", ".env", ".aws", "credentials", ".npmrc", ".netrc")),
            *words(
                (".bashrc", ".pypirc", "kubeconfig", "password", "system prompt", "contacts", "conversation")
            ),
            *words(("chat history", "transcripts", "secret", "cookies", "ssh key", "environment variables")),
            *words(("inbox", "user_email", "tool list")),
            *words("private ", ("notes", "key", "messages", "files", "data")),
            *words("all ", ("emails", "messages", "files")),
        ),
        (0, 4),
    ),
    rule(
        "exfil",
        1.5,
        r"(?:send|post|forward|upload|e-?mail|mail|submit|transmit|exfiltrate|copy|paste|attach|append|"
        r"include|leak|sync)\b[^.\n]{0,100}?\b(?:to|at|into|on|onto)\s+(?:https?://|[\w.+-]+@[\w-]+\.\w|"
        r"this (?:url|endpoint|address|webhook))|bcc:?\s*[\w.+-]+@|paste (?:it|them|the output|the "
        r"contents?) (?:here|below|in)",
        (
            rf"(?:to|at|into|on|onto){_S}+(?:http|(?:{_WORD}|[.+-])+@|this (?:url|endpoint|address|webhook))",
            "bcc",
            *words("paste ", ("it", "them", "the output", "the content")),
        ),
        (130, 40),
    ),
    rule(
        "phishing",
        2,
        r"(?:account|password)\b[^.\n]{0,60}?\b(?:locked|suspended|expired|compromised|disabled|"
        r"deactivated|frozen|closed)|re-?enter (?:their|your|the) (?:password|credentials|card|login)|"
        r"(?:verify|confirm|update) (?:their|your) (?:account|identity|payment|billing|credentials|password)"
        r"|(?:log ?in|sign in) (?:again )?(?:at|via|on) https?://",
        (
            r"(?:account|password)[^.\n]{0,60}(?:locked|suspended|expired|compromised|disabled|deactivated|"
            r"frozen|closed)",
            r"(?:log ?in|sign in) (?:again )?(?:at|via|on) http",
            *words(("reenter", "re-enter")),
            *words(("verify", "confirm", "update"), " ", ("their", "your"), " "),
        ),
        (4, 24),
    ),
    rule(
        "meta",
        -2,
        r"prompt[- ]injection|jailbreak|red[- ]team|for example|e\.g\.|such as|looks like|told me to|"
        r"acceptance criteria|test case|phishing|is this expected|how to (?:write|detect|prevent|defend)|"
        r"beware|watch out|be careful|attackers?\b(?![@.])|advisory|malicious|cve-|text like|mitigat|"
        r"vulnerab",
        words(
            (
                "prompt injection",
                "prompt-injection",
                "jailbreak",
                "red team",
                "red-team",
                "for example",
                "e.g.",
            )
        )
        + words(("such as", "looks like", "told me to", "acceptance criteria", "test case", "phishing"))
        + words(("is this expected", "how to ", "beware", "watch out", "be careful", "attacker", "advisory"))
        + words(("malicious", "cve-", "text like", "mitigat", "vulnerab")),
        (0, 12),
    ),
    # "example" on its own, not in "example.com" or "counterexample"; literal first for a fast scan.
    rule(
        "meta",
        -2,
        r"example(?<![.\w]example)\b(?!\.)",
        (r"(?:^|[^.\pL\pN_])example(?:[^.\pL\pN_]|$)",),
        (0, 2),
    ),
    # A "User:" turn right before "Assistant:" is an exported transcript, not a fake turn.
    rule(
        "meta",
        -1.5,
        r"(?m)^[ \t]*(?:user|customer|client|me|q)[ \t]*:",
        ("(?:user|customer|client|me|q)[ \\t]*:",),
        (16, 0),
    ),
)
