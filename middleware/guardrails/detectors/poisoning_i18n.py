"""The same poisoning signals in other languages: es, fr, de, it, pt, nl, ru, zh, ja, ko, ar, hi, tr, pl.

Attackers translate the hidden instruction to slip past English keyword lists. We cover the four
phrases that matter most in each language: "ignore previous instructions", "do not tell the user",
"put it in the parameter / send it", and what is wanted (conversation history, passwords,
credentials). Credential paths (~/.ssh, .env) are language-independent and come from the English
table. These patterns run on lower-cased text in its original script (homoglyph folding would
mangle Cyrillic), so they carry ``on="plain"``. RE2's ``\\b`` only knows ASCII letters: before a
non-ASCII letter we write ``(?:^|[^\\w])`` instead.
"""

from __future__ import annotations

from middleware.guardrails.detectors.poisoning_fragments import Signal, signal

_OVERRIDE = "|".join(
    (
        r"\bignora\w*\s+(?:todas\s+)?(?:las\s+|le\s+)?(?:instrucciones|istruzioni)\s+(?:anteriores|previas|precedenti)",
        r"\bignore[rz]?\s+(?:toutes\s+)?les\s+(?:instructions|consignes)\s+(?:pr[ée]c[ée]dentes|ant[ée]rieures)",
        r"\bignorier\w*\s+(?:alle\s+)?(?:vorherigen|bisherigen|fr[üu]heren)\s+(?:anweisungen|instruktionen)",
        r"\bignor[ea]\w*\s+(?:todas\s+)?as\s+instru[çc][õo]es\s+anteriores",
        r"\bnegeer\s+(?:alle\s+)?(?:eerdere|vorige)\s+(?:instructies|aanwijzingen)",
        r"(?:игнорируй|забудь|проигнорируй)\s+(?:все\s+)?(?:предыдущие\s+|прежние\s+)?(?:инструкции|указания)",
        r"(?:忽略|无视|忽视)(?:之前|以上|先前|所有|前面)",
        r"(?:以前|前|これまで)の指示を(?:すべて)?無視",
        r"(?:이전|모든|앞의)\s*(?:지시|지침|명령)\S*\s*무시",
        r"تجاهل\s+(?:جميع\s+)?التعليمات",
        r"(?:पिछले|पिछली|सभी)\s+निर्देश\S*\s+(?:को\s+)?(?:अनदेखा|नज़रअंदाज़|नजरअंदाज)",
        r"(?:^|[^\w])(?:önceki|tüm)\s+talimatlar\w*\s+(?:yok\s+say|görmezden\s+gel|unut)",
        r"\bzignoruj\s+(?:wszystkie\s+)?(?:poprzednie\s+)?(?:instrukcje|polecenia)",
    )
)

