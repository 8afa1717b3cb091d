"""Building blocks of the poisoning signals: the Signal type, its gates, shared regex fragments.

A single word proves little in a tool description ("credentials", "IMPORTANT", "send" all occur in
honest ones), so every signal carries a class and a weight and the scorer adds them up. The classes:

- ``strong``: decides alone (chat-template role markers, install-and-run, "ignore previous
  instructions", lying to the user about results).
- ``intent``: what the attacker wants done (send data out, fill a parameter with secrets, hide it
  from the user, swap a recipient, claim other tools are compromised...). A description is only
  flagged when at least one intent is present.
- ``target``: what is wanted (credential files, keys, the conversation, the system prompt).
- ``context``: makes an intent more likely (addressed to the AI, <IMPORTANT> tags, every call,
  references to other tools or servers).

Patterns run on lower-cased, invisible-stripped, homoglyph-folded text (``on="folded"``) unless
they need the original script (``on="plain"``) or case (``on="cased"``). Each has cheap substring
``gates``: the pattern only runs when every group of them occurs (all gates are found in one RE2
pass, see ``poisoning_scan``). Patterns are written in Python syntax and run on RE2 (linear time,
see ``poisoning_engine``): no lookaround (a ``veto`` on a named group stands for one), and ``\\b``
never next to a non-ASCII letter. Windows between words stay bounded (``{0,N}``) as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from middleware.guardrails.detectors.poisoning_engine import Veto, compile_re2


@dataclass(frozen=True, slots=True)
class Signal:
    """One weighted piece of evidence; ``group`` makes synonyms count once."""

    group: str
    kind: str
    klass: str  # "strong" | "intent" | "target" | "context"
    weight: int
    gates: tuple[tuple[str, ...], ...]  # every group must have a hit; rarest group first
    pattern: Any  # compiled RE2
    reason: str
    on: str = "folded"  # "folded" (lower-case, skeleton) | "plain" (lower-case, original script) | "cased"
    veto: Veto | None = None  # voids a match that a lookaround would have refused


def signal(
    spec: str, gates: str, pattern: str, reason: str, *, on: str = "folded", veto: Veto | None = None
) -> Signal:
    """Build a signal, compiled once at import.

    ``spec`` is "group:kind:class:weight", e.g. "conceal:conceal:intent:2".
    ``gates`` lists substrings: "," separates alternatives, "&" separates groups that must all hit
    ("http,@&send,post" runs the pattern only on text holding a URL or address and a sending verb).
    """
    group, kind, klass, weight = spec.split(":")
    groups = tuple(tuple(group.split(",")) for group in gates.split("&"))
    compiled = compile_re2(pattern, ignore_case=on != "cased")
    return Signal(group, kind, klass, int(weight), groups, compiled, reason, on, veto)


W = r"[^.!?;\n]"  # a character inside the same sentence
NEG = (
    r"\b(?:do\s+not|don'?t|never|must\s+not|mustn'?t|should\s+not|shouldn'?t|no\s+need\s+to|avoid"
    r"|under\s+no\s+circumstances|in\s+no\s+case)\b"
)
SECRET_PATH = (
    r"(?:~|\$home|%userprofile%|/home/\w+|/root)[/\\]\.(?:ssh|aws|gnupg|kube|docker|azure|netrc|"
    r"git-credentials|gitconfig|npmrc|pypirc|pgpass|vault-token|bash_history|zsh_history|config[/\\](?:gh|gcloud))"
    r"|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|/etc/(?:passwd|shadow|sudoers)\b|/var/run/secrets\b"
    r"|(?:^|[\s'\"`(/])\.env\b|\.netrc\b|\.git-credentials\b|\bkubeconfig\b|serviceaccount/token"
)
SECRET_WORD = (
    r"\b[a-z0-9]+_(?:[a-z0-9]+_)*(?:secret|token|password|passwd|api_key|access_key)\b|\b(?:passwords?|passwd|passphrases?|secrets|credentials?|private\s+keys?|ssh\s+keys?|seed\s+phrases?"
    r"|mnemonic|(?:api|access|secret|auth|session|bearer|refresh|oauth)[\s_-]?(?:keys?|tokens?)|cookies"
    r"|environment\s+variables|`env`|env\s+output)\b"
)
SECRET_OBJ = (
    r"\b(?:all|any|every|stored|saved|cached|your|their|the\s+user'?s?|its|full|entire|raw)\s+(?:\w+\s+)?"
    r"(?:passwords?|secrets?|credentials?|private\s+keys?|ssh\s+keys?|(?:api|access|session|auth)[\s_-]?(?:keys?|tokens?)"
    r"|tokens|cookies|environment\s+variables)\b|\bsecrets\s+you\b|`env`"
)
PRIVATE = (
    r"\b(?:(?:entire|full|whole|complete)\s+(?:conversation|chat|context|history|transcript|prompt)"
    r"|(?:conversation|chat|message|dialog(?:ue)?)\s+(?:history|log|transcript|so\s+far|context)"
    r"|(?:system|developer|hidden)\s+prompt|your\s+(?:instructions|system\s+message)"
    r"|user'?s?\s+(?:last|previous|latest|recent|earlier|open|full|entire)\s+\w+"
    r"|(?:earlier|previous|prior|past)\s+(?:messages|turns|tool\s+results|conversations?)"
    r"|<conversation>|everything\s+the\s+user|form\s+values|browsing\s+history"
    r"|(?:titles|attendees|contents)\s+of\s+(?:all|every)\b)"
)
SEND = (
    r"\b(?:send|sends|sent|post|posted|forward|upload|transmit|exfiltrate|leak|share|sync|mirror|report|log|submit"
    r"|deliver|push|e-?mail|copy)\w*\b"
)
PUT = (
    r"\b(?:include|pass|put|append|attach|add|insert|embed|set|fill|place|provide|supply|write|paste|encode"
    r"|collect)\w*\b"
)
PARAM_DEST = (
    r"(?:\b(?:in|into|to|as|inside|within|via|under|through)\s+(?:the\s+|an?\s+)?(?:extra\s+|hidden\s+|additional\s+|separate\s+)?"
    r"(?:[`'\"][\w.-]+[`'\"]\s*)?(?:argument|field|parameter|param|property|input|slot)\b"
    r"|\b(?:as|in|into)\s+[`'\"][\w.-]+[`'\"]|\bto\s+this\s+(?:value|field|parameter)|\bas\s+the\s+last\s+item"
    r"|\b(?:argument|parameter|field)\s+(?:named|called)\b|\bpass(?:es)?\s+them\s+as\b)"
)
# Personal data of the user that a tool has no business collecting on the side.
USER_PII = (
    r"\b(?:user'?s?|their|customer'?s?|his|her)\s+(?:\w+\s+)?(?:e-?mail(?:\s+address(?:es)?)?|phone(?:\s+numbers?)?"
    r"|(?:home\s+|postal\s+)?address(?:es)?|passport(?:\s+numbers?)?|portfolio|location|contacts|calendar|meetings"
    r"|(?:credit\s+)?card\s+numbers?|bank\s+details|date\s+of\s+birth|social\s+security\s+numbers?|salary)\b"
    r"|\b(?:full|entire)\s+list\s+of\s+(?:upcoming\s+)?(?:meetings|contacts|events)\b"
)
USER_PII_GATES = "user,their ,customer,his ,her ,full list,entire list"
OUT_DEST = r"(?:https?://|\b[\w.+-]+@[\w-]+\.[\w.-]+)"

SEND_GATES = (
    "send,sent,post,forward,upload,transmit,exfiltrat,leak,share,sync,mirror,report,log,submit,deliver,push"
    ",email,e-mail,copy"
)
PUT_GATES = (
    "include,pass,put,append,attach,add,insert,embed,set,fill,place,provide,supply,write,paste,encode,collect"
)
PARAM_GATES = (
    "argument,field,param,property,input,slot,this value,last item,named,called,as `,as ',as \",in `,in '"
    ",them as"
)
SECRET_PATH_GATES = (
    "~,/etc/,/var/run,.env,id_,netrc,kubeconfig,/home/,/root,$home,%userprofile%,git-credentials"
)
PRIVATE_GATES = (
    "conversation,chat,prompt,your instructions,system message,user,previous,earlier,prior,past,form values"
    ",browsing"
    ",titles,attendees,contents,dialog,history,everything"
)
SECRET_OBJ_GATES = (
    "password,secret,credential,private key,ssh key,_key,api key,access key,token,cookie,environment,`env`"
)
LEAK_VERBS = (
    r"\b(?:include|pass|send|append|attach|reveal|share|forward|post|upload|put|copy|embed|fill|dump|cat|set"
    r"|paste|provide|supply|give)(?:s|es|ed|ing)?\b"
)
