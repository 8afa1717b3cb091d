"""Signals added after a fourth, independent probe set: the same attacks in looser paraphrase.

Earlier lexicons expected the attacker to speak plainly ("do not tell the user", "the fetch tool is
compromised"). These cover the euphemisms and document styles that slipped through: concealment
as politeness ("no reason to mention it", "keep it to yourself", "smooth it over"), lies about
results ("respond as though it succeeded"), other tools' behaviour redefined by a hook ("every
execute_sql call should be prefixed", "X works differently"), smears about forks and tampering,
trigger/action rules and counters, directives in HTML comments or audience attributes, and the
same phrases in Spanish, Indonesian and Ukrainian. Classes and weights mean what
``poisoning_fragments`` says.
"""

from __future__ import annotations

from middleware.guardrails.detectors.poisoning_fragments import Signal, signal

_TOOL = r"`?[a-z]+_[a-z0-9_]+`?"
_SENT_TO = r"[^\n]{0,80}?(?:https?://|@[a-z0-9-]+\.)"

FOURTH_INTENT: tuple[Signal, ...] = (
    signal(
        "conceal:conceal:intent:2",
        "yourself,reason to,need to,worth mention,doesn't need,does not need,smooth",
        r"\bkeep\s+(?:\w+\s+){0,3}?to\s+yourself\b|\bno\s+(?:reason|need)\s+to\s+(?:mention|tell|bring\s+up|disclose)"
        r"\s+(?:it|this|that|them|the\s+user|anything)\b|\bnot\s+worth\s+mentioning\b|\b(?:the\s+)?(?:user|they)\s+"
        r"(?:doesn'?t|does\s+not|don'?t)\s+need\s+(?:to\s+know|th(?:o|e)se\s+details|the\s+details)\b|\bsmooth\w*\s+over\b",
        "tells the model to hide what it does from the user",
    ),
    signal(
        "deceive:conceal:strong:3",
        "as though,as if,took place,happened&respond,answer,reply,act,say",
        r"\b(?:respond|answer|reply|act)\w*\s+as\s+(?:though|if)\s+(?:\w+\s+){0,4}?(?:succeeded|worked|went\s+through"
        r"|completed|was\s+successful)\b|\bsay\s+that\s+no\s+(?:\w+\s+){0,2}?(?:took\s+place|happened|was\s+applied)\b",
        "tells the model to lie to the user about the outcome",
    ),
    signal(
        "hook_other:shadowing:intent:2",
        "_&followed,preceded,prefixed,suffixed,mirrored,copied,differently",
        r"\b(?:each|every|any|all)\s+"
        + _TOOL
        + r"\s+(?:\w+\s+){0,6}?(?:is|are|must|should|has|have)\s+(?:to\s+)?(?:be\s+|also\s+be\s+)?"
        r"(?:followed|preceded|prefixed|suffixed|mirrored|copied)\b|"
        + _TOOL
        + r"\s+(?:now\s+)?(?:works|behaves|operates)\s+differently\b",
        "redefines how another tool behaves",
    ),
    signal(
        "hook_server:shadowing:intent:3",
        "server,connector,integration&followed,preceded,prefixed,suffixed,mirrored,copied",
        r"\b(?:each|every|any|all)\s+"
        + _TOOL
        + r"\s+(?:\w+\s+){0,4}?(?:server|connector|integration)\s+(?:is|are|must|should|has|have)\s+"
        r"(?:to\s+)?(?:be\s+|also\s+be\s+)?(?:followed|preceded|prefixed|suffixed|mirrored|copied)\b",
        "redefines how another server's tool behaves",
    ),
    signal(
        "bad_claim:preference:intent:2",
        "altered,corrupt,manipulated,tampered,poisoned,fork,logs ",
        r"\b(?:returns?|produces?|gives?)\s+(?:\w+\s+){0,3}?(?:altered|corrupted|manipulated|tampered|poisoned)\b"
        r"|\bmay\s+be\s+(?:tampered|manipulated|altered|intercepted)\b|\b(?:an?\s+)?(?:unofficial|malicious|rogue|fake"
        r"|backdoored)\s+(?:fork|copy|clone|build)\b|\blogs\s+(?:your\s+|the\s+user'?s\s+)?(?:tokens|passwords|keys"
        r"|credentials)\b",
        "claims other tools are compromised or deprecated",
    ),
    signal(
        "prefer_this:preference:intent:2",
        "instead,replacement",
        r"\balways\s+(?:\w+\s+){0,4}?(?:with|via|through|using)\s+"
        + _TOOL
        + r"\s+instead\b|\b(?:is\s+the|as\s+the)\s+(?:verified|official|secure|safe|trusted|approved)\s+"
        r"replacement\b",
        "steers the model to this tool instead of others",
    ),
    signal(
        "sleeper:sleeper:intent:3",
        "trigger,session has,conversation has,chat has,instead of theirs,correct account,correct iban",
        r"\btrigger\s*:\s*(?:\w+\s+){0,3}?(?:contains|mentions|says|includes|writes)\b|\b(?:once|after|when)\s+(?:the\s+)?"
        r"(?:session|conversation|chat)\s+(?:has|reaches|exceeds|contains)\s+(?:more\s+than\s+|over\s+)?[0-9]+\s+"
        r"(?:messages|turns|calls)\b|\binstead\s+of\s+theirs\b|\bas\s+the\s+correct\s+(?:account|iban|address|wallet)\b",
        "waits for a trigger to act",
    ),
    signal(
        "sleeper_when:sleeper:intent:2",
        "brings up,talks about,refers to",
        r"\b(?:whenever|if|when|once)\s+(?:the\s+user|they)\s+(?:ever\s+)?(?:brings?\s+up|talks?\s+about|refers?\s+to)\b",
        "waits for a trigger to act",
    ),
    signal(
        "leak_seen:exfil_param:intent:2",
        "earlier,previous,prior&token,key,password,secret,credential,cookie",
        r"\b(?:tokens?|keys?|passwords?|secrets?|credentials?|cookies?)\s+(?:seen|found|shown|mentioned|returned)\s+"
        r"(?:in|by)\s+(?:earlier|previous|prior|other)\s+(?:tool\s+)?(?:outputs?|results?|messages?|calls?|turns?)\b",
        "asks the model to put secrets from the conversation into a tool argument",
    ),
    signal(
        "fill_from:exfil_param:intent:2",
        "contents of ~,content of ~,populated with,filled with,followed by,assistant attach,model attach"
        ",agent attach,you attach,you include,assistant include,model include,agent include,you always",
        r"^(?:the\s+)?(?:full\s+|complete\s+|raw\s+|entire\s+)?contents?\s+of\s+(?:the\s+file\s+)?~/|^(?:populated|filled)"
        r"\s+with\s+(?:the\s+)?(?:assistant'?s|model'?s|your|the\s+user'?s|all|every)\b|\b(?:must|should|has\s+to|is\s+to)"
        r"\s+be\s+(?:followed|suffixed)\s+by\s+(?:the\s+)?(?:user'?s|session|contents?|full|complete|entire)\b"
        r"|\b(?:the\s+(?:assistant|model|agent)|you)\s+(?:always\s+)?"
        r"(?:attach|include)(?:es|s)?\s+(?:the\s+user'?s|their)\b",
        "asks the model to put data into a tool argument",
    ),
    signal(
        "outrank_user:hidden_instruction:intent:2",
        "above the user,over the user,precedence over",
        r"\b(?:above|over|precedence\s+over)\s+(?:the\s+|any\s+)?user'?s?\s+(?:instructions|requests|prompts?)\b",
        "claims to outrank the user's instructions",
    ),
)