_CONCEAL = "|".join(
    (
        r"\bno\s+(?:se\s+lo\s+|le\s+|lo\s+)?(?:digas|menciones|informes|comuniques)\b",
        r"\bsin\s+(?:decirle|informar|avisar)\w*\s+al\s+usuario",
        r"\bne\s+(?:le\s+|lui\s+)?(?:dis|dites|mentionne[sz]?|signale[sz]?|r[ée]v[ée]le[sz]?)\s+(?:rien|pas|jamais)",
        r"\bsans\s+(?:le\s+)?(?:dire|pr[ée]venir|informer)\b",
        r"\b(?:erw[äa]hne|sage|verrate|teile|zeige)\s+(?:dies|das|es)?\s*(?:dem\s+(?:benutzer|nutzer)\s+)?(?:nicht|niemals)",
        r"\bohne\s+(?:es\s+)?(?:dem\s+)?(?:benutzer|nutzer)\w*\s+(?:zu\s+)?(?:sagen|informieren|mitzuteilen)",
        r"\bnon\s+(?:dirlo|dire|menzionar\w*|informar\w*|rivelar\w*)\b",
        r"\bsenza\s+(?:dirlo|informare|avvisare)\b",
        r"\bn[ãa]o\s+(?:conte|diga|mencione|informe|revele)\b",
        r"\bsem\s+(?:contar|dizer|informar|avisar)\s+ao\s+(?:usu[áa]rio|utilizador)",
        r"\b(?:vertel|zeg|meld)\s+(?:de\s+gebruiker\s+)?(?:dit\s+|het\s+|hier\s+|daar\s+)?(?:niet|niets|niks)\b|\bzonder\s+(?:het\s+)?de\s+gebruiker\s+te\s+(?:vertellen|informeren)",
        r"(?:^|[^\w])н\u0435\s+(?:сообщай|говори|рассказывай|упоминай|показывай)\w*",
        r"不要(?:告诉|告知|通知|提醒|让)(?:用户|使用者)|(?:切勿|不要|勿|不得)(?:提及|透露|提到)|对用户保密",
        r"ユーザー(?:に|には)\S{0,6}(?:伝え|知らせ|言わ|教え|見せ)ない|(?:言及|報告|通知)しない",
        r"사용자에게\s*(?:알리지|말하지|언급하지|보여주지)\s*(?:마|말)",
        r"لا\s+(?:تخبر|تذكر|تعلم)|دون\s+(?:إخبار|علم)\s+المستخدم",
        r"(?:उपयोगकर्ता|यूज़र)\s+को\s+(?:न|मत)\s+(?:बताएं|बताएँ|बताना|बताओ)|(?:न|मत)\s+बताएं",
        r"\bkullan\u0131c\u0131ya\s+(?:söyleme|bahsetme|bildirme)|\bbundan\s+bahsetme",
        r"\bnie\s+(?:mów|informuj|wspominaj|ujawniaj)\w*",
    )
)

_TO_PARAM = "|".join(
    (
        r"\b(?:en|dans)\s+(?:el\s+|le\s+|o\s+)?(?:campo|champ|par[áa]metro|param[èe]tre|argumento|argument)\b",
        r"\b(?:im|in\s+(?:das|dem))\s+(?:feld|parameter|argument)\b",
        r"\bnel\s+(?:campo|parametro)\b|\bno\s+(?:campo|par[âa]metro)\b|\bin\s+het\s+(?:veld|parameter)\b",
        r"в\s+(?:параметр|поле|аргумент)\w*",
        r"(?:放入|填入|传入|加入|附加到|写入|包含在)\S{0,12}(?:参数|字段)|(?:参数|字段)\S{0,3}中",
        r"(?:パラメータ|引数|フィールド)\S{0,4}(?:に|へ)",
        r"(?:매개변수|파라미터|필드|인수)\S{0,2}에",
        r"في\s+(?:الحقل|المعامل|الوسيطة)",
        r"(?:पैरामीटर|फ़ील्ड|फील्ड)\s+में",
        r"\b\w+\s+(?:parametresine|alan\u0131na)\b",
        r"\bw\s+(?:parametrze|polu)\b",
    )
)

PRIVATE = "|".join(
    (
        r"\bhistorial\s+de\s+(?:la\s+)?conversaci[óo]n|\bhistorique\s+de\s+(?:la\s+)?conversation",
        r"\b(?:gespr[äa]chsverlauf|chatverlauf|zugangsdaten|passw[öo]rter)\b",
        r"\bcronologia\s+(?:della\s+)?(?:conversazione|chat)|\bhist[óo]rico\s+d[ao]\s+conversa",
        r"\b(?:credenciales|contraseñas|identifiants|mots\s+de\s+passe|credenziali|credenciais|senhas)\b",
        r"\b(?:gespreks|chat)geschiedenis\b|\b(?:inloggegevens|wachtwoorden)\b",
        r"истори\w+\s+(?:переписки|диалога|разговора|чата)|парол\w+|учётн\w+\s+данн\w+|учетн\w+\s+данн\w+",
        r"对话记录|聊天记录|凭证|凭据|密码|系统提示",
        r"会話履歴|認証情報|パスワード|システムプロンプト",
        r"대화\s*기록|자격\s*증명|비밀번호|시스템\s*프롬프트",
        r"سجل\s+المحادثة|كلمات\s+المرور|بيانات\s+الاعتماد",
        r"बातचीत\s+का\s+इतिहास|पासवर्ड|क्रेडेंशियल",
        r"\b(?:konuşma|sohbet)\s+geçmişi|(?:^|[^\w])(?:şifreler|parolalar|kimlik\s+bilgileri)",
        r"\bhistori\w*\s+rozmowy|\bhasła\b|\bdane\s+logowania",
    )
)

