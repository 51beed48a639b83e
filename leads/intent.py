"""Rule-based buying intent, sentiment, follow-up intent and opt-out detection for German and English DMs.

Leads owns it: the Instagram webhook handler reads every DM with it, follow-ups read replies
(``followups.selectors.should``). ``analyse`` is deterministic and offline on purpose: it runs on
every Instagram message inside the webhook task, and its output (level, score, sentiment, cue words)
must be explainable to a partner. Cues are matched at word starts on a folded text (lower case,
``ß`` → ``ss``, umlauts as ae/oe/ue, so "möchte" and "moechte" match alike), so
"Besichtigungstermin" hits "besichtigung" and "Preise" hits "preis". Measured on
``tests/leads/data/intent_labelled.jsonl`` (``tests/leads/test_intent_labelled.py``).

``classify`` adds the LLM provider's judgement when one is configured; an offline opt-out always
stands (recall first: nobody who said stop is written to because a model thought otherwise).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field

import phonenumbers
import requests

from core.exceptions import TransientError
from core.pii import scrub_pii
from integrations.llm import client as llm_client

logger = logging.getLogger(__name__)


def normalize(text: str) -> str:
    """Lower-case, unify apostrophes and whitespace; keep umlauts (the cue lists use them)."""
    text = text.replace("’", "'").replace("ß", "ss").lower()
    return re.sub(r"\s+", " ", text).strip()


_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def fold(text: str) -> str:
    """``normalize`` with umlauts spelled out: "möchte" and "moechte" read the same (keyboards without umlauts)."""
    return normalize(text).translate(_FOLD)


#: Buying signals by category, German and English. Multi-word cues are matched as phrases.
SIGNALS: dict[str, tuple[str, ...]] = {
    "viewing": (
        "*besichtig",
        "termin",
        "anschauen",
        "ansehen",
        "vorbeikommen",
        "vor ort",
        "rundgang",
        "viewing",
        "view the",
        "visit$",
        "visiting$",
        "see the apartment",
        "see the flat",
        "see the property",
        "see it in person",
        "tour$",
        "tours$",
        "appointment",
        "schedule a",
        "book a",
        "call me",
        "ruf mich an",
        "rufen sie mich an",
        "anrufen",
        "rückruf",
        "call back",
        "callback",
        "a call$",
        "phone call",
        "telefonat",
        "telefonier",
        "on the phone",
        "beratungsgespräch",
        "meeting",
    ),
    "financing": (
        "*finanzier",
        "*kredit",
        "darlehen",
        "eigenkapital",
        "zinsen",
        "zinssatz",
        "rate$",
        "monatliche rate",
        "tilgung",
        "kfw",
        "financing",
        "finance",
        "mortgage",
        "loan",
        "down payment",
        "deposit",
        "interest rate",
        "monthly payment",
        "equity",
    ),
    "price": (
        "*preis",
        "*kosten",
        "kostet",
        "wie teuer",
        "was kostet",
        "wieviel",
        "wie viel",
        "*rendite",
        "miete",
        "mieteinnahm",
        "provision",
        "price",
        "pricing",
        "cost",
        "how much",
        "rent$",
        "rental",
        "yield",
        "return on",
        "fees",
    ),
    "timeline": (
        "sofort",
        "zeitnah",
        "so schnell wie möglich",
        "schnellstmöglich",
        "diese woche",
        "nächste woche",
        "diesen monat",
        "nächsten monat",
        "bis ende",
        "noch dieses jahr",
        "morgen",
        "heute$",
        "asap",
        "as soon as possible",
        "this week",
        "next week",
        "this month",
        "next month",
        "this year",
        "tomorrow",
        "today$",
        "soon$",
        "when$",
        "wann$",
        "when can",
        "when could",
    ),
    "purchase": (
        "kaufen",
        "kauf$",
        "erwerben",
        "investieren",
        "anlegen",
        "kapitalanlage",
        "reservier",
        "zuschlagen",
        "buy",
        "purchase",
        "invest",
        "reserve",
        "make an offer",
        "angebot machen",
    ),
    "interest": (
        "interesse",
        "interessiert",
        "interessiere",
        "interessant",
        "grundriss",
        "floor plan",
        "info",
        "details",
        "exposé",
        "expose",
        "unterlagen",
        "verfügbar",
        "noch frei",
        "noch zu haben",
        "mehr erfahren",
        "interested",
        "interesting",
        "more information",
        "brochure",
        "available",
        "still for sale",
        "tell me more",
        "learn more",
        "send me",
        "schick mir",
        "schicken sie mir",
        "zusenden",
    ),
}
SIGNAL_WEIGHTS = {
    "viewing": 40,
    "financing": 35,
    "purchase": 35,
    "price": 25,
    "timeline": 15,
    "interest": 20,
    "contact": 35,
}
#: Categories that alone mean a concrete next step (high intent).
STRONG_SIGNALS = frozenset({"viewing", "financing", "purchase", "contact"})

#: Opt-out cues. Texts are matched folded (lower case, ``ß`` → ``ss``, umlauts as ae/oe/ue), so
#: "möchte" and "moechte" are the same. Recall comes first: a partner who writes to someone who said
#: stop breaks the law (UWG § 7) and loses the person; writing to no one by mistake costs a reply.
#:
#: Explicit stop requests: they always win, whatever else the message says ("Ich will nichts kaufen.
#: Lasst mich in Ruhe."), unless the cue itself is negated ("Bitte nicht abmelden", "no need to unsubscribe").
OPT_OUT_PHRASES: tuple[str, ...] = (
    "nicht kontaktieren",
    "keine werbung",
    "lasst mich in ruhe",
    "lass mich in ruhe",
    "lassen sie mich in ruhe",
    "in ruhe lassen",
    "abmelden",
    "abzumelden",
    "abgemeldet werden",
    "austragen",
    "auszutragen",
    "ausgetragen werden",
    "unterlassen sie",
    "unterlasse",
    "verbitte mir",
    "verbitten uns",
    "ich widerspreche",
    "widerspruch gegen",
    "widerrufe",
    "kontaktaufnahme ein",
    "kontaktaufnahmen ein",
    "verschonen sie mich",
    "verschon mich",
    "belästigung",
    "nerv nicht",
    "nerven sie nicht",
    "nerven sie mich nicht",
    "nicht auf die nerven",
    "nichts mehr von euch",
    "nichts mehr von ihnen",
    "nichts mehr von dir",
    "unsubscribe",
    "opt me out",
    "opt out$",
    "opt-out",
    "remove me",
    "remove us",
    "take me off",
    "take us off",
    "lose my number",
    "leave me alone",
    "leave us alone",
    "no more messages",
    "no more emails",
    "no more texts",
    "no more calls",
    "don't want to hear from",
    "dont want to hear from",
    "do not want to hear from",
    "no longer wish to",
    "harassment",
    "harassing",
)
#: Cues that a negation before them turns around: "Bitte nicht abmelden", "I'm not unsubscribing".
NEGATABLE_OPT_OUTS = frozenset(
    {"abmelden", "abzumelden", "austragen", "auszutragen", "unsubscribe", "opt out", "opt-out"}
)
#: "No interest" without a stop request: an opt-out (the lead said no) unless it is temporary
#: ("Momentan kein Interesse, vielleicht nächstes Jahr") or followed by interest in something else
#: ("Kein Interesse an den Shakes, aber am Geschäftsmodell schon").
NO_INTEREST_PHRASES: tuple[str, ...] = (
    "kein interesse",
    "keinerlei interesse",
    "null interesse",
    "kein bock",
    "keinen bock",
    "nicht interessiert",
    "nicht mehr interessiert",
    "nicht wirklich interessiert",
    "not interested",
    "not really interested",
    "no interest",
    "no longer interested",
    "nein danke",
    "nicht mehr nötig",
    "nicht mehr notwendig",
    "schon was gefunden",
    "schon etwas gefunden",
    "no longer need",
    "already found",
    "no thanks$",
    "no thank you",
)
#: "Ich bin raus." / "I'm out." at the end of a clause ("I'm out of office" is something else).
OUT_RE = re.compile(r"(?<!\w)(?:ich bin (?:dann )?raus|i'm out|im out|count me out)\s*(?:[.!,]|$)")
_CONTACT_VERB = (
    r"(?:kontakt|anschreib|angeschrieben|anzuschreiben|schreib|geschrieben|anruf|angerufen|anzurufen|ruf|meld"
    r"|schick|send|belaestig|nerv|add|stoer|zumuell|zu schreiben|zu kontakt|zu melden)"
)
_STOP_MARKER = (
    r"(?:nicht (?:mehr|weiter|wieder|laenger|staendig|dauernd|andauernd|immer wieder|so oft|jeden tag)"
    r"|nie (?:wieder|mehr)|nimmer)"
)
_CONTACT_NOUN = r"(?:nachricht|mail|e-mail|email|werbung|angebot|info|anruf|sms|newsletter|kontakt|zuschrift|spam|dm)"
_LISTS = r"(?:\w*liste|verteiler|gruppe|newsletter|datenbank|kartei)"
#: Regular expressions for stop requests whose words vary: German word order, separable verbs, lists.
OPT_OUT_PATTERNS: dict[str, re.Pattern[str]] = {
    # "nicht mehr anschreiben", "nie wieder anrufen", "nicht weiter zu kontaktieren"
    "nicht mehr kontaktieren": re.compile(rf"(?<!\w){_STOP_MARKER}\s+(?:\w+\s+){{0,3}}?{_CONTACT_VERB}"),
    # verb first: "Schreib mir nie wieder", "Melden Sie sich nicht mehr bei mir", "Ruf mich nie wieder an"
    "nicht mehr schreiben": re.compile(rf"(?<!\w){_CONTACT_VERB}\w*\s+(?:[\w']+\s+){{0,4}}?{_STOP_MARKER}(?!\w)"),
    # "keine weiteren Nachrichten", "keinen weiteren Kontakt", "keine Angebote mehr"
    "keine nachrichten mehr": re.compile(
        rf"(?<!\w)kein\w*\s+(?:weitere\w*\s+(?:\w+\s+)?{_CONTACT_NOUN}|(?:\w+\s+)?{_CONTACT_NOUN}\w*\s+(?:\w+\s+){{0,3}}?mehr(?!\w))"
    ),
    # "Hört auf, mir zu schreiben", "Hören Sie bitte auf" (not "hör auf mein Bauchgefühl")
    "hört auf": re.compile(
        r"(?<!\w)(?:hoer|hoert|hoere|hoeren)\s+(?:sie\s+|ihr\s+|du\s+)?(?:(?:bitte|endlich|doch|jetzt|sofort|mal|einfach)\s+)*"
        r"auf(?!\w)(?!\s+(?:mein|meine|meinen|meinem|dein|deine|deinen|deinem|sein|seine|ihr|ihre|ihren|den|die|das|dem)\b)"
        r"|(?<!\w)aufhoer|aufzuhoer"
    ),
    # "Lasst mich bitte in Ruhe", "Lassen Sie mich endlich in Ruhe mit dem Zeug"
    "in ruhe lassen": re.compile(
        r"(?<!\w)(?:lass|lasst|lassen|lasse)\s+(?:sie\s+|ihr\s+)?(?:(?:bitte|endlich|doch|jetzt|einfach|gefaelligst)\s+)*"
        r"(?:mich|uns)\s+(?:(?:bitte|endlich|doch|jetzt|einfach|gefaelligst|damit)\s+)*in ruhe(?!\w)"
    ),
    # "melden Sie mich bitte ab", "tragen Sie mich aus allen Listen aus"
    "abmelden": re.compile(
        r"(?<!\w)(?:melde|meldet|melden|meld|trag|tragt|tragen)\s+(?:sie\s+)?(?:mich|uns)(?!\w)[^.!?]{0,40}?"
        r"(?<!\w)(?:ab|aus)\s*(?:[.!?]|$)"
    ),
    # "Ich will nicht mehr, dass du mir schreibst"
    "nicht mehr, dass du schreibst": re.compile(
        rf"(?<!\w){_STOP_MARKER},? dass (?:du|sie|ihr|man)\s+(?:\w+\s+){{0,3}}?{_CONTACT_VERB}"
    ),
    # "Ich möchte gelöscht werden", "Lösch mich aus deiner Liste"
    "gelöscht werden": re.compile(
        r"(?<!\w)(?:geloescht|gestrichen|entfernt|ausgetragen|abgemeldet|rausgenommen|herausgenommen) werden"
        r"|(?<!\w)loesch\w*\s+(?:sie\s+|du\s+)?(?:bitte\s+)?(?:mich|uns)(?!\w)"
    ),
    # "Sie haben mir schon fünfmal geschrieben, bitte nicht mehr!"
    "bitte nicht mehr": re.compile(r"(?<!\w)bitte nicht mehr\s*(?:[.!]|$)"),
    # "Warum schreibst du mir ständig? Lass das!"
    "lass das": re.compile(
        r"(?<!\w)(?:lass|lasst|lassen sie) (?:das|es)(?: (?:bitte|einfach|endlich|jetzt|sein))?\s*(?:[.!]|$)"
    ),
    # "Mir reicht's, ich blockier dich", "I'll block you"
    "blockieren": re.compile(
        r"(?<!\w)blockier\w*\s+(?:\w+\s+)?(?:dich|euch|sie)(?!\w)|(?<!\w)block (?:you|your number|this number)"
    ),
    # "streichen Sie mich aus Ihrer Liste", "Tu mich bitte von der Liste runter", "nimm mich aus der Gruppe raus"
    "von der liste streichen": re.compile(
        r"(?<!\w)(?:streich|entfern|nimm|nehm|tu|tun|loesch|schmeiss|werf)\w*\s+(?:sie\s+|du\s+)?(?:mich|uns)\s+"
        rf"(?:\w+\s+){{0,5}}?(?:{_LISTS}|raus|runter)(?!\w)"
        rf"|{_LISTS}\s+(?:\w+\s+)?(?:nehmen|streichen|entfernen|loeschen|austragen|rausnehmen|herausnehmen"
        r"|rauswerfen|rausschmeissen|raus|runter)(?!\w)"
    ),
    # "Löschen Sie meine Nummer", "Lösch meine Daten", "delete my number"
    "daten löschen": re.compile(
        r"(?<!\w)(?:loesch\w*|delete|erase|remove)\s+(?:sie\s+|du\s+)?(?:bitte\s+)?(?:meine|meinen|mein|my)\s+(?:\w+\s+)?"
        r"(?:daten|nummer|telefonnummer|handynummer|kontakt\w*|adresse|e-mail\w*|email\w*|data|number|details|info\w*)"
    ),
    # "Ich ziehe meine Einwilligung zurück", "von weiteren Nachrichten absehen"
    "einwilligung widerrufen": re.compile(
        r"(?<!\w)einwilligung\w*\s+(?:\w+\s+)?zurueck|(?<!\w)von weiteren \w+\s+(?:abzusehen|ab)(?!\w)"
    ),
    # "stop contacting", "quit messaging me", "cease all further communication", "stop reaching out"
    "stop contacting": re.compile(
        r"(?<!\w)(?:stop|stopp|quit|cease)\s+(?:\w+\s+){0,2}?(?:contact|messag|text|writ|email|e-mail|call|send|bother"
        r"|spam|reach|harass|add|dm|ping|pester|follow|communicat)"
    ),
    # "don't call me again", "never contact me again", "please don't follow up", "do not text this number"
    "do not contact": re.compile(
        r"(?<!\w)(?:don't|dont|do not|never)\s+(?:ever\s+)?(?:contact|message|text|call|email|e-mail|write|dm|reach out"
        r"|follow up|send me|bother|ping)"
    ),
}
#: Literal pieces each pattern needs: a text without any of them skips the (slower) pattern.
_OPT_OUT_NEEDLES: dict[str, tuple[str, ...]] = {
    "nicht mehr kontaktieren": ("nicht ", "nie ", "nimmer"),
    "nicht mehr schreiben": ("nicht ", "nie ", "nimmer"),
    "keine nachrichten mehr": ("kein",),
    "hört auf": ("hoer",),
    "in ruhe lassen": ("in ruhe",),
    "abmelden": ("meld", "trag"),
    "nicht mehr, dass du schreibst": ("dass",),
    "gelöscht werden": ("werden", "loesch"),
    "bitte nicht mehr": ("bitte nicht mehr",),
    "lass das": ("lass",),
    "blockieren": ("block",),
    "von der liste streichen": ("liste", "verteiler", "gruppe", "newsletter", "datenbank", "kartei", "raus", "runter"),
    "daten löschen": ("loesch", "delete", "erase", "remove"),
    "einwilligung widerrufen": ("einwilligung", "von weiteren"),
    "stop contacting": ("stop", "quit", "cease"),
    "do not contact": ("don't", "dont", "do not", "never"),
}
#: A stop request must not be one of these: thinking something over in peace, "vom Yogakurs abmelden".
OPT_OUT_EXCEPTIONS = re.compile(
    r"in ruhe (?:\w+\s+){0,3}?(?:nachdenk|drueber|darueber|ueberleg|anschau|anseh|besprech|entscheid|les|pruef)"
    r"|(?<!\w)vo(?:m|n der|n dem)\s+(?!newsletter|verteiler|\w*liste|nachricht|mailing|whatsapp|gruppe)\w+\s+abmelden"
)
#: "ich krieg keine Nachrichten mehr" reports a phone problem; "ich möchte keine Nachrichten mehr" is a request.
RECEIVE_VERBS = frozenset({"krieg", "kriege", "bekomm", "bekomme", "erhalte", "empfange", "kommen", "kommt"})
#: Words that make "no interest" temporary: the lead may be asked again later.
TEMPORARY = re.compile(
    r"(?<!\w)(?:momentan|derzeit|aktuell|zurzeit|zur zeit|gerade|grad|im moment|vorerst|vielleicht|spaeter|irgendwann"
    r"|naechstes jahr|at the moment|right now|currently|for now|atm|maybe|later|next year|someday)(?!\w)"
)
CONTRAST = re.compile(r"(?<!\w)(?:aber|sondern|jedoch|allerdings|but|however|though)(?!\w)")
#: Greetings whose words are also cues ("Guten Morgen" is not a timeline).
GREETINGS = re.compile(r"(?<!\w)(?:guten (?:morgen|tag|abend)|good (?:morning|afternoon|evening))(?!\w)")
#: A bare "stop" only counts in a short message ("STOP", "Stopp bitte"), not in "bus stop nearby?".
SHORT_STOP_WORDS = frozenset({"stop", "stopp", "stoppt"})
SHORT_MESSAGE_WORDS = 4

#: What the lead wants, beyond the buying signals above (network marketing and property replies).
#: The intent of a message is one of ``INTENTS``: ``interested`` (asks, agrees, wants the next step),
#: ``undecided`` (hesitates, objects, defers), ``small_talk`` (nothing about the offer), ``opt_out``.
INTENTS = ("interested", "undecided", "small_talk", "opt_out")
INTERESTED_CUES: tuple[str, ...] = (
    "klingt spannend",
    "klingt gut",
    "klingt interessant",
    "klingt super",
    "spannend",
    "erzähl",
    "erzählen sie",
    "mehr über",
    "wie funktioniert",
    "wie läuft das",
    "wie geht's weiter",
    "wie geht es weiter",
    "was muss ich tun",
    "nächste schritt",
    "bin dabei",
    "wär dabei",
    "wäre dabei",
    "überzeugt",
    "wann starten",
    "los geht",
    "das will ich",
    "will ich auch",
    "ja bitte",
    "ja gerne",
    "ja gern",
    "gerne würde ich",
    "würde mich freuen",
    "schick rüber",
    "weiter schick",
    "weiter bekomm",
    "weiterhin",
    "keep sending",
    "keep me posted",
    "keep me updated",
    "link",
    "präsentation",
    "zoom",
    "treffen",
    "webinar",
    "vergütungsplan",
    "verdien",
    "dazuverdien",
    "nebenbei",
    "nebeneinkommen",
    "partnerschaft",
    "partner werden",
    "starterpaket",
    "probierset",
    "probe",
    "bestellen",
    "registrier",
    "mitmachen",
    "gefällt mir",
    "telefonier",
    "sprechen",
    "hast du zeit",
    "haben sie zeit",
    "zeit für dein",
    "zeit für ihr",
    "*rückruf",
    "zurückruf",
    "ruf einfach an",
    "mich anrufst",
    "mich anrufen",
    "schreiben sie mir gern",
    "schreib mir gern",
    "nebenkosten",
    "sounds interesting",
    "sounds good",
    "sounds great",
    "tell me more",
    "next step",
    "i'm in$",
    "count me in",
    "sign me up",
    "sign up",
    "join",
    "commission",
    "opportunity",
    "starter kit",
    "samples",
    "let's talk",
    "hop on",
    "how does",
    "how do i",
    "yes please",
    "feel free to",
    "still interested",
    "exactly what i need",
    "they're great",
)
UNDECIDED_CUES: tuple[str, ...] = (
    "überleg",
    "nachdenk",
    "drüber nach",
    "darüber nach",
    "denk drüber",
    "weiss nicht",
    "weiß nicht",
    "keine ahnung",
    "nicht sicher",
    "unsicher",
    "vielleicht",
    "später",
    "irgendwann",
    "nicht jetzt",
    "gerade nicht",
    "passt es nicht",
    "passt gerade nicht",
    "keine zeit",
    "zu viel los",
    "zu teuer",
    "leisten",
    "skeptisch",
    "schneeball",
    "pyramiden",
    "mlm",
    "seriös",
    "zu schön",
    "besprechen",
    "mit meiner frau",
    "mit meinem mann",
    "abwarten",
    "warte lieber",
    "eher nicht",
    "eher nix",
    "nix für mich",
    "nichts für mich",
    "was für mich",
    "nicht überzeugt",
    "nicht so überzeugt",
    "schlechte erfahrung",
    "verkäufertyp",
    "kenne niemand",
    "prioritäten",
    "melde mich",
    "meld mich",
    "lass es dich wissen",
    "lasse es dich wissen",
    "lasse es sie wissen",
    "mal sehen",
    "mal schauen",
    "in ein paar",
    "in zwei wochen",
    "nach den ferien",
    "nächstes jahr",
    "im frühjahr",
    "im herbst",
    "im sommer",
    "im winter",
    "erst meine",
    "erst mit",
    "momentan",
    "think about",
    "think it over",
    "not sure",
    "don't know",
    "dont know",
    "maybe",
    "later",
    "not now",
    "not right now",
    "too expensive",
    "afford",
    "skeptical",
    "pyramid",
    "mlm$",
    "too good to be true",
    "talk to my",
    "get back to you",
    "let you know",
    "burned",
    "too busy",
    "busy this",
    "busy right now",
    "busy at the moment",
    "ping me",
    "next year",
    "in a few",
    "we'll see",
    "the time for",
)

POSITIVE_WORDS: tuple[str, ...] = (
    "super",
    "toll",
    "klasse",
    "prima",
    "perfekt",
    "schön",
    "wunderschön",
    "traum",
    "genial",
    "begeistert",
    "gefällt",
    "danke",
    "vielen dank",
    "gerne",
    "gern$",
    "mega$",
    "freue mich",
    "freuen uns",
    "hervorragend",
    "top$",
    "great",
    "awesome",
    "amazing",
    "love$",
    "loved$",
    "lovely",
    "beautiful",
    "perfect",
    "excellent",
    "fantastic",
    "wonderful",
    "thanks",
    "thank you",
    "happy",
    "excited",
    "nice$",
    "stunning",
    "gorgeous",
)
NEGATIVE_WORDS: tuple[str, ...] = (
    "schlecht",
    "schlimm",
    "enttäusch",
    "ärger",
    "nervig",
    "nervt",
    "unverschämt",
    "frechheit",
    "abzocke",
    "betrug",
    "spam",
    "zu teuer",
    "überteuert",
    "unseriös",
    "katastrophe",
    "mies",
    "wütend",
    "leider nicht",
    "beschwerde",
    "bad$",
    "terrible",
    "awful",
    "horrible",
    "disappoint",
    "annoy",
    "scam",
    "rip-off",
    "ripoff",
    "overpriced",
    "too expensive",
    "rude",
    "angry",
    "worst",
    "complain",
    "unfortunately",
    "useless",
    "ridiculous",
    "unacceptable",
)
NEGATORS = frozenset({"nicht", "kein", "keine", "not", "no", "never", "nie", "don't", "isn't", "wasn't"})
INTENSIFIERS = frozenset({"so", "sehr", "besonders", "wirklich", "ganz", "very", "really", "that", "too"})
POSITIVE_EMOJI = frozenset("😀😃😄😁😊😍🥰😘👍🙏❤💯🎉🤩☺🙂")
NEGATIVE_EMOJI = frozenset("😡😠🤬👎😤😒🙄😞😢")

_GERMAN_WORDS = "ich sie wir der die das und ist nicht wie was wann bitte danke gerne hallo guten mit für eine ein auf"
_ENGLISH_WORDS = "i you we the and is not how what when please thanks hello hi with for a an on"
#: Frequent function words, to tell German from English (stored with the analysis).
GERMAN_HINTS = frozenset(fold(_GERMAN_WORDS).split())
ENGLISH_HINTS = frozenset(_ENGLISH_WORDS.split())

#: Bounded parts (RFC 5321: 64 for the local part, 63 per label): linear time on a long run of letters.
EMAIL_RE = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z])"
)
WORD_RE = re.compile(r"[\w'’]+", re.UNICODE)


def _cue_pattern(cue: str) -> re.Pattern[str]:
    """Match ``cue`` at a word start; ``top$`` also demands the word end, ``*preis`` may sit inside a word.

    The ``*`` form is for German compounds: "Kaufpreis", "Mietrendite", "Baufinanzierung".
    """
    inside, whole = cue.startswith("*"), cue.endswith("$")
    body = fold(cue.strip("*$"))
    pattern = re.compile(("" if inside else r"(?<!\w)") + re.escape(body) + (r"(?!\w)" if whole else ""))
    _LITERAL[pattern] = body
    return pattern


#: The literal text each cue pattern needs: ``literal in text`` is a cheap test before the regular expression.
_LITERAL: dict[re.Pattern[str], str] = {}


def _found(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    return pattern.search(text) if _LITERAL[pattern] in text else None


def _cue_name(cue: str) -> str:
    return cue.strip("*$")


_PATTERNS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    category: [(_cue_name(cue), _cue_pattern(cue)) for cue in cues] for category, cues in SIGNALS.items()
}
_OPT_OUT = [(_cue_name(p), _cue_pattern(p)) for p in OPT_OUT_PHRASES]
_NO_INTEREST = [(_cue_name(p), _cue_pattern(p)) for p in NO_INTEREST_PHRASES]
_INTERESTED = [(_cue_name(c), _cue_pattern(c)) for c in INTERESTED_CUES]
_UNDECIDED = [(_cue_name(c), _cue_pattern(c)) for c in UNDECIDED_CUES]
_POSITIVE = [(_cue_name(w), _cue_pattern(w)) for w in POSITIVE_WORDS]
_NEGATIVE = [(_cue_name(w), _cue_pattern(w)) for w in NEGATIVE_WORDS]
#: Amounts such as "300.000 €", "250k", "1.200 EUR": budget or price talk.
MONEY_RE = re.compile(r"\d[\d.,]*\s?(?:€|eur\b|euro\b|k\b|tsd\b|mio\b)")


#: Raised when the rules change what they find; a stored analysis of an older version is read again
#: (``followups.selectors.should``), a current one is trusted.
ANALYSER_VERSION = 2


@dataclass
class IntentAnalysis:
    level: str = "none"
    score: int = 0
    sentiment: str = "neutral"
    opt_out: bool = False
    language: str = "unknown"
    interest_type: str = ""
    signals: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    #: One of ``INTENTS``: what a follow-up should make of the message.
    intent: str = "small_talk"
    #: Who decided the intent: ``offline`` (these rules) or ``llm`` (``classify``).
    analyser: str = "offline"
    version: int = ANALYSER_VERSION

    def as_dict(self) -> dict:
        return asdict(self)


def find_emails(text: str) -> list[str]:
    if "@" not in (text or ""):
        return []
    return list(dict.fromkeys(m.group(0).strip(".").lower() for m in EMAIL_RE.finditer(text)))


def find_phones(text: str, region: str = "DE") -> list[str]:
    """Return valid phone numbers in the text as E.164 (German numbers without a country code too)."""
    found = []
    for match in phonenumbers.PhoneNumberMatcher(text or "", region, leniency=phonenumbers.Leniency.VALID):
        found.append(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
    return list(dict.fromkeys(found))


def _language(words: list[str]) -> str:
    de = sum(w in GERMAN_HINTS for w in words)
    en = sum(w in ENGLISH_HINTS for w in words)
    if de == en == 0:
        return "unknown"
    return "de" if de >= en else "en"


def _negated(text: str, start: int) -> bool:
    """True for "nicht gut", "not great", "nicht so toll", "not very nice" (not for "no problem, thanks")."""
    before = WORD_RE.findall(text[:start])[-2:]
    if before and before[-1] in NEGATORS:
        return True
    return len(before) == 2 and before[0] in NEGATORS and before[1] in INTENSIFIERS


def _sentiment(text: str, opt_out: bool) -> tuple[str, list[str]]:
    if opt_out:
        return "negative", []
    score, cues = 0, []
    for word, pattern in _POSITIVE:
        for match in pattern.finditer(text) if _LITERAL[pattern] in text else ():
            score += -1 if _negated(text, match.start()) else 1
            cues.append(word)
    for word, pattern in _NEGATIVE:
        for match in pattern.finditer(text) if _LITERAL[pattern] in text else ():
            score += 1 if _negated(text, match.start()) else -1
            cues.append(word)
    score += sum(ch in POSITIVE_EMOJI for ch in text) - sum(ch in NEGATIVE_EMOJI for ch in text)
    if score > 0:
        return "positive", cues
    if score < 0:
        return "negative", cues
    return "neutral", cues


def _clause_before(text: str, start: int) -> list[str]:
    """The words before ``start`` in the same clause (a negation only reaches that far)."""
    return WORD_RE.findall(re.split(r"[.,;:!?–—]", text[:start])[-1])


def _hits(text: str, patterns: list[tuple[str, re.Pattern[str]]]) -> list[str]:
    return [cue for cue, pattern in patterns if _found(pattern, text)]


def _signals(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for category, patterns in _PATTERNS.items():
        for cue, pattern in patterns:
            match = _found(pattern, text)
            if match and not (category == "interest" and _negated(text, match.start())):
                found.setdefault(category, []).append(cue)
    return found


def _stop_requests(norm: str, words: list[str]) -> list[str]:
    """Explicit "do not contact me" cues in a folded text; negated or excepted ones are left out."""
    if OPT_OUT_EXCEPTIONS.search(norm):
        norm = OPT_OUT_EXCEPTIONS.sub(" ", norm)
    cues = []
    for phrase, pattern in _OPT_OUT:
        for match in pattern.finditer(norm) if _LITERAL[pattern] in norm else ():
            before = _clause_before(norm, match.start())[-3:]
            if phrase in NEGATABLE_OPT_OUTS and NEGATORS & set(before):
                continue
            cues.append(phrase)
            break
    for name, pattern in OPT_OUT_PATTERNS.items():
        if not any(needle in norm for needle in _OPT_OUT_NEEDLES[name]):
            continue
        for match in pattern.finditer(norm):
            if name == "keine nachrichten mehr" and set(_clause_before(norm, match.start())[-1:]) & RECEIVE_VERBS:
                continue  # "ich krieg keine Nachrichten mehr" (a phone problem)
            cues.append(name)
            break
    if not cues and words and len(words) <= SHORT_MESSAGE_WORDS:
        for index, word in enumerate(words):
            following = words[index + 1] if index + 1 < len(words) else ""
            if word in SHORT_STOP_WORDS and following not in ("by", "at", "over", "in"):
                cues.append(word)
                break
    return list(dict.fromkeys(cues))


def _no_interest(norm: str) -> list[str]:
    """ "Kein Interesse" cues that stand: not temporary, not followed by interest in something else."""
    cues = []
    for phrase, pattern in _NO_INTEREST:
        match = _found(pattern, norm)
        if match is None or TEMPORARY.search(norm):
            continue
        contrast = CONTRAST.search(norm, match.end())
        if contrast:
            rest = norm[contrast.end() :]
            if _signals(rest) or _hits(rest, _INTERESTED):
                continue
        cues.append(phrase)
    if OUT_RE.search(norm) and not TEMPORARY.search(norm):
        cues.append("bin raus")
    return cues


def _intent(norm: str, signals: dict[str, list[str]]) -> str:
    """``interested``, ``undecided`` or ``small_talk`` for a message that is no opt-out.

    After a contrast ("Klingt gut, aber ich habe gerade keine Zeit") the last part decides; a
    hesitation outweighs interest ("Das schaue ich mir in Ruhe an, ich melde mich").
    """
    segment = norm
    parts = CONTRAST.split(norm)
    if len(parts) > 1:
        last_signals = _signals(parts[-1])
        if last_signals or _hits(parts[-1], _UNDECIDED) or _hits(parts[-1], _INTERESTED):
            segment, signals = parts[-1], last_signals
    if _hits(segment, _UNDECIDED) or _no_interest_temporary(segment):
        return "undecided"
    # A time alone ("this week", "morgen") is no interest: "I'm on holiday this week".
    if _hits(segment, _INTERESTED) or set(signals) - {"timeline"}:
        return "interested"
    return "small_talk"


def _no_interest_temporary(norm: str) -> bool:
    return bool(TEMPORARY.search(norm)) and any(_found(pattern, norm) for _phrase, pattern in _NO_INTEREST)


def opt_out_cues(text: str) -> list[str]:
    """The cues that make ``text`` an opt-out (empty: none): ``analyse``'s opt-out verdict alone, cheaper,
    for scanning every reply of many leads (``followups.selectors.should``)."""
    norm = GREETINGS.sub(" ", fold(text or "")).strip()
    return _stop_requests(norm, WORD_RE.findall(norm)) + _no_interest(norm) if norm else []


def analyse(text: str) -> IntentAnalysis:
    """Detect buying intent (price, viewing, financing, timeline, purchase), opt-out, sentiment and the
    follow-up intent (``INTENTS``)."""
    norm = GREETINGS.sub(" ", fold(text or "")).strip()
    words = WORD_RE.findall(norm)
    result = IntentAnalysis(language=_language(words))
    if not norm:
        return result

    signals = _signals(norm)
    if MONEY_RE.search(norm):
        signals.setdefault("price", []).append("amount")
    if find_emails(text) or find_phones(text):
        signals["contact"] = ["contact details"]

    # A stop request wins over everything else in the message (recall first); "no interest" loses
    # to interest in something else ("Kein Interesse an der 2-Zimmer-Wohnung, aber wann kann ich die
    # 3-Zimmer besichtigen?") and to "for now".
    stop_cues = _stop_requests(norm, words) + _no_interest(norm)
    strong = STRONG_SIGNALS & set(signals)
    result.opt_out = bool(stop_cues)
    result.sentiment, sentiment_cues = _sentiment(norm, result.opt_out)

    if result.opt_out:
        result.keywords = stop_cues
        result.intent = "opt_out"
        return result

    score = min(100, sum(SIGNAL_WEIGHTS[c] for c in signals))
    if strong or ("price" in signals and "timeline" in signals):
        level = "high"
    elif signals.keys() & {"price", "interest", "timeline"}:
        level = "medium" if score >= 20 else "low"
    else:
        level = "none"
    if level == "medium" and set(signals) == {"timeline"}:
        # "wann?" alone is a question, not yet intent.
        level = "low"
    if level != "none" and result.sentiment == "negative" and not strong:
        level = "low"
    result.level = level
    result.score = score if level != "none" else 0
    result.signals = sorted(signals)
    result.keywords = list(dict.fromkeys(cue for cues in signals.values() for cue in cues)) + sentiment_cues
    result.intent = _intent(norm, signals)
    if "financing" in signals:
        result.interest_type = "finance"
    elif signals.keys() & {"viewing", "purchase", "price"}:
        result.interest_type = "buy"
    return result


#: The classification prompt; the message goes in scrubbed of contact data (``core.pii.scrub_pii``).
LLM_PROMPT = (
    "You classify a reply that a lead sent to a sales partner in the German-speaking market (German or "
    "English, possibly with typos, dialect or emojis). Answer only with JSON: "
    '{{"intent": "interested" | "undecided" | "small_talk" | "opt_out", "opt_out": true | false}}. '
    "opt_out is true when the person asks not to be contacted any more, in any wording (polite, angry, "
    'indirect) or says they have no interest at all; it is false for negations such as "Stoppen Sie nicht" '
    'or "kein Problem, schreiben Sie mir gern". interested: asks about the offer, agrees, wants a next step. '
    "undecided: hesitates, objects, defers. small_talk: nothing about the offer.\n\nReply:\n<<<{text}>>>"
)
LLM_TEXT_LIMIT = 2000


def parse_llm_verdict(answer: str) -> tuple[str, bool]:
    """``(intent, opt_out)`` from the LLM's JSON answer (code fences tolerated); ValueError when unusable."""
    data = json.loads(re.sub(r"^```(?:json)?\s*|\s*```$", "", answer.strip()))
    if not isinstance(data, dict) or data.get("intent") not in INTENTS:
        raise ValueError("the answer names no known intent")
    opt_out = data.get("opt_out", data["intent"] == "opt_out")
    if not isinstance(opt_out, bool):
        raise ValueError("opt_out must be true or false")
    return data["intent"], opt_out or data["intent"] == "opt_out"


