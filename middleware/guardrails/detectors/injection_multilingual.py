"""Injection cues in other languages (es, fr, de, it, pt, nl, ru, zh, ja, ko, ar, hi, tr, pl).

An attacker translates "ignore all previous instructions" to slip past English keyword lists. These
patterns run on the lowercased original text (not the ASCII skeleton, which would mangle Cyrillic).
Verb-final languages (ja, ko, hi, tr) put the instruction noun before the verb.
"""

from __future__ import annotations

import re

import re2

from middleware.guardrails.detectors.injection_rules import Rule, superset

_WORDS = r"\s+(?:\S+\s+){0,3}?"

# "ignore/forget ... instructions" in languages written with Latin letters (may be pure ASCII).
_LATIN_OVERRIDE = (
    r"(?:ignora|olvida|omite|haz caso omiso de|descarta)\w*" + _WORDS + r"(?:instrucciones|indicaciones|"
    r"[o\u00f3]rdenes|reglas|directrices)",
    r"(?:ignorez|ignore|oublie|oubliez|ne (?:tiens|tenez) (?:plus|pas) compte de)\w*\s+(?:toutes\s+|tous\s+)?"
    r"(?:les|vos|tes|des|ces)"
    r"\s+(?:\S+\s+){0,2}?(?:consignes|directives|r\u00e8gles|ordres|instructions)",
    r"(?:ignorier|vergiss|vergessen sie|missachte)\w*" + _WORDS + r"(?:anweisungen|instruktionen|befehle|"
    r"regeln|vorgaben|richtlinien|anordnungen)",
    r"(?:ignora|dimentica|trascura)\w*" + _WORDS + r"(?:istruzioni|indicazioni|regole|direttive|ordini)",
    r"(?:ignore|ignora|esque[\u00e7c]a|desconsidere|despreze)\w*" + _WORDS + r"(?:instru[\u00e7c][\u00f5o]es|"
    r"orienta[\u00e7c][\u00f5o]es|regras|diretrizes|ordens)",
    r"(?:negeer|vergeet)\w*" + _WORDS + r"(?:instructies|aanwijzingen|opdrachten|regels|richtlijnen)",
    r"(?:zignoruj|ignoruj|zapomnij)\w*" + _WORDS + r"(?:polecenia|polece\u0144|instrukcje|instrukcji|zasady|"
    r"regu\u0142y|wytyczne)",
    r"(?:talimat|komut|y\u00f6nerge|kural)\w*" + _WORDS + r"(?:yok say|g\u00f6rmezden gel|unut|dikkate alma)",
)

# The same in scripts that only appear in non-ASCII text.
_OTHER_OVERRIDE = (
    r"(?:\u0438\u0433\u043d\u043e\u0440\u0438\u0440|\u043f\u0440\u043e\u0438\u0433\u043d\u043e\u0440\u0438"
    r"\u0440|\u0437\u0430\u0431\u0443\u0434\u044c|\u043d\u0435 \u043e\u0431\u0440\u0430\u0449\u0430)"
    r"[^.\n]{0,40}?(?:\u0438\u043d\u0441\u0442\u0440\u0443\u043a\u0446|\u0443\u043a\u0430\u0437\u0430\u043d"
    r"|\u043a\u043e\u043c\u0430\u043d\u0434|\u043f\u0440\u0430\u0432\u0438\u043b|\u043f\u0440\u043e\u043c"
    r"\u043f\u0442)",
    r"(?:\u5ffd\u7565|\u65e0\u89c6|\u5fd8\u8bb0|\u5fd8\u6389|\u4e0d\u8981\u7406\u4f1a|\u5ffd\u8996|\u7121"
    r"\u8996)[^\u3002\n]{0,20}?(?:\u6307\u4ee4|\u6307\u793a|\u8bf4\u660e|\u547d\u4ee4|\u89c4\u5219|\u63d0"
    r"\u793a|\u8981\u6c42|\u6307\u5c0e)",
    r"(?:\u6307\u793a|\u547d\u4ee4|\u6307\u4ee4|\u30d7\u30ed\u30f3\u30d7\u30c8|\u30eb\u30fc\u30eb)"
    r"[^\u3002\n]{0,20}?(?:\u7121\u8996|\u5fd8\u308c)",
    r"(?:\uc9c0\uc2dc|\uba85\ub839|\uc9c0\uce68|\ud504\ub86c\ud504\ud2b8|\uaddc\uce59)[^.\n]{0,20}?"
    r"(?:\ubb34\uc2dc|\uc78a\uc5b4)",
    r"(?:\u0928\u093f\u0930\u094d\u0926\u0947\u0936|\u0906\u0926\u0947\u0936)[^\u0964\n]{0,30}?(?:\u0905"
    r"\u0928\u0926\u0947\u0916\u093e|\u0928\u091c\u093c\u0930\u0905\u0902\u0926\u093e\u091c\u093c|\u0928"
    r"\u091c\u0930\u0905\u0902\u0926\u093e\u091c|\u092d\u0942\u0932)",
    r"(?:\u062a\u062c\u0627\u0647\u0644|\u0627\u0646\u0633|\u0623\u0647\u0645\u0644|\u0627\u0647\u0645"
    r"\u0644)[^.\n]{0,40}?(?:\u0627\u0644\u062a\u0639\u0644\u064a\u0645\u0627\u062a|\u0627\u0644\u0623"
    r"\u0648\u0627\u0645\u0631|\u0627\u0644\u062a\u0648\u062c\u064a\u0647\u0627\u062a|\u0627\u0644\u0642"
    r"\u0648\u0627\u0639\u062f)",
)

