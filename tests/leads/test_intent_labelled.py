"""The follow-up intent of German and English replies (issue 21), measured on a labelled set.

``data/intent_labelled.jsonl``: one reply a line with ``lang``, ``intent`` (``interested``,
``undecided``, ``small_talk``, ``opt_out``) and ``split``. The ``holdout`` lines (about a quarter,
chosen by a hash of the text, not by hand) were not looked at while the analyser's cues were tuned
on the ``dev`` lines. The mapping from what a lead writes: a question about the offer is
``interested``; an objection (price, time, partner, "Schneeballsystem?") or a deferral is
``undecided``; "kein Interesse" without "for now" is an opt-out, as in the Instagram fixture.

Lines 1–280 were written before the analyser was changed (baseline: dev accuracy 0.415, opt-out
recall 0.337; holdout 0.540 / 0.737). The holdout was evaluated once, at the end (0.968 / 1.0).
Lines 281–310 came from a later probe with fresh wordings that found stop requests the rules still
missed ("Lass das!", "ich blockier dich", "bitte nicht mehr"); they are ``dev`` lines: the rules
were fixed on them.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest
import responses

from leads.intent import INTENTS, analyse, classify

LABELLED = [
    json.loads(line)
    for line in (Path(__file__).resolve().parent / "data" / "intent_labelled.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]
#: Measured on this set when the analyser was written (dev 0.992, holdout 0.968, all 0.987); a
#: margin for new cues that move a borderline message or two.
MIN_ACCURACY = {"dev": 0.95, "holdout": 0.9, "all": 0.93}


def _figures(messages: list[dict]) -> dict[str, float]:
    predicted = [analyse(m["text"]).intent for m in messages]
    hits = sum(p == m["intent"] for p, m in zip(predicted, messages, strict=True))
    true_pos = sum(p == "opt_out" and m["intent"] == "opt_out" for p, m in zip(predicted, messages, strict=True))
    said_stop = sum(m["intent"] == "opt_out" for m in messages)
    flagged = sum(p == "opt_out" for p in predicted)
    return {
        "n": len(messages),
        "accuracy": hits / len(messages),
        "opt_out_recall": true_pos / said_stop,
        "opt_out_precision": true_pos / flagged if flagged else 1.0,
    }


def test_the_set_is_big_balanced_and_bilingual():
    assert len(LABELLED) >= 200
    intents = Counter(m["intent"] for m in LABELLED)
    assert set(intents) == set(INTENTS) and min(intents.values()) >= 40
    languages = Counter(m["lang"] for m in LABELLED)
    assert languages["de"] >= 150 and languages["en"] >= 60
    holdout = sum(m["split"] == "holdout" for m in LABELLED)
    assert 0.2 <= holdout / len(LABELLED) <= 0.3
    assert len({(m["lang"], m["text"]) for m in LABELLED}) == len(LABELLED)


@pytest.mark.parametrize("split", ["dev", "holdout", "all"])
def test_intent_accuracy_and_opt_out_recall(split, record_property):
    messages = [m for m in LABELLED if split == "all" or m["split"] == split]
    figures = _figures(messages)
    record_property("figures", figures)
    print(f"\nintent ({split}):", {k: round(v, 3) for k, v in figures.items()})
    assert figures["opt_out_recall"] == 1.0, [
        m["text"] for m in messages if m["intent"] == "opt_out" and not analyse(m["text"]).opt_out
    ]
    assert figures["opt_out_precision"] >= 0.95
    assert figures["accuracy"] >= MIN_ACCURACY[split], figures


@pytest.mark.parametrize(
    "text",
    [
        "Stoppen Sie nicht, ich bin interessiert",
        "kein Problem, schreiben Sie mir gern",
        "Lass mich in Ruhe drüber nachdenken.",
        "Mein Handy spinnt, ich krieg keine Nachrichten mehr von WhatsApp",
        "No need to unsubscribe me, I'm still interested",
        "Momentan kein Interesse, vielleicht nächstes Jahr wieder.",
    ],
)
def test_negations_and_look_alikes_are_no_opt_outs(text):
    assert analyse(text).opt_out is False


@pytest.mark.parametrize(
    "text",
    [
        "Ich will nichts kaufen. Lasst mich in Ruhe.",  # a buying word does not rescue a stop request
        "Don't call me again.",
        "Ich moechte nicht mehr kontaktiert werden.",  # oe for ö
        "Hört auf mich zu belästigen!!!",
    ],
)
def test_stop_requests_win_over_buying_words_and_spelling(text):
    result = analyse(text)
    assert (result.opt_out, result.intent, result.level) == (True, "opt_out", "none")


LLM_URL = "https://llm.example.test"


@pytest.fixture
def llm(settings):
    settings.LLM_API_URL, settings.LLM_API_KEY, settings.LLM_MODEL = LLM_URL, "test-key", "test-model"
    with responses.RequestsMock() as mock:
        yield mock


def _answer(mock, verdict: dict | str, status: int = 200):
    text = verdict if isinstance(verdict, str) else json.dumps(verdict)
    return mock.post(f"{LLM_URL}/v1/messages", status=status, json={"content": [{"type": "text", "text": text}]})


def test_without_a_configured_llm_classify_is_the_offline_analyser(settings):
    settings.LLM_API_URL = ""
    with responses.RequestsMock():  # any HTTP call would fail the test
        result = classify("Ich denk drüber nach 🤔")
    assert (result.intent, result.analyser) == ("undecided", "offline")


def test_the_llm_adds_an_opt_out_the_rules_miss_and_gets_no_contact_data(llm, caplog):
    call = _answer(llm, {"intent": "opt_out", "opt_out": True})
    caplog.set_level(logging.INFO, logger="leads.intent")
    text = "Wir passen einfach nicht zusammen. Alles Gute! erika@beispiel.de, 0151 23456789"
    assert analyse(text).opt_out is False
    result = classify(text)
    assert (result.opt_out, result.intent, result.analyser, result.level) == (True, "opt_out", "llm", "none")
    sent = json.loads(call.calls[0].request.body)["messages"][0]["content"]
    assert "Wir passen einfach nicht zusammen" in sent and "<email>" in sent and "<phone>" in sent
    assert "erika@" not in sent and "23456789" not in sent
    logged = [r for r in caplog.records if r.getMessage() == "LLM intent classification"]
    assert logged and "erika@" not in logged[0].prompt and "<email>" in logged[0].prompt


def test_an_offline_opt_out_wins_and_the_llm_is_not_even_asked(llm):
    result = classify("Bitte streichen Sie mich aus Ihrer Liste.")
    assert (result.opt_out, result.analyser) == (True, "offline")
    assert len(llm.calls) == 0


def test_the_llm_decides_the_intent_of_a_message_that_is_no_opt_out(llm):
    _answer(llm, "```json\n" + json.dumps({"intent": "interested", "opt_out": False}) + "\n```")
    result = classify("Hmm, erzähl mal")
    assert (result.intent, result.opt_out, result.analyser) == ("interested", False, "llm")


@pytest.mark.parametrize(
    ("verdict", "status"),
    [({"intent": "opt_out"}, 503), ("Ich bin mir nicht sicher.", 200), ({"intent": "maybe"}, 200), ({}, 400)],
)
def test_any_llm_failure_falls_back_to_the_offline_verdict(llm, verdict, status):
    _answer(llm, verdict, status)
    result = classify("Ich muss das erst mit meiner Frau besprechen.")
    assert (result.intent, result.opt_out, result.analyser) == ("undecided", False, "offline")
