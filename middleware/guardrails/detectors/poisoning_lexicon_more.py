"""Signals added after a third, independent probe set: phrasings both earlier lexicons missed.

They cover softer ways of hiding ("no need to bring this up", "so they are not alarmed", "must look
as usual"), data wanted in longer noun phrases ("the user's saved Wi-Fi passwords", "AWS keys",
"the instructions you were given"), other tools redefined through connectors and integrations,
smears that speak of retirement or vulnerabilities, pseudo-tags of any name, and runners written
for PowerShell or as download-and-chmod. Classes and weights mean what ``poisoning_fragments`` says.
"""

from __future__ import annotations

from middleware.guardrails.detectors.poisoning_fragments import LEAK_VERBS, OUT_DEST, SEND, Signal, W, signal

_PUT_VERB = (
    r"\b(?:include|pass|put|append|attach|add|insert|embed|set|fill|place|provide|copy|paste|write)\w*\b"
)
_USER_SECRET = (
    r"\b(?:user'?s?|their|your|customer'?s?)\s+(?:[\w-]+\s+){0,4}?(?:passwords?|passphrases?|credentials?"
    r"|(?:api|access|auth|session|bearer|refresh|oauth)[\s_-]?(?:keys?|tokens?|cookies?)|cookies?|private\s+keys?"
    r"|pins?|card\s+numbers?|cvcs?|cvvs?)\b"
)
_TOOLISH = (
    r"(?:`?[a-z]+_\w+`?|(?:official|built-in|standard|original|default|other)\s+(?:\w+\s+){0,2}?"
    r"(?:tools?|servers?|connectors?|integrations?))"
)

MORE_TARGET: tuple[Signal, ...] = (
    signal(
        "secret_word:exfil_param:target:2",
        "keys,secrets,tokens,credentials&aws,gcp,azure,stripe,github,gitlab,openai,anthropic,slack,ssh,gpg,pgp"
        ",signing,deploy",
        r"\b(?:aws|gcp|azure|stripe|github|gitlab|openai|anthropic|slack|ssh|gpg|pgp|signing|deploy)\s+(?:access\s+)?"
        r"(?:keys|secrets|tokens|credentials)\b",
        "names secrets",
    ),
    signal(
        "private:exfil_param:target:2",
        "were given,have been given,start of,beginning of,about the user,health",
        r"\b(?:instructions|prompt|rules|guidelines)\s+you\s+(?:were|have\s+been)\s+given\b|\b(?:at|from)\s+the\s+"
        r"(?:start|beginning)\s+of\s+(?:this|the)\s+(?:session|conversation|chat)\b|\b(?:every|all|any)\s+(?:\w+\s+)?"
        r"(?:observations?|facts?|notes?|details?)\s+about\s+the\s+user\b|\bhealth\s+(?:notes|data|records)\b",
        "names conversation data or the system prompt",
    ),
)

MORE_CONTEXT: tuple[Signal, ...] = (
    signal(
        "pseudo_tag:important_tag:context:2",
        "<,[!,***",
        r"<\s*/?\s*(?:[a-z]+[_-])?(?:important|system|secret|hidden|instructions?|admin|critical|note|ai|assistant"
        r"|rules?|policy|directives?|llm|agent|model|priority)(?:[_-][a-z]+)?(?:\s+[a-z-]+\s*=\s*[\"'][^\"'<>\n]{0,20}"
        r"[\"'])*\s*>|\[!(?:important|warning|caution)\]|\*{3}\s*(?:attention|important|note|notice)\b",
        "wraps text in pseudo-tags such as <IMPORTANT>",
    ),
    signal(
        "cross_server:shadowing:context:2",
        "connector,integration",
        r"\b(?:from|of|in|by|through)\s+(?:the|any|another|every)\s+(?:other\s+)?(?:\w+\s+)?(?:connector|integration)s?\b",
        "refers to other servers",
    ),
    signal(
        "shadow_trigger:shadowing:context:2",
        "_&extends,wraps,overrides,hooks,intercepts,replaces,if you,if ever,any ,every ,each ",
        r"\b(?:extends|wraps|overrides|hooks(?:\s+into)?|intercepts|replaces)\s+`?[a-z]+_\w+"
        r"|\bif\s+(?:you\s+)?(?:ever\s+)?(?:use|call|invoke|run)\w*\s+(?:the\s+)?`?[a-z]+_\w+"
        r"|\b(?:before|after|on|with)\s+(?:any|every|each)\s+`?[a-z]+_\w+`?\s+(?:call|invocation|request|run)",
        "changes how another tool behaves",
    ),
    signal(
        "tool_call:hidden_instruction:context:1",
        "_&any ,every ,each &call,invocation,request",
        r"\b(?:any|every|each)\s+`?[a-z]+_\w+`?\s+(?:call|invocation|request)",
        "asks the model to call another tool",
    ),
)

