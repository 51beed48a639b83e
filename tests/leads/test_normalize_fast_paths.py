"""The fast paths of normalization give exactly what the libraries give (imports depend on them)."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from compliance.blind_index import blind_index, blind_index_of_normalized, normalize_phone
from leads.normalize import check_email, clean_text

EMAILS = [
    "anna.mueller@example.de",
    "Anna.Mueller@EXAMPLE.DE",
    "a+tag@sub.example.co.uk",
    "o'brien@example.ie",
    "x@localhost",
    "x@example",
    "x@example.test",
    "x@-bad.de",
    "x@bad-.de",
    "x@1.2.3.4",
    "x@[127.0.0.1]",
    "x@münchen.de",
    "jürgen@example.de",
    '"quoted name"@example.de',
    ".leading@example.de",
    "trailing.@example.de",
    "dou..ble@example.de",
    "no-at-sign.example.de",
    "two@@example.de",
    "a@b@example.de",
    "Name <name@example.de>",
    "x" * 64 + "@example.de",
    "x" * 65 + "@example.de",
    "y@" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 60 + ".de",
    "x@" + "a" * 64 + ".de",
    "x@example.123",
    "x@xn--mnchen-3ya.de",
    "x@example.invalid",
    "x@example.onion",
]


def _library(text: str):
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return ("error", type(exc))
    return (result.normalized, result.domain)


@pytest.mark.parametrize("text", EMAILS)
def test_check_email_agrees_with_email_validator(text):
    try:
        ours = check_email(text)
    except EmailNotValidError as exc:
        ours = ("error", type(exc))
    assert ours == _library(text)


@pytest.mark.parametrize("text", ["anna@example.de", "  Müller  GmbH ", "ﬁne", "a\tb\nc", "", None, ["a", None, "b"]])
def test_clean_text_keeps_its_meaning_on_the_ascii_fast_path(text):
    import unicodedata

    if text is None:
        assert clean_text(text) == ""
        return
    value = ", ".join(str(v) for v in text if v is not None) if isinstance(text, list) else text
    assert clean_text(text) == " ".join(unicodedata.normalize("NFKC", value).split())


@pytest.mark.parametrize("phone", ["+4915123456789", "0151 23456789", "+43 664 1234567", "0041 44 668 18 00"])
def test_index_of_an_already_normalized_phone_is_the_blind_index(phone):
    normalized = normalize_phone(phone)
    assert blind_index_of_normalized("phone", normalized) == blind_index("phone", phone)
    assert blind_index_of_normalized("email", "a@b.de") == blind_index("email", " A@B.de ")
    assert blind_index_of_normalized("phone", "") == ""
