"""Rule-based buying intent, sentiment and opt-out detection for German and English DMs.

Leads owns it: the Instagram webhook handler reads every DM with it, follow-ups will read replies.
Deterministic and offline on purpose: it runs on every Instagram message inside the webhook task,
and its output (level, score, sentiment, cue words) must be explainable to a partner. Cues are
matched at word starts on a normalized text (lower case, umlauts kept, ``ß`` → ``ss``), so
"Besichtigungstermin" hits "besichtigung" and "Preise" hits "preis".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import phonenumbers

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

#: Phrases that mean "do not contact me" (→ opt-out) or "no interest".
OPT_OUT_PHRASES: tuple[str, ...] = (
    "nicht mehr kontaktieren",
    "nicht mehr anschreiben",
    "nicht mehr schreiben",
    "nicht mehr anrufen",
    "nicht kontaktieren",
    "keine nachrichten mehr",
    "keine werbung",
    "hör auf",
    "hört auf",
    "lasst mich in ruhe",
    "in ruhe lassen",
    "hören sie auf",
    "lass mich in ruhe",
    "lassen sie mich in ruhe",
    "abmelden",
    "austragen",
    "löschen sie meine daten",
    "lösch meine daten",
    "kein interesse",
    "keinerlei interesse",
    "nicht interessiert",
    "nicht mehr interessiert",
    "do not contact",
    "don't contact",
    "dont contact",
    "stop contacting",
    "stop messaging",
    "stop writing",
    "stop texting",
    "stop sending",
    "stop emailing",
    "stop calling",
    "stop bothering",
    "stop spamming",
    "leave me alone",
    "unsubscribe",
    "remove me",
    "delete my data",
    "no more messages",
    "not interested",
    "no interest",
    "no longer interested",
)
#: German separable verbs: "melden Sie mich bitte ab", "tragen Sie mich aus".
SEPARABLE_OPT_OUT = re.compile(
    r"(?<!\w)(?:melde|meldet|melden|trag|tragt|tragen)\s+(?:sie\s+)?(?:mich|uns)(?!\w)[^.!?]{0,40}?"
    r"(?<!\w)(?:ab|aus)\s*(?:[.!?]|$)"
)
#: German verb-first word order: "Schreiben Sie mir nicht mehr", "Kontaktieren Sie mich bitte nicht mehr".
VERB_FIRST_OPT_OUT = re.compile(
    r"(?<!\w)(?:schreib|kontaktier|ruf|schick|send|belästig|nerv)\w*\s+(?:sie\s+|du\s+|ihr\s+)?(?:mir|mich|uns)(?!\w)"
    r"[^.,;!?]{0,30}?(?<!\w)nicht\s+mehr(?!\w)"
)
#: Greetings whose words are also cues ("Guten Morgen" is not a timeline).
GREETINGS = re.compile(r"(?<!\w)(?:guten (?:morgen|tag|abend)|good (?:morning|afternoon|evening))(?!\w)")
#: A bare "stop" only counts in a short message ("STOP", "Stopp bitte"), not in "bus stop nearby?".
SHORT_STOP_WORDS = frozenset({"stop", "stopp"})
SHORT_MESSAGE_WORDS = 4

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
GERMAN_HINTS = frozenset(_GERMAN_WORDS.split())
ENGLISH_HINTS = frozenset(_ENGLISH_WORDS.split())

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
WORD_RE = re.compile(r"[\w'’]+", re.UNICODE)


def normalize(text: str) -> str:
    """Lower-case, unify apostrophes and whitespace; keep umlauts (the cue lists use them)."""
    text = text.replace("’", "'").replace("ß", "ss").lower()
    return re.sub(r"\s+", " ", text).strip()


def _cue_pattern(cue: str) -> re.Pattern[str]:
    """Match ``cue`` at a word start; ``top$`` also demands the word end, ``*preis`` may sit inside a word.

    The ``*`` form is for German compounds: "Kaufpreis", "Mietrendite", "Baufinanzierung".
    """
    inside, whole = cue.startswith("*"), cue.endswith("$")
    body = re.escape(normalize(cue.strip("*$")))
    return re.compile(("" if inside else r"(?<!\w)") + body + (r"(?!\w)" if whole else ""))


def _cue_name(cue: str) -> str:
    return cue.strip("*$")


_PATTERNS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    category: [(_cue_name(cue), _cue_pattern(cue)) for cue in cues] for category, cues in SIGNALS.items()
}
_OPT_OUT = [(p, _cue_pattern(p)) for p in OPT_OUT_PHRASES]
_POSITIVE = [(_cue_name(w), _cue_pattern(w)) for w in POSITIVE_WORDS]
_NEGATIVE = [(_cue_name(w), _cue_pattern(w)) for w in NEGATIVE_WORDS]
#: Amounts such as "300.000 €", "250k", "1.200 EUR": budget or price talk.
MONEY_RE = re.compile(r"\d[\d.,]*\s?(?:€|eur\b|euro\b|k\b|tsd\b|mio\b)")


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

    def as_dict(self) -> dict:
        return asdict(self)


def find_emails(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(0).strip(".").lower() for m in EMAIL_RE.finditer(text or "")))


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
        for match in pattern.finditer(text):
            score += -1 if _negated(text, match.start()) else 1
            cues.append(word)
    for word, pattern in _NEGATIVE:
        for match in pattern.finditer(text):
            score += 1 if _negated(text, match.start()) else -1
            cues.append(word)
    score += sum(ch in POSITIVE_EMOJI for ch in text) - sum(ch in NEGATIVE_EMOJI for ch in text)
    if score > 0:
        return "positive", cues
    if score < 0:
        return "negative", cues
    return "neutral", cues


def analyse(text: str) -> IntentAnalysis:
    """Detect buying intent (price, viewing, financing, timeline, purchase), opt-out and sentiment."""
    norm = GREETINGS.sub(" ", normalize(text or "")).strip()
    words = WORD_RE.findall(norm)
    result = IntentAnalysis(language=_language(words))
    if not norm:
        return result

    signals: dict[str, list[str]] = {}
    for category, patterns in _PATTERNS.items():
        for cue, pattern in patterns:
            match = pattern.search(norm)
            if match and not (category == "interest" and _negated(norm, match.start())):
                signals.setdefault(category, []).append(cue)
    if MONEY_RE.search(norm):
        signals.setdefault("price", []).append("amount")
    if find_emails(text) or find_phones(text):
        signals["contact"] = ["contact details"]

    opt_out_cues = [phrase for phrase, pattern in _OPT_OUT if pattern.search(norm)]
    if SEPARABLE_OPT_OUT.search(norm):
        opt_out_cues.append("abmelden")
    if VERB_FIRST_OPT_OUT.search(norm):
        opt_out_cues.append("nicht mehr kontaktieren")
    if not opt_out_cues and words and len(words) <= SHORT_MESSAGE_WORDS and words[0] in SHORT_STOP_WORDS:
        opt_out_cues = [words[0]]
    # "Kein Interesse an der 2-Zimmer-Wohnung, aber wann kann ich die 3-Zimmer besichtigen?" is not an opt-out.
    strong = STRONG_SIGNALS & set(signals)
    result.opt_out = bool(opt_out_cues) and not strong
    result.sentiment, sentiment_cues = _sentiment(norm, result.opt_out)

    if result.opt_out:
        result.keywords = opt_out_cues
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
    if "financing" in signals:
        result.interest_type = "finance"
    elif signals.keys() & {"viewing", "purchase", "price"}:
        result.interest_type = "buy"
    return result
