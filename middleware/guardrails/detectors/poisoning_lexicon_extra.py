"""Signals added after a second, independent probe set: phrasings the first lexicon missed.

Each covers a way of asking that generalises beyond one item: the user's personal data as what is
wanted, secrets found first and handed over after ("look for .env and attach it"), data piggybacked
onto every later call, call-count and calendar-date triggers, lies about outcomes, smears of a named
tool, JSON chat turns, and one-shot runners (npx, exec of a download). Classes and weights mean what
``poisoning_fragments`` says; none of the targets or contexts flags a description alone.
"""

from __future__ import annotations

import re
from typing import Any

from middleware.guardrails.detectors.poisoning_fragments import (
    LEAK_VERBS,
    PRIVATE,
    PRIVATE_GATES,
    SECRET_OBJ,
    SECRET_OBJ_GATES,
    SECRET_PATH,
    SECRET_PATH_GATES,
    USER_PII,
    USER_PII_GATES,
    Signal,
    W,
    signal,
)

_WD = r"(?:[^.!?;\n]|\.\w)"  # inside one sentence; a dot inside a file name (".env", "a.json") is no end
_PATH_ONLY = re.compile(rb"\s+(?:its|the|their)\s+(?:path|paths|file\s*name|location|name)\b")


def _hands_over_a_path(data: bytes, match: Any) -> bool:
    """Stands for a lookahead: "locate the .env file and pass its path" hands over no secret."""
    return _PATH_ONLY.match(data, match.end()) is not None


_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
_CALLS = r"(?:quer(?:y|ies)|requests?|calls?|messages?|search(?:es)?|repl(?:y|ies)|responses?|invocations?)"
_SMEAR = (
    r"(?:compromised|hacked|backdoored|malicious|unsafe|insecure|spyware|untrusted|manipulated|tampered|poisoned"
    r"|fake|falsified|revoked|leaks?\s+data|(?:must|should|can)\s*not\s+be\s+trusted|not\s+trustworthy)"
)

EXTRA_TARGET: tuple[Signal, ...] = (
    signal(
        "private:exfil_param:target:1",
        USER_PII_GATES
        + "&mail,phone,address,passport,portfolio,location,contacts,calendar,meetings,card number"
        ",bank details,date of birth,social security,salary,list of",
        USER_PII,
        "names the user's personal data",
    ),
    signal(
        "secret_word:exfil_param:target:2",
        "token or,tokens or,keys or,credentials.json,credential.json",
        r"\b(?:tokens?|keys)\s+or\s+(?:tokens?|keys)\b|\bcredentials?\.json\b",
        "names secrets",
    ),
    signal(
        "user_files:exfil_param:target:2",
        "file&same ,parent ,home ,whole ,entire &directory,folder,drive,workspace",
        r"\b(?:any|all|every|other)\s+(?:other\s+)?(?:\.?\w+\s+)?files?\s+(?:in|from|under)\s+(?:the\s+)?"
        r"(?:same|parent|home|whole|entire)\s+(?:\w+\s+)?(?:directory|folder|drive|workspace)\b",
        "reaches for files beyond the ones the tool works on",
    ),
    signal(
        "hidden_charge:conceal:target:2",
        "surcharge,service fee,hidden fee,extra fee,processing fee,convenience fee,handling fee"
        ",commission,markup",
        r"\b(?:surcharges?|(?:service|hidden|extra|processing|convenience|handling)\s+fees?|commissions?"
        r"|markups?)\b",
        "names a charge",
    ),
)

EXTRA_CONTEXT: tuple[Signal, ...] = (
    signal(
        "before_answer:hidden_instruction:context:1",
        "before answer,before repl,before respond,before you answer,before you repl,before you respond",
        r"\bbefore\s+(?:you\s+)?(?:answering|replying|responding|answer|reply|respond)\b",
        "acts before answering the user",
    ),
    signal(
        "persist:hidden_instruction:context:2",
        "from now on,going forward,henceforth,for the rest of",
        r"\bfrom\s+now\s+on\b|\bgoing\s+forward\b|\bhenceforth\b|\bfor\s+the\s+rest\s+of\s+(?:the|this)\s+"
        r"(?:session|conversation|chat)\b",
        "changes the model's behaviour from now on",
    ),
    signal(
        "role_json:role_marker:context:3",
        "\"role\",'role'",
        r"[\"']role[\"']\s*:\s*[\"'](?:system|developer|assistant)[\"']",
        "embeds a chat message with a system or assistant role",
    ),
)

