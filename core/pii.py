"""Recognise contact data in free-form text that must not travel on: log lines, URLs kept for attribution.

Only what a pattern can find: email addresses and phone numbers as people write them. Names cannot be
recognised this way; code must not put them into such text in the first place.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: An email address, and a phone number as people write it ("+49 171 9876543", "0171/9876543"): at
#: least eight digits, starting with "+" or "0", standing alone (not inside an id, a hex digest or a date).
EMAIL_RE = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"(?<![\w.:/-])\(?(?:\+|00?)(?:[ ()/-]{0,2}\d){7,15}(?![\w-])")
#: Query parameters that name a person or their contact data, whatever their value looks like.
PERSONAL_PARAMETERS = frozenset(
    {
        "email",
        "e-mail",
        "e_mail",
        "mail",
        "phone",
        "tel",
        "telefon",
        "mobile",
        "name",
        "full_name",
        "fullname",
        "first_name",
        "firstname",
        "fname",
        "last_name",
        "lastname",
        "lname",
        "vorname",
        "nachname",
    }
)


def scrub_pii(text: str) -> str:
    """``text`` with email addresses and phone numbers replaced by ``<email>`` and ``<phone>``."""
    if "@" in text:
        text = EMAIL_RE.sub("<email>", text)
    return PHONE_RE.sub("<phone>", text)


def _personal(key: str, value: str) -> bool:
    return key.strip().lower() in PERSONAL_PARAMETERS or scrub_pii(value) != value


def url_without_personal_query(url: str) -> str:
    """``url`` without the query parameters that carry contact data (``?email=…`` from a mailing's link).

    Attribution needs the page and the ``utm_*`` parameters, not the address a newsletter tool appended.
    A URL without such parameters comes back unchanged, character for character.
    """
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if not _personal(key, value)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))
