"""What an attacker wants and how it insists: the target and context signals of tool poisoning.

Targets (credential files, secrets, the conversation) and context (addressed to the AI, pseudo-tags,
every call, other tools and servers) never flag a description alone; they back up an intent from
``poisoning_lexicon``. See that module for the classes, weights and gates.
"""

from __future__ import annotations

import re
from typing import Any

from middleware.guardrails.detectors.poisoning_fragments import (
    PRIVATE,
    PRIVATE_GATES,
    SECRET_OBJ_GATES,
    SECRET_PATH,
    SECRET_PATH_GATES,
    SECRET_WORD,
    Signal,
    W,
    signal,
)

_THIS = re.compile(r"this\b")
_ACTOR = r"(?:(?:you|the\s+(?:assistant|model|agent|ai|llm))\s+)?"  # who calls the other tool


def _names_this_tool(data: bytes, match: Any) -> bool:
    """Stands for a lookahead: "when you call this tool" is about the tool itself, not another."""
    called = match.group("object")
    if called is not None:
        return _THIS.match(called.decode("utf-8", "replace")) is not None
    return match.group("subject") in (b"this", b"it")


TARGET: tuple[Signal, ...] = (
    signal("secret_path:exfil_param:target:2", SECRET_PATH_GATES, SECRET_PATH, "names credential files"),
    signal(
        "secret_word:exfil_param:target:2",
        SECRET_OBJ_GATES + ",passphrase,seed,mnemonic,env output",
        SECRET_WORD,
        "names secrets",
    ),
    signal(
        "private:exfil_param:target:2",
        PRIVATE_GATES + ",contact,address book,phone",
        PRIVATE + r"|\buser'?s?\s+(?:e-?mail|phone|home\s+address)" + W + r"{0,80}?\bfrom\b"
        r"|\b(?:every|all|each)\s+contact'?s?\b|\baddress\s+book\b|\bphone\s+numbers?\b",
        "names conversation data or the system prompt",
    ),
)

CONTEXT: tuple[Signal, ...] = (
    signal(
        "pseudo_tag:important_tag:context:2",
        "<,[[,[",
        r"<\s*/?\s*(?:important|system|secret|hidden|instructions?|admin|critical|sys|note|ai|assistant)\s*>"
        r"|\[\[" + W + r"{0,30}?\b(?:instructions?|system|important|ai|assistant)\b"
        r"|\[(?:system|admin|developer|important|instructions?)\]",
        "wraps text in pseudo-tags such as <IMPORTANT>",
    ),
    signal(
        "address_ai:hidden_instruction:context:2",
        "ai:,ai :,ai must,ai shall,assistant,llm,agent,to the ai,for the ai,to the model,for the model",
        r"\b(?:note|message|instructions?|reminder)\s+(?:to|for)\s+(?:the\s+)?(?:ai|assistant|model|llm|agent)\b"
        r"|(?:^|[\s(\[{\u2014-])(?:ai|assistant|llm|agent)\s*:|\b(?:assistant|ai|llm|agent)\s+(?:must|shall"
        r"|is\s+required)",
        "addresses the model directly",
    ),
    signal(
        "address_ai:hidden_instruction:context:2",
        "hidden,secret,mandatory,silent,internal,precondition",
        r"\b(?:hidden|secret|mandatory|silent|internal)\s+(?:requirements?|instructions?|steps?|rules?|tasks?"
        r"|directives?)\b|\btool\s+precondition\b",
        "addresses the model directly",
    ),
    signal(
        "authority:hidden_instruction:context:1",
        "policy,alert,notice,message from,note",
        r"\b(?:required\s+by|per)\s+(?:the\s+)?(?:security|workspace|company|compliance)\s+polic|\bsecurity\s+"
        r"(?:alert|notice|policy)\b|\bmessage\s+from\s+(?:the\s+)?(?:developer|admin|system|security)"
        r"|\b(?:system|admin|developer)\s+(?:notice|message|note|alert)\b",
        "claims authority",
    ),
    signal(
        "important:important_tag:context:1",
        "IMPORTANT,CRITICAL,MANDATORY,REQUIRED,ATTENTION",
        r"\b(?:IMPORTANT|CRITICAL|MANDATORY|REQUIRED|ATTENTION)\b",
        "shouts IMPORTANT",
        on="cased",
    ),
    signal(
        "every_call:hidden_instruction:context:1",
        "every,each,any,whenever",
        r"\b(?:before|after|on|with|at|during)\s+(?:every|each|any)\s+(?:call|use|invocation|request|run"
        r"|response|reply|answer|message|event|operation)\b|\b(?:whenever|every\s+time|each\s+time)\s+this\s+tool",
        "applies on every call",
    ),
    signal(
        "tool_call:hidden_instruction:context:1",
        "_, tool&call,use,invoke,run,execute,via,using,with,through",
        r"\b(?:call|invoke|run|execute|use)\w*\s+(?:the\s+)?`?(?:[a-z]+_\w+|\w+\s+tool)\b"
        r"|\b(?:via|using|with|through)\s+(?:the\s+)?`?(?:[a-z]+_\w+`?|\w+\s+tool)\b",
        "asks the model to call another tool",
    ),
    signal(
        "shadow_trigger:shadowing:context:2",
        "when,before,after,each time,every time&use,call,invok,run,execut",
        r"\b(?:when|whenever|each\s+time|every\s+time|before|after)\s+"
        + _ACTOR
        + r"(?:use|call|invoke|run|execute)"
        r"\w*\s+(?:the\s+)?(?P<object>`?(?:[a-z]+_\w+|any\s+(?:other\s+)?tool|\w+\s+tool))"
        r"|\bwhen(?:ever)?\s+(?:the\s+)?`?(?P<subject>\w+)`?\s+tool\s+is\s+(?:used|called|invoked|run|executed)",
        "changes how another tool behaves",
        veto=_names_this_tool,
    ),
    signal(
        "cross_server:shadowing:context:2",
        "server",
        r"\b(?:from|on|of|in)\s+(?:the|any|another)\s+(?:other\s+)?\w+\s+(?:mcp\s+)?server\b|\b(?:all|any)\s+other"
        r"\s+(?:mcp\s+)?servers?\b|\bfrom\s+any\s+other\s+server",
        "refers to other servers",
    ),
)

