"""Intent, sentiment and opt-out detection for German and English DMs, measured on a labelled set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from leads.intent import analyse, find_emails, find_phones

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LABELLED = json.loads((FIXTURES / "instagram" / "intent_labelled.json").read_text(encoding="utf-8"))["messages"]
DIMENSIONS = ("intent", "sentiment", "opt_out")


def _predict(text: str) -> dict:
    result = analyse(text)
    return {"intent": result.level, "sentiment": result.sentiment, "opt_out": result.opt_out}


def _accuracy(messages: list[dict]) -> dict[str, float]:
    hits: Counter[str] = Counter()
    for message in messages:
        predicted = _predict(message["text"])
        hits.update(d for d in DIMENSIONS if predicted[d] == message[d])
    return {d: hits[d] / len(messages) for d in DIMENSIONS}


def test_the_labelled_set_is_big_enough_and_half_german():
    languages = Counter(m["lang"] for m in LABELLED)
    assert len(LABELLED) >= 80
    assert languages["de"] >= len(LABELLED) / 2 - 1 and languages["en"] >= 40
    assert {m["intent"] for m in LABELLED} == {"none", "low", "medium", "high"}
    assert sum(m["opt_out"] for m in LABELLED) >= 10


@pytest.mark.parametrize("lang", [None, "de", "en"])
def test_accuracy_on_the_labelled_set_is_at_least_80_percent(lang, record_property):
    messages = [m for m in LABELLED if lang is None or m["lang"] == lang]
    accuracy = _accuracy(messages)
    record_property("accuracy", accuracy)
    print(f"\nintent accuracy ({lang or 'all'}, n={len(messages)}):", {k: round(v, 3) for k, v in accuracy.items()})
    assert all(value >= 0.8 for value in accuracy.values()), accuracy


def test_buying_intent_is_never_mistaken_for_an_opt_out_and_back():
    """The costly mistakes: opting out a buyer, or answering someone who said stop."""
    for message in LABELLED:
        predicted = _predict(message["text"])
        if message["intent"] == "high":
            assert not predicted["opt_out"], message["text"]
        if message["opt_out"]:
            assert predicted["opt_out"], message["text"]


@pytest.mark.parametrize(
    ("text", "level", "sentiment", "opt_out"),
    [
        (
            "Kein Interesse an der 2-Zimmer-Wohnung, aber wann kann ich die 3-Zimmer besichtigen?",
            "high",
            "neutral",
            False,
        ),
        ("Is there a bus stop nearby?", "none", "neutral", False),
        ("Stop", "none", "negative", True),
        ("Das Video ist nicht so toll", "none", "negative", False),
        ("No problem, thanks!", "none", "positive", False),
        ("Wir tragen die Kosten aus eigener Tasche ab", "medium", "neutral", False),
        ("Guten Morgen!", "none", "neutral", False),
        ("Mein Budget liegt bei 300.000 €", "medium", "neutral", False),
        ("Die Baufinanzierung würde über meine Hausbank laufen", "high", "neutral", False),
    ],
)
def test_edge_cases(text, level, sentiment, opt_out):
    result = analyse(text)
    assert (result.level, result.sentiment, result.opt_out) == (level, sentiment, opt_out)


@pytest.mark.parametrize(
    "text",
    [
        "Stop sending me these messages.",
        "Please stop calling me every day",
        "Bitte schreiben Sie mir nicht mehr.",
        "Kontaktieren Sie mich bitte nicht mehr",
        "Schick mir nicht mehr diese Angebote!",
    ],
)
def test_opt_outs_in_longer_sentences_and_german_verb_first_order(text):
    result = analyse(text)
    assert (result.opt_out, result.sentiment, result.level) == (True, "negative", "none")


@pytest.mark.parametrize(
    "text",
    [
        "Rufen Sie mich an, ich kann nicht mehr warten!",  # a call request, not an opt-out
        "Stop, what is the price of the flat?",
        "Schicken Sie mir das Exposé, die alte Adresse gilt nicht mehr.",
    ],
)
def test_contact_verbs_with_nicht_mehr_or_stop_are_not_always_opt_outs(text):
    assert analyse(text).opt_out is False


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Ich interessiere mich für die Wohnung.", "medium"),
        ("Gibt es einen Grundriss?", "medium"),
        ("Do you have a floor plan for it?", "medium"),
        ("Können wir telefonieren? Am besten morgen Nachmittag.", "high"),
        ("Can we talk on the phone tomorrow?", "high"),
    ],
)
def test_common_phrasings_of_interest_and_calls(text, level):
    assert analyse(text).level == level


def test_intent_score_and_interest_type_follow_the_signals():
    financing = analyse("Wie hoch muss das Eigenkapital für die Finanzierung sein? Termin nächste Woche?")
    assert financing.interest_type == "finance" and financing.level == "high"
    assert {"financing", "viewing", "timeline"} <= set(financing.signals)
    assert financing.score > analyse("Was kostet die Wohnung?").score > analyse("Hallo").score == 0


def test_contact_details_are_found_in_meta_escaped_text():
    text = "Schreib an Max.Mustermann@Example.de oder ruf an: 0151 23456789 / +43 664 1234567"
    assert find_emails(text) == ["max.mustermann@example.de"]
    assert find_phones(text) == ["+4915123456789", "+436641234567"]
    assert find_phones("Wohnung 3, Baujahr 1998, 75 qm") == []