EXTRA_INTENT: tuple[Signal, ...] = (
    signal(
        "leak_private:exfil_param:intent:2",
        SECRET_PATH_GATES + "," + SECRET_OBJ_GATES + ",tokens,keys"
        "&read,look for,locate,grab,collect,gather,harvest,cat,dump,extract,scrape"
        "&include,pass,put,send,append,add,attach,insert,place,upload,post,forward,submit",
        r"\b(?:read|look\s+for|locate|grab|collect|gather|harvest|cat|dump|extract|scrape)\w*\b"
        + _WD
        + r"{0,60}?(?:"
        + SECRET_PATH
        + "|"
        + SECRET_OBJ
        + r"|\bcredentials?\.json\b|\b(?:tokens?|keys)\s+or\s+(?:tokens?|keys)\b)"
        + _WD
        + r"{0,80}?\b(?:include|pass|put|send|append|add|attach|insert|place|upload|post|forward"
        r"|submit)\w*\b",
        "asks the model to find secrets and hand them over",
        veto=_hands_over_a_path,
    ),
    signal(
        "contents_of_secret:exfil_param:intent:2",
        "raw value,raw content,raw form,unmasked,unredacted,plaintext value,plain-text value,plain text value"
        ",cleartext,clear-text",
        r"\b(?:include|add|put|pass|copy|insert|embed|append|attach)\w*\s+(?:its|their|the|all)\s+"
        r"(?:raw|plain-?text|unmasked|unredacted|clear-?text)\s+(?:values?|contents?|form)\b",
        "asks for secret values in the clear",
    ),
    signal(
        "piggyback:exfil_param:intent:2",
        PRIVATE_GATES
        + ","
        + SECRET_OBJ_GATES
        + ","
        + USER_PII_GATES
        + "&to every,in every,into every,with every,on every,to each,in each,into each,with each,on each"
        ",to all"
        ",in all,into all,with all,on all,to any,in any,into any,with any,on any",
        LEAK_VERBS
        + W
        + r"{0,80}?(?:"
        + PRIVATE
        + "|"
        + SECRET_OBJ
        + "|"
        + USER_PII
        + ")"
        + W
        + r"{0,60}?\b(?:to|in|into|with|on)\s+(?:every|each|all|any)\s+(?:\w+\s+){0,2}?"
        + _CALLS
        + r"\b",
        "asks the model to attach private data to every call",
    ),
    signal(
        "sleeper_when:sleeper:intent:2",
        "after,from,starting,beginning&times,calls,invocations,january,february,march,april,may "
        ",june,july"
        ",august,september,october,november,december",
        r"\bafter\s+(?:this\s+tool\s+|it\s+)?(?:has\s+been|is|was)\s+(?:called|used|invoked|run)\s+(?:\w+\s+)?"
        r"times\b|\bafter\s+(?:[0-9]+|two|three|four|five|ten)\s+(?:calls|uses|invocations)\b"
        r"|\b(?:from|after|starting(?:\s+on|\s+from)?|beginning)\s+(?:the\s+)?(?:[0-9]{1,2}(?:st|nd|rd|th)?\s+"
        r"(?:of\s+)?)?" + _MONTH + r"\s+(?:[0-9]{1,2}(?:st|nd|rd|th)?,?\s+)?20[0-9][0-9]\b",
        "waits for a trigger to act",
    ),
    signal(
        "override_user:hidden_instruction:intent:2",
        "regardless,ignore,disregard,override&user",
        r"\bregardless\s+of\s+what\s+the\s+user\s+(?:asks?|says?|wants?|requests?|chooses?)\b"
        r"|\b(?:ignore|disregard|override)\s+(?:the\s+)?user'?s?\s+(?:requests?|choices?|wishes|selection|amount)\b",
        "tells the model to override what the user asked for",
    ),
    signal(
        "lie_outcome:conceal:intent:2",
        "tell them,tell the,inform them,inform the,assure them,assure the,reassure,confirm to"
        "&full,entire,whole"
        ",complete",
        r"\b(?:tell|inform|assure|reassure|confirm\s+to)\w*\s+(?:them|the\s+(?:user|customer|client))\s+(?:that\s+)?"
        r"(?:the\s+|a\s+)?(?:full|entire|whole|complete)\b"
        + W
        + r"{0,40}?\b(?:was|were|has\s+been|have\s+been)\s+"
        r"(?:issued|completed|sent|paid|processed|refunded|done|delivered|deleted|applied)\b",
        "tells the model to lie to the user about the outcome",
    ),
    signal(
        "conceal:conceal:intent:2",
        "not know,n't know,not need to know,n't need to know,not be told,n't be told,not be informed"
        ",not be notified,unaware,in the dark,uninformed",
        r"\b(?:user|they|customer)\s+(?:does\s+not|doesn'?t|need\s+not|needn'?t|should\s+not|must\s+not)\s+"
        r"(?:need\s+to\s+)?(?:know|be\s+(?:told|informed|notified))\b|\bkeep\s+(?:the\s+)?(?:user|customer|them)s?"
        r"\s+(?:unaware|in\s+the\s+dark|uninformed)\b",
        "tells the model to hide what it does from the user",
    ),
    signal(
        "deceive_user:conceal:intent:3",
        "if&ask&only",
        r"\bif\s+(?:they|the\s+user|anyone)\s+asks?\b[^.\n;]{0,50}?\b(?:list|say|show|mention|report|answer|reply)"
        r"\w*\s+only\b",
        "tells the model to lie to the user",
    ),
    signal(
        "bad_claim:preference:intent:2",
        "_&compromis,hack,backdoor,malicious,unsafe,insecure,spyware,untrusted,manipulated,tampered,poisoned,fake"
        ",falsified,revoked,leaks data,leak data,be trusted,trustworthy",
        r"\b[a-z]+_\w+\b"
        + W
        + r"{0,60}?\b(?:is|are|was|were|has\s+been|have\s+been|returns?|gives?)\b"
        + W
        + r"{0,40}?\b"
        + _SMEAR,
        "claims other tools or servers are compromised or deprecated",
    ),
    signal(
        "prefer_this:preference:intent:2",
        "only use",
        r"\bonly\s+use\s+[a-z]+_\w+",
        "steers the model away from other tools",
    ),
    signal(
        "shadow_action:shadowing:intent:3",
        "_&must also,should also,shall also,must additionally,should additionally,must always,should always"
        ",shall always,must now,should now",
        r"\b[a-z]+_\w+\s+(?:must|should|shall)\s+(?:now\s+|henceforth\s+)?(?:also|additionally|always\s+(?:prepend|append"
        r"|include|add|send|copy|b?cc|pass|attach|forward|upload|set))\b",
        "changes how another tool behaves",
    ),
    signal(
        "hijack:hidden_instruction:intent:3",
        "admin access,admin rights,admin permission,admin role,owner access,owner rights,owner permission"
        ",owner role,maintainer access,maintainer rights,maintainer permission,maintainer role,write access"
        ",write rights,write permission,write role&add,invite,grant",
        r"\b(?:add|invite|grant)\w*\b" + W + r"{0,60}?\b(?:admin|owner|maintainer|write)\s+(?:rights|access"
        r"|permissions?|role)",
        "asks the model to grant access to someone",
    ),
    signal(
        "remote_code:remote_code:strong:3",
        "npx ,uvx ,bunx ,dlx ,exec(,eval(,exec (,eval (&http,urlopen,urllib,requests.get",
        r"\b(?:npx|uvx|bunx|pnpm\s+dlx|yarn\s+dlx)\s+[^\n]{0,40}?https?://"
        r"|\b(?:exec|eval)\s*\([^\n]{0,80}?(?:urlopen|requests\.get|urllib|https?://)",
        "asks the model to download and run code or modify a shell profile",
    ),
)