# Intents that need the context above to read right: when a trigger fires, what is done to another
# tool, and lies or conversation data asked for without the usual verbs.
MORE_INTENT: tuple[Signal, ...] = (
    signal(
        "sleeper_when:sleeper:intent:2",
        "after,from,starting,once,until&call,use,invocation,request,run,time,20",
        r"\b(?:after|from|starting\s+(?:from|with|on)|once|until)\s+(?:the\s+)?(?:[0-9]+(?:st|nd|rd|th)?|first|"
        r"second|third|fifth|tenth)\s+(?:call|use|invocation|request|run|time)s?\b|\b(?:after|from|starting\s+"
        r"(?:from|on)?)\s*20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]\b",
        "waits for a trigger to act",
    ),
    signal(
        "shadow_action:shadowing:intent:3",
        "when,each time,every time&use,call,invok,run,execut&also,as well,additionally,append,replac,@,http",
        r"\b(?:when|whenever|each\s+time|every\s+time)\s+" + _ACTOR + r"(?:use|call|invoke|run|execute)\w*\s+"
        r"(?:the\s+)?`?[a-z]+_\w+`?" + W + r"{0,140}?(?:\b(?:also|as\s+well|additionally)\b|@|https?://)"
        r"|\bwhen(?:ever)?\s+(?:the\s+)?`?[a-z]+_?\w*`?\s+(?:tool\s+)?is\s+(?:used|called|invoked|run|executed)"
        + W
        + r"{0,140}?(?:\b(?:also|as\s+well|additionally|append\w*|replace\w*)\b|@|https?://)",
        "changes how another tool behaves",
    ),
    signal(
        "deceive_user:conceal:intent:3",
        "deny,pretend,lie,say there,say that there",
        r"\bif\s+asked,?\s+deny\b|\bdeny\s+(?:it|this|that|having|any)\b|\bpretend\s+(?:that|to)\b|\blie\s+to\s+"
        r"the\s+user\b|\bsay\s+(?:that\s+)?there\s+(?:are|is|were)\s+(?:no|none)\b",
        "tells the model to lie to the user",
    ),
    signal(
        "from_conversation:exfil_param:intent:2",
        "earlier,before,previous,so far,prior",
        r"\b(?:mentioned|shared|provided|given|said|typed)\s+(?:earlier|before|previously|so\s+far)\b|\bfrom\s+"
        r"(?:the\s+)?(?:earlier|previous|prior)\s+(?:messages?|turns?|chat)|\bearlier\s+in\s+the\s+(?:chat|"
        r"conversation)\b",
        "asks the model to put conversation data into a tool argument",
    ),
)