def classify(text: str) -> IntentAnalysis:
    """``analyse``, with the intent and opt-out verdict of the LLM provider when one is configured.

    An offline opt-out is final (the LLM is not asked); the LLM may add an opt-out the rules missed
    ("Wir passen nicht zusammen, alles Gute"). No contact data leaves: the text is scrubbed first,
    and the log keeps the scrubbed prompt and answer. Any failure falls back to the offline result.
    """
    result = analyse(text)
    if result.opt_out or not (text or "").strip() or not llm_client.configured():
        return result
    prompt = LLM_PROMPT.format(text=scrub_pii(text[:LLM_TEXT_LIMIT]))
    try:
        answer = llm_client.complete(prompt)
        intent, opt_out = parse_llm_verdict(answer)
    except (TransientError, ValueError, requests.RequestException) as exc:
        logger.warning(
            "LLM intent classification failed, using the offline analyser", extra={"error": type(exc).__name__}
        )
        return result
    logger.info("LLM intent classification", extra={"prompt": prompt, "answer": scrub_pii(answer)[:500]})
    if opt_out:
        return IntentAnalysis(
            sentiment="negative",
            opt_out=True,
            language=result.language,
            keywords=["llm"],
            intent="opt_out",
            analyser="llm",
        )
    result.intent, result.analyser = intent, "llm"
    return result