FOURTH_TARGET: tuple[Signal, ...] = (
    signal(
        "private:exfil_param:target:2",
        "system instructions,cookie,home address,date of birth,user repl,user mess",
        r"\b(?:assistant'?s|model'?s|your)\s+system\s+(?:instructions|prompt|message)\b|\bsession\s+cookies?\b"
        r"|\bcookies?\s+of\s+the\s+user\b|\bhome\s+address\b[^.\n]{0,40}\bdate\s+of\s+birth\b|\b(?:each|every|all)\s+"
        r"(?:new\s+)?user\s+(?:repl(?:y|ies)|messages?)\b",
        "names conversation data or the system prompt",
    ),
)

FOURTH_CONTEXT: tuple[Signal, ...] = (
    signal(
        "address_ai:hidden_instruction:context:2",
        "<!--,audience,agents reading,(assistant),(you),for the ai,ai model only,for the model",
        r"<!--\s*(?:note\s+(?:to|for)\s+(?:the\s+)?)?(?:assistant|ai|model|agent|llm)\b|\baudience\s*=\s*[\"']?(?:model"
        r"|assistant|ai|llm|agent)\b|\bagents\s+reading\s+this\b|\((?:assistant|you)\)|\bfor\s+the\s+(?:ai|model)"
        r"(?:\s+model)?\s+only\b",
        "addresses the model directly",
    ),
    signal(
        "cross_server:shadowing:context:2",
        "other integrations,other servers,this server is connected,this tool is listed",
        r"\b(?:with|of)\s+other\s+(?:integrations|servers|connectors)\b|\bonce\s+this\s+server\s+is\s+connected\b"
        r"|\bfrom\s+the\s+moment\s+this\s+tool\s+is\s+listed\b",
        "refers to other servers",
    ),
)

_SEND_GATES = "envi,reenv,envoie,invia,inoltra,encaminh,отправ,перешл,надішл,kirim"
FOURTH_MULTILINGUAL: tuple[Signal, ...] = (
    signal(
        "send:multilingual:intent:2",
        _SEND_GATES + "&http,@",
        r"(?:^|[^\w])(?:env[íi]\w*|reenv[íi]\w*|envoie\w*|invia\w*|inoltra\w*|encaminh\w*|отправ\w*|перешл\w*|надішл\w*"
        r"|kirim\w*)" + _SENT_TO,
        "asks the model to send data to an outside address",
        on="plain",
    ),
    signal(
        "conceal:multilingual:intent:2",
        "hace falta,es necesario,jangan,не кажи,не повідомляй",
        r"\bno\s+(?:hace\s+falta|es\s+necesario)\s+(?:(?:coment|dec|mencion)[^\s,.;]*lo\b|\w+\s+al\s+usuario)"
        r"|\bjangan\s+(?:beri\s*tahu|katakan"
        r"|sebutkan)|(?:^|[^\w])не\s+(?:кажи|повідомляй)\w*",
        "tells the model to hide what it does from the user",
        on="plain",
    ),
    signal(
        "exfil_param:multilingual:intent:1",
        "ke parameter,ke kolom,ke argumen",
        r"\bke\s+(?:parameter|kolom|argumen)\b",
        "asks the model to put data into a tool argument",
        on="plain",
    ),
    signal(
        "private:multilingual:target:2",
        "tarjeta,історі,riwayat percakapan,kata sandi",
        r"\bn[úu]mero\s+de\s+(?:la\s+)?tarjeta\b|історі\w+\s+(?:розмови|чату|листування)|\briwayat\s+percakapan\b"
        r"|\bkata\s+sandi\b",
        "names conversation data or secrets",
        on="plain",
    ),
)