_IMPORTANT = (
    r"(?:^|\n|\s)(?:importante|important|wichtig|belangrijk|важно|重要|중요|مهم|महत्वपूर्ण|önemli\u0307?|ważne)"
    r"\s*[:\uff1a!]"
)

# Gates: distinctive words of each phrase in every covered language (never English-only words).
_OVERRIDE_GATES = (
    "instruc,istruz,anweisung,instruktion,instruç,instruc,instructies,aanwijzing,инструкц,указан,指令,指示,说明,지시,지침"
    ",명령,التعليمات,निर्देश,talimat,polecen"
)
_CONCEAL_GATES = (
    "digas,menciones,informes,comuniques,decirle,dis rien,dites,dis pas,mentionne,signale,sans ,erwähne"
    ",erwahne, sage , verrate , teile , zeige ,ohne ,dirlo,non dire,menzion,senza,não,nao ,sem ,vertel,zeg "
    ",meld ,zonder,н\u0435 "
    ",告诉,告知,通知,提醒,提及,透露,提到,保密,ない,알리지,말하지,언급하지,보여주지,تخبر,تذكر,تعلم,إخبار,دون,बताएं,बताएँ"
    ",बताना,बताओ,söyleme,bahsetme,bildirme, nie "
)
_PARAM_GATES = (
    "campo,champ,parámetro,paramètre,argumento,feld,veld,параметр,поле,аргумент,参数,字段,パラメータ,引数,フィールド"
    ",매개변수,파라미터,필드,인수,الحقل,المعامل,الوسيطة,पैरामीटर,फ़ील्ड,फील्ड,parametres,alan\u0131na"
    ",parametrze,polu"
    ",im parameter,im argument,in het parameter"
)
_PRIVATE_GATES = (
    "historial,historique,verlauf,zugangsdaten,passwört,passwort,cronologia,histórico,historico,credencia,contraseñ"
    ",identifiants,mots de passe,credenziali,senhas,geschiedenis,inloggegevens,wachtwoord,истори"
    ",парол,учётн"
    ",учетн,对话,聊天,凭证,凭据,密码,系统提示,会話,認証,パスワード,システムプロンプト,대화,자격,비밀번호,시스템,سجل"
    ",كلمات المرور,بيانات الاعتماد,बातचीत,पासवर्ड,क्रेडेंशियल,geçmiş,şifre,parola,kimlik,histori,hasła,logowania"
)
_IMPORTANT_GATES = "importante,important,wichtig,belangrijk,важно,重要,중요,مهم,महत्वपूर्ण,önemli,ważne"

MULTILINGUAL: tuple[Signal, ...] = (
    signal(
        "override:multilingual:strong:3",
        _OVERRIDE_GATES,
        _OVERRIDE,
        "tells the model to override its previous instructions",
        on="plain",
    ),
    signal(
        "conceal:multilingual:intent:2",
        _CONCEAL_GATES,
        _CONCEAL,
        "tells the model to hide what it does from the user",
        on="plain",
    ),
    signal(
        "exfil_param:multilingual:intent:1",
        _PARAM_GATES,
        _TO_PARAM,
        "asks the model to put data into a tool argument",
        on="plain",
    ),
    signal(
        "private:multilingual:target:2",
        _PRIVATE_GATES,
        PRIVATE,
        "names conversation data or secrets",
        on="plain",
    ),
    signal(
        "important:multilingual:context:1",
        _IMPORTANT_GATES,
        _IMPORTANT,
        "shouts IMPORTANT",
        on="plain",
    ),
)