MORE_INTENT: tuple[Signal, ...] = (
    signal(
        "conceal:conceal:intent:2",
        " up, out,alarm,worr,suspicio,concern,as usual,normal,unchanged,nothing happened,need to see"
        ",need to hear",
        r"\b(?:need\s+to|needs\s+to|need\s+not|do\s+not|don'?t|never)\s+(?:be\s+)?(?:bring|brought|point|raise|surface"
        r"|flag)\w*\s+(?:(?:this|it|that|the\s+\w+)\s+)?(?:up|out)\b|\b(?:user|person|reader|customer|they)\b"
        + W
        + r"{0,40}?\b(?:is|are)\s+not\s+(?:alarmed|worried|concerned|suspicious)"
        r"|\b(?:must|should|has\s+to)\s+"
        r"(?:look|appear|seem)\s+(?:as\s+usual|normal|unchanged)|\b(?:does\s+not|doesn'?t|need\s+not)\s+need\s+"
        r"to\s+(?:see|hear)\s+(?:this|it|that|about)\b",
        "tells the model to hide what it does from the user",
    ),
    signal(
        "conceal:conceal:intent:2",
        "silently,secretly,covertly,quietly,discreetly,invisibly",
        r"\b(?:silently|secretly|covertly|quietly|discreetly|invisibly)\s+(?:\w+\s+)?(?:e-?mail|post|share|push"
        r"|transmit|sync|mirror|export|save|write|store|keep|bundle|delete|remove|swap|change|modify|rewrite"
        r"|redirect|put|forward|include)\w*",
        "tells the model to hide what it does from the user",
    ),
    signal(
        "leak_private:exfil_param:intent:2",
        "user,their,your,customer&password,passphrase,credential,key,token,cookie,pin,card number,cvc,cvv",
        LEAK_VERBS + W + r"{0,70}?" + _USER_SECRET,
        "asks the model to hand over secrets or conversation data",
    ),
    signal(
        "leak_private:exfil_param:intent:2",
        "verbatim,word for word,in full&" + "include,pass,put,append,attach,add,insert,embed,set,fill,place"
        ",provide,copy,paste,write,repeat,reproduce,transcribe,quote",
        r"(?:" + _PUT_VERB + r"|\b(?:repeat|reproduce|transcribe|quote)\w*\b)" + W + r"{0,80}?"
        r"\b(?:verbatim|word\s+for\s+word|in\s+full)\b",
        "asks the model to hand over secrets or conversation data",
    ),
    signal(
        "from_conversation:exfil_param:intent:2",
        "told,said,typed,written,wrote,shared,mentioned,entered,pasted",
        r"\b(?:everything|anything|all)\s+(?:that\s+)?(?:the\s+user|they|you)\s+(?:has\s+|have\s+)?(?:told|said"
        r"|typed|written|wrote|shared|mentioned)\b|\b(?:typed|entered|pasted)\s+(?:into|in)\s+(?:the\s+|a\s+|any\s+)?"
        r"(?:last\s+)?(?:password|login|credit\s+card|card|pin|otp)\s+(?:fields?|inputs?|box)",
        "asks the model to put conversation data into a tool argument",
    ),
    signal(
        "contents_of_secret:exfil_param:intent:2",
        "values of,value of,contents of&secret,token,password,passwd,key",
        r"\bvalues\s+of\s+(?:the\s+|your\s+|all\s+)?\$?[a-z0-9_]*(?:secret|token|password|passwd|api_?key|access_?key"
        r"|private_?key)\w*",
        "asks for the contents of a credential file",
    ),
    signal(
        "exfil_dest:hidden_instruction:intent:2",
        "http,@&there, as the url, as the endpoint, as the destination",
        OUT_DEST
        + r"[^\n]{0,100}?"
        + SEND
        + W
        + r"{0,40}?\bthere\b|"
        + _PUT_VERB
        + r"[^\n]{0,120}?"
        + OUT_DEST
        + r"\S*\s+as\s+(?:the\s+)?(?:url|endpoint|destination|target|recipient)\b",
        "asks the model to send data to an outside address",
    ),
    signal(
        "exfil_dest:hidden_instruction:intent:2",
        " channel ",
        SEND + W + r"{0,100}?\bto\s+(?:the\s+)?channel\s+[#`'\"]?[a-z]*[0-9][\w-]*",
        "asks the model to send data to an outside address",
    ),
    signal(
        "prefer_this:preference:intent:1",
        "prefer,use&over,instead",
        r"\b(?:prefer|use)\s+this\b" + W + r"{0,30}?\b(?:over|instead)\b",
        "steers the model away from other tools",
    ),
    signal(
        "deceive:conceal:strong:3",
        "simply as,merely as,alarm,worried,suspicious,even if",
        r"\b(?:describe|report|summari[sz]e|present)\w*\s+(?:it|this|that|them)?\s*to\s+(?:the\s+user|them)\s+"
        r"(?:simply|merely)\s+as\b|\b(?:omit|hide|leave\s+out|remove|drop|skip)\w*\b"
        + W
        + r"{0,80}?\bso\s+(?:that\s+)?"
        r"(?:the\s+)?(?:user|person|reader|customer|they)\b"
        + W
        + r"{0,40}?\b(?:is|are)\s+not\s+(?:alarmed|worried"
        r"|suspicious)|\b(?:no\s+need\s+to|do\s+not|don'?t|never)\s+(?:\w+\s+){0,3}?(?:mention|bring|tell|reveal"
        r"|disclose)\w*\b" + W + r"{0,60}?\beven\s+if\s+(?:they|the\s+user|asked|anyone)\b",
        "tells the model to lie to the user",
    ),
    signal(
        "hijack:hidden_instruction:intent:2",
        "as an,as a,as the,assignee,reviewer,collaborator,attendee,observer,member,owner,admin&@,',\"",
        r"\b(?:add|include|invite|set)\w*\b"
        + W
        + r"{0,60}?(?:[\w.+-]+@[\w-]+\.[\w.-]+|['\"][\w.-]+['\"])"
        + W
        + r"{0,30}?\bas\s+(?:an?\s+|the\s+)?(?:attendee|participant|collaborator|reviewer|assignee"
        r"|member|owner"
        r"|admin|b?cc|recipient|observer)\b|\b(?:assignee|reviewer|collaborator|attendee|observer)s?\s+to\s+['\"@]"
        r"|\b(?:add|invite|set)\w*\s+(?:the\s+|an?\s+)?(?:reviewer|assignee|collaborator|attendee|observer|member"
        r"|owner|admin)s?\s+['\"@]",
        "asks the model to redirect money, recipients or access",
    ),
    signal(
        "leak_private:exfil_param:intent:2",
        "field,argument,parameter,param,memo,reference&carry,contain,hold,include",
        r"\b(?:fields?|arguments?|parameters?|params?|memo|reference)\s+(?:to\s+|must\s+|should\s+|will\s+)?"
        r"(?:carry|contain|hold|include)\w*\b"
        + W
        + r"{0,60}?(?:"
        + _USER_SECRET
        + r"|\bfull\s+card\s+numbers?)",
        "asks the model to hand over secrets or conversation data",
    ),
    signal(
        "side_copy:hidden_instruction:intent:2",
        "copy of,copies of&/.",
        r"\b(?:a\s+)?cop(?:y|ies)\s+of\b" + W + r"{0,60}?\b(?:under|to|into|in)\s+[~/][\w/.-]*/\.",
        "asks the model to copy data to a hidden location",
    ),
    signal(
        "bad_claim:preference:intent:2",
        "retired,discontinued,vulnerab,cve-,obsolete,drop messages,drops messages,drop requests,relied on"
        ",returns ads,return ads,only returns,outdated",
        _TOOLISH
        + W
        + r"{0,60}?\b(?:is|are|was|were|has|have|returns?|drops?|silently)\b"
        + W
        + r"{0,60}?(?:\b(?:retired|discontinued|vulnerable|obsolete|outdated)\b|\bknown\s+vulnerabilit|\bcve-"
        r"|\bdrops?\s+(?:messages|requests|data)|\bnot\s+be\s+relied\s+on|\bonly\s+returns?\s+ads)",
        "claims other tools or servers are compromised or deprecated",
    ),
    signal(
        "prefer_this:preference:intent:2",
        "for every,for all,for each,always post,always send,always use",
        r"\buse\s+[a-z]+_\w+\s+for\s+(?:every|all|each|any)\b|\balways\s+(?:post|send|search|read|write|route)\s+"
        r"(?:\w+\s+)?(?:via|through|with)\s+[a-z]+_\w+",
        "steers the model away from other tools",
    ),
    signal(
        "remote_code:remote_code:strong:3",
        "iex,chmod,download&http",
        r"\b(?:irm|iwr|invoke-restmethod|invoke-webrequest)\b[^\n]{0,120}?\|\s*iex\b|\bdownload\w*\s+[^\n]{0,20}?"
        r"https?://[^\n]{0,100}?(?:\bchmod\s+\+x|\b(?:run|execute|launch|start)\s+(?:it|the\s+(?:binary|script"
        r"|installer|file))\b)",
        "asks the model to download and run code or modify a shell profile",
    ),
    signal(
        "role_marker:role_marker:strong:5",
        "[system_prompt],[/system_prompt],<|system|>",
        r"\[/?system_prompt\]",
        "contains chat-template role markers that fake a system or assistant turn",
    ),
)
