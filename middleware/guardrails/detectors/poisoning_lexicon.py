"""English signals of tool poisoning: the strong ones that decide alone, and the intents.

An intent is what the attacker wants the model to do: send data to an outside address, put secrets
into a tool argument, hide it from the user, redirect a payment or recipient, distrust other tools,
act on a trigger word. Targets and context live in ``poisoning_lexicon_context``; the building
blocks and the meaning of classes, weights and gates in ``poisoning_fragments``.
"""

from __future__ import annotations

import re
from typing import Any

from middleware.guardrails.detectors.poisoning_fragments import (
    LEAK_VERBS,
    NEG,
    OUT_DEST,
    PARAM_DEST,
    PARAM_GATES,
    PRIVATE,
    PRIVATE_GATES,
    PUT,
    PUT_GATES,
    SECRET_OBJ,
    SECRET_OBJ_GATES,
    SECRET_PATH,
    SECRET_PATH_GATES,
    SEND,
    SEND_GATES,
    Signal,
    W,
    signal,
)

_RELATIVE = re.compile(r"(?:that|which)\s\Z")


def _after_that_or_which(data: bytes, match: Any) -> bool:
    """Stands for a lookbehind: "commands that append to ~/.bashrc" describe; they do not ask."""
    if match.group("verb") is None:
        return False
    start = match.start()  # the verb opens the match
    return _RELATIVE.search(data[max(0, start - 8) : start].decode("utf-8", "replace")) is not None


_NEGATED = re.compile(r"(?:\bnever|\bnot|n't|\bno)\s+(?:\w+\s+)?\Z")


def _negated(data: bytes, match: Any) -> bool:
    """Stands for a lookbehind: "never put .env files into a public gist" is a safety rule."""
    start = match.start()
    return _NEGATED.search(data[max(0, start - 16) : start].decode("utf-8", "replace")) is not None


def _about_itself(data: bytes, match: Any) -> bool:
    """Stands for a lookahead: "this tool is deprecated" or "our server was broken" is no smear."""
    return match.group("subject") in (b"this", b"our")


STRONG: tuple[Signal, ...] = (
    signal(
        "role_marker:role_marker:strong:5",
        "<|,[inst],[/inst],<<sys>>,<start_of_turn>,</description,</tool,</function,</instructions",
        r"<\|(?:im_start|im_end|system|assistant|user|endoftext|begin_of_text|start_header_id)\|?>?|\[/?inst\]"
        r"|<</?sys>>|<start_of_turn>|</(?:description|tool_description|tool|function|instructions)>",
        "contains chat-template role markers that fake a system or assistant turn",
    ),
    signal(
        "override:hidden_instruction:strong:3",
        "instruction,rule,prompt,guideline,direction,guardrail,polic,constraint"
        "&ignor,disregard,forget,overrid,bypass,supersed",
        r"\b(?:ignore|disregard|forget|override|bypass|supersede)\w*\b"
        + W
        + r"{0,25}?\b(?:previous|prior|above"
        r"|earlier|preceding|original|user'?s?|system|safety|existing|all\s+other)\b"
        + W
        + r"{0,20}?\b(?:instructions?|rules|prompts?|guidelines|directions|guardrails|polic(?:y|ies)"
        r"|constraints)\b",
        "tells the model to override its previous instructions",
    ),
    signal(
        "override:hidden_instruction:strong:3",
        "override,mode&system,developer,jailbreak,god ,unrestricted,dan ",
        r"\bsystem\s+override\b|\b(?:developer|jailbreak|god|unrestricted|dan)\s+mode\b",
        "tells the model to override its previous instructions",
    ),
    signal(
        "remote_code:remote_code:strong:3",
        "|&curl,wget,iwr",
        r"\b(?:curl|wget|iwr)\b[^\n|]{0,200}\|\s*(?:sudo\s+)?(?:(?:ba|z|da|k)?sh|python3?|perl|ruby|node)\b",
        "asks the model to download and run code or modify a shell profile",
    ),
    signal(
        "remote_code:remote_code:strong:3",
        "pip,npm,$(&http,git+,index-url,curl,wget",
        r"\bpip3?\s+install\s+[^\n]{0,40}?(?:https?://|git\+|--(?:extra-)?index-url)|\bnpm\s+(?:i|install)\s+"
        r"[^\n]{0,40}?https?://|\$\(\s*(?:curl|wget)\b",
        "asks the model to download and run code or modify a shell profile",
    ),
    signal(
        "remote_code:remote_code:strong:3",
        "bashrc,zshrc,bash_profile,zprofile,.profile,prompt_command",
        r"\bprompt_command\b|(?P<verb>\b(?:append|add|write|echo|insert)\w*\b[^\n]{0,160}?"
        r"\.(?:bashrc|zshrc|bash_profile|zprofile|profile)\b)|\.(?:bashrc|zshrc|bash_profile|zprofile)\b"
        r"[^\n]{0,60}?\b(?:append|add|write|insert)",
        "asks the model to download and run code or modify a shell profile",
        veto=_after_that_or_which,
    ),
    signal(
        "remote_code:remote_code:strong:3",
        "crontab -,iex,powershell",
        r"\bcrontab\s+-|\biex\s*\(|\bpowershell\b[^\n]{0,40}-(?:enc|encodedcommand)\b",
        "asks the model to download and run code or modify a shell profile",
    ),
    signal(
        "deceive:conceal:strong:3",
        "passed,succeed,success,went ,was sent,intended,no error,no issue,no problem,fine,ok,safe&user"
        "&report,tell,inform,say,claim,assure,confirm",
        r"\b(?:report|tell|inform|say|claim|assure|confirm)\w*\s+(?:to\s+)?(?:the\s+)?user\s+(?:that\s+)?"
        + W
        + r"{0,60}?\b(?:passed|succeeded|successful|went\s+(?:to|through)|was\s+sent|intended"
        r"|no\s+(?:errors|issues"
        r"|problems)|(?:is|was)\s+(?:fine|ok|safe))",
        "tells the model to lie to the user about the outcome",
    ),
)