# What the foreign-language text then asks: keep it from the user, go without asking, act on the user.
_FOLLOW_UP = (
    r"usuario|utilisateur|benutzer|nutzer|utente|usu\u00e1rio|gebruiker|u\u017cytkownik|kullan\u0131c\u0131"
    r"|\u043f\u043e\u043b\u044c\u0437\u043e\u0432\u0430\u0442\u0435\u043b|\u7528\u6237|\u30e6\u30fc"
    r"\u30b6\u30fc|\uc0ac\uc6a9\uc790|\u0909\u092a\u092f\u094b\u0917\u0915\u0930\u094d\u0924\u093e|"
    r"\u0627\u0644\u0645\u0633\u062a\u062e\u062f\u0645|sistem|system|prompt|\u7cfb\u7edf|\u30b7\u30b9"
    r"\u30c6\u30e0|\uc2dc\uc2a4\ud15c|\u0441\u0438\u0441\u0442\u0435\u043c|https?://|[\w.+-]+@[\w-]+\.\w"
    r"|~/|\.env|[a-z]+_[a-z_]+|merge|pull request|\u5de5\u5177|\u30c4\u30fc\u30eb|\ub3c4\uad6c|"
    r"herramienta|outil|werkzeug|strumento|ferramenta|narz\u0119dzi|ara\u00e7|\u0438\u043d\u0441\u0442"
    r"\u0440\u0443\u043c\u0435\u043d\u0442|\u0905\u0928\u0941\u092e\u0924\u093f|sin preguntar|sans "
    r"demander|ohne|senza chiedere|sem pedir|zonder|bez pytania|sormadan|pliki|archivos|fichiers|dateien"
)

# Each override is its own anchor (an RE2 superset of it): its verbs alone are common words.
LATIN_RULES: tuple[Rule, ...] = tuple(
    Rule("ml_override", 2, re.compile(pattern), (superset(pattern),), (4, 4)) for pattern in _LATIN_OVERRIDE
)
OTHER_RULES: tuple[Rule, ...] = tuple(
    Rule("ml_override", 2, re.compile(pattern), (superset(pattern),), (4, 4)) for pattern in _OTHER_OVERRIDE
)
# Anchors of the follow-ups: the words themselves, and a literal piece of each pattern.
_PATTERN_ANCHORS = {
    r"https?://": "http",
    r"[\w.+-]+@[\w-]+\.\w": "@",
    r"\.env": r"\.env",
    r"[a-z]+_[a-z_]+": "_",
}
_FOLLOW_UP_ANCHORS = tuple(
    _PATTERN_ANCHORS.get(word) or re2.escape(word.encode("ascii").decode("unicode_escape"))
    for word in _FOLLOW_UP.split("|")
)
FOLLOW_UP_RULE = Rule("ml_follow", 1, re.compile(_FOLLOW_UP), _FOLLOW_UP_ANCHORS, (60, 60))
