"""HMAC-SHA256 blind indexes: exact-match search over encrypted PII without storing it in clear.

The value is normalized first, so ``" Max@Example.COM "`` and ``"max@example.com"`` give the same
index. A kind prefix keeps an email and a phone number with the same text apart.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from functools import lru_cache

import phonenumbers
from django.conf import settings

DEFAULT_PHONE_REGION = "DE"


def normalize_email(value: str | None) -> str:
    """Trim, NFKC-normalize and lower-case an email address."""
    if not value:
        return ""
    return unicodedata.normalize("NFKC", value).strip().lower()


def normalize_phone(value: str | None, region: str = DEFAULT_PHONE_REGION) -> str:
    """Return E.164 for a parseable number (default region DE), else its digits with a leading '+'."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKC", value).strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return ""
    return ("+" if text.startswith("+") else "") + digits


def normalize_text(value: str | None) -> str:
    """Generic normalization for external ids and keys: trimmed, NFKC, case kept."""
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


NORMALIZERS = {"email": normalize_email, "phone": normalize_phone}


def blind_index(kind: str, value: str | None) -> str:
    """Return the hex HMAC-SHA256 of ``kind:normalized value`` ("" for an empty value)."""
    return blind_index_of_normalized(kind, NORMALIZERS.get(kind, normalize_text)(value))


def blind_index_of_normalized(kind: str, normalized: str) -> str:
    """``blind_index`` for a value that is already in its normalized form (E.164, lower-cased email).

    Saves a second ``phonenumbers`` parse per phone number on the ingest path.
    """
    if not normalized:
        return ""
    mac = _keyed_hmac(settings.BLIND_INDEX_KEY).copy()
    mac.update(f"{kind}:{normalized}".encode())
    return mac.hexdigest()


@lru_cache(maxsize=4)
def _keyed_hmac(key: str) -> hmac.HMAC:
    """An HMAC with the key already absorbed; ``copy()`` is cheaper than keying it again."""
    return hmac.new(key.encode("utf-8"), digestmod=hashlib.sha256)


def email_index(value: str | None) -> str:
    return blind_index("email", value)


def phone_index(value: str | None) -> str:
    return blind_index("phone", value)