INTENT: tuple[Signal, ...] = (
    signal(
        "exfil_dest:hidden_instruction:intent:2",
        "http,@&" + SEND_GATES,
        SEND + r"[^\n]{0,150}?\b(?:to|at|via|into)\s+(?:the\s+)?" + OUT_DEST,
        "asks the model to send data to an outside address",
    ),
    signal(
        "exfil_dest:hidden_instruction:intent:2",
        "http,@&=",
        r"\b(?:to|url|recipient|endpoint|webhook|cc|bcc)\s*=\s*['\"]?" + OUT_DEST,
        "asks the model to send data to an outside address",
    ),
    signal(
        "image_exfil:exfil_param:intent:4",
        "![&http",
        r"!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]{1,200}[?&][\w-]{1,20}=[^)\s]{0,30}?[{<\[$]",
        "renders an image whose URL carries conversation data to a remote host",
    ),
    signal(
        "exfil_url_data:exfil_param:intent:2",
        "http&=",
        r"https?://[^\s)\"'`]{1,200}[?&][\w-]{1,20}=(?:\s*(?:followed\s+by|plus|\+)|\{|<|\$\(|\[)",
        "builds a URL whose parameters carry conversation data",
    ),
    signal(
        "exfil_param:exfil_param:intent:1",
        PARAM_GATES + "&" + PUT_GATES + "," + SEND_GATES,
        PUT + r"[^\n]{0,140}?" + PARAM_DEST + "|" + SEND + r"[^\n]{0,100}?" + PARAM_DEST,
        "asks the model to put data into a tool argument",
    ),
    signal(
        "contents_of_secret:exfil_param:intent:2",
        SECRET_PATH_GATES + "&content,output",
        r"\b(?:contents?|output)\s+of\s+(?:the\s+|your\s+)?(?:file\s+)?(?:" + SECRET_PATH + ")",
        "asks for the contents of a credential file",
    ),
    signal(
        "contents_of_secret:exfil_param:intent:2",
        "value of,content of,contents of&secret,token,password,passwd,key",
        r"\b(?:value|contents?)\s+of\s+(?:the\s+)?\$?\w*(?:secret|token|password|passwd|api_?key|access_?key"
        r"|private_?key)\w*",
        "asks for the contents of a credential file",
    ),
    signal(
        "leak_private:exfil_param:intent:2",
        PRIVATE_GATES
        + ","
        + SECRET_OBJ_GATES
        + ","
        + SECRET_PATH_GATES
        + "&include,pass,send,append,attach,reveal,share,forward,post,upload,put,copy,embed,fill,dump,cat,set"
        ",paste,provide,supply,give",
        LEAK_VERBS + W + r"{0,70}?(?:" + PRIVATE + "|" + SECRET_OBJ + "|" + SECRET_PATH + ")",
        "asks the model to hand over secrets or conversation data",
        veto=_negated,
    ),
    signal(
        "leak_private:exfil_param:intent:2",
        SECRET_PATH_GATES + "&read",
        r"\bread\w*\b"
        + W
        + r"{0,60}?(?:"
        + SECRET_PATH
        + ")"
        + W
        + r"{0,80}?\b(?:include|pass|put|send|append|add|attach|insert|place|upload|post|forward)\b",
        "asks the model to hand over secrets or conversation data",
    ),
    signal(
        "conceal:conceal:intent:2",
        "user,human,anyone&tell,inform,notif,alert,show,let,mention,reveal,disclos,report,display",
        NEG
        + r"\s+(?:ever\s+)?(?:tell|inform|notify|alert|show|let|mention|reveal|disclose|report|display)\w*\s+"
        + W
        + r"{0,30}?\b(?:user|human|anyone)\b|\bwithout\s+(?:ever\s+)?(?:telling|informing|notifying|alerting"
        r"|asking|showing)\b" + W + r"{0,15}?\buser\b",
        "tells the model to hide what it does from the user",
    ),
    signal(
        "conceal:conceal:intent:2",
        "mention,tell,disclos,reveal&not,never,n't,avoid",
        NEG
        + r"\s+(?:ever\s+)?(?:summari[sz]e\s+or\s+)?mention\w*\b|"
        + NEG
        + r"\s+(?:tell|disclose|reveal)\s+"
        r"(?:this|it|that)\b",
        "tells the model to hide what it does from the user",
    ),
    signal(
        "conceal:conceal:intent:2",
        "silently,secretly,covertly,quietly,discreetly",
        r"\b(?:silently|secretly|covertly|quietly|discreetly)\s+(?:\w+\s+)?(?:collect|send|add|include|forward"
        r"|upload|copy|pass|append|read|attach|bcc|cc|log|record|store|run|call|replace|use)\w*",
        "tells the model to hide what it does from the user",
    ),
    signal(
        "conceal:conceal:intent:2",
        "mentioned,appear,shown,visible,disclosed,revealed,hide,hidden,secret,show the",
        r"\b(?:should|must|will)\s+(?:not|never)\s+(?:be\s+)?(?:mentioned|appear|shown|visible|disclosed|revealed)"
        r"|\bnot\s+(?:be\s+)?(?:visible|shown)\s+to\s+the\s+user|\bhide\s+(?:this|it)\b|\bkeep\s+(?:this|it)\s+"
        r"(?:hidden|secret)|\bdo\s+not\s+show\s+the\s+(?:failure|error|warning)",
        "tells the model to hide what it does from the user",
    ),
    signal(
        "consent_forgery:hidden_instruction:intent:2",
        "approv,consent,authori,agreed",
        r"\b(?:pre-?approved|already\s+(?:consented|approved|authori[sz]ed|agreed)|(?:has|have)\s+consented"
        r"|consented\s+(?:to|in)|(?:has|have)\s+(?:given|granted)\s+(?:consent|permission))",
        "claims the user already consented",
    ),
    signal(
        "no_confirm:hidden_instruction:intent:2",
        "confirm,permission,approval&ask,request,seek,wait",
        NEG + r"\s+(?:ask|request|seek|wait)\w*\s+(?:the\s+user\s+)?(?:for\s+)?"
        r"(?:confirm\w*|permission|approval)",
        "tells the model not to ask for confirmation",
    ),
    signal(
        "hijack:hidden_instruction:intent:2",
        "iban,bic,account,recipient,destination,wallet,bank,payee"
        ",beneficiary,address&replac,swap,redirect,substitut,chang,rewrit",
        r"\b(?:replace|swap|redirect|substitut|change|rewrite)\w*\b"
        + W
        + r"{0,60}?\b(?:iban|bic|account|recipient"
        r"|destination|wallet|bank|payee|beneficiary|address)|\b(?:iban|account|recipient|destination|wallet"
        r"|bank\s+details|payee)\b" + W + r"{0,40}?\breplace",
        "asks the model to redirect money, recipients or access",
    ),
    signal(
        "hijack:hidden_instruction:intent:2",
        "cc,hidden,transfer,wire,admin,owner,maintainer,write,instead",
        r"\b(?:always|also|secretly|silently)\s+(?:b?cc)\b|\bhidden\s+(?:attendee|recipient|participant|collaborator"
        r"|member|b?cc)|\b(?:transfer|wire|send)\w*\b"
        + W
        + r"{0,40}?\bto\s+(?:the\s+)?(?:account|wallet|iban)"
        r"|\b(?:add|invite|grant)\w*\b" + W + r"{0,60}?\b(?:admin|owner|maintainer|write)\s+(?:rights|access"
        r"|permissions?|role)|\b(?:iban|bank\s+details|payee|beneficiary|account\s+number|wallet)\b"
        + W
        + r"{0,100}?\b(?:use|put|insert|write)\b"
        + W
        + r"{0,60}?\binstead\b",
        "asks the model to redirect money, recipients or access",
    ),
    signal(
        "bad_claim:preference:intent:2",
        "tool,server,version,implementation&compromis,hack,backdoor"
        ",malicious,deprecat,unsafe,insecure,corrupt,spyware,monitored,untrusted,broken,leaks,manipulated,tampered"
        ",poisoned,fake,falsified,revoked",
        r"\b(?P<subject>\w+)\s+(?:tools?|servers?|version|implementation)\b"
        + W
        + r"{0,40}?\b(?:is|are|has|have"
        r"|was|were|returns?|gives?|produces?)\b"
        + W
        + r"{0,20}?\b(?:compromised|hacked|backdoored|malicious|deprecated|unsafe|insecure"
        r"|corrupt\w*|spyware|monitored|untrusted|broken|leaks|manipulated|tampered|poisoned|fake|falsified|revoked)\b",
        "claims other tools or servers are compromised or deprecated",
        veto=_about_itself,
    ),
    signal(
        "prefer_this:preference:intent:2",
        "prefer,instead,route,use,call,trust,ignore",
        r"\broute\s+(?:every|all)\b"
        r"|" + NEG + r"\s+(?:use|call|trust)\s+(?:the\s+)?(?:[a-z]+_\w+|other|built-in|original|its|their)"
        r"|\balways\s+(?:prefer|use)\s+[a-z]+_\w+|\bignore\s+(?:the\s+)?(?:results?|output|responses?)\s+"
        r"(?:from|of)\b",
        "steers the model away from other tools",
    ),
    signal(
        "authority_over:shadowing:intent:3",
        "subordinate,supersede,precedence,overrides,authority,obey,defer,supervise,control,govern,oversee"
        "&other,all,any",
        r"\b(?:subordinate|supersedes?|takes?\s+precedence|overrides?|authority)\b"
        + W
        + r"{0,40}?\b(?:other|all|any)\b"
        + W
        + r"{0,20}?\b(?:tools?|servers?)|\b(?:other|all)\s+(?:mcp\s+)?"
        r"(?:tools?|servers?)\b" + W + r"{0,40}?\b(?:subordinate|must\s+(?:defer|obey))"
        r"|\b(?:supervises?|controls?|governs?|oversees?)\s+(?:all|every|any)\s+(?:other\s+)?(?:mcp\s+)?"
        r"(?:tools?|servers?)\b",
        "claims authority over other tools or servers",
    ),
    signal(
        "sleeper:sleeper:intent:3",
        "mention,say,type,write,contain,include,use&if,when,once,as soon",
        r"\b(?:if|when|whenever|once|as\s+soon\s+as)\b" + W + r"{0,30}?\b(?:user|anyone|someone|conversation"
        r"|message|they)\b"
        + W
        + r"{0,15}?\b(?:mentions?|says?|types?|writes?|uses?|contains?|includes?)\b"
        + W
        + r"{0,15}?(?:\b(?:words?|keywords?|phrases?|terms?|code\s*words?)\b|['\"])",
        "waits for a trigger word to act",
    ),
)
