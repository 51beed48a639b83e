"""HMAC-SHA256 blind indexes: exact-match search over encrypted PII without storing it in clear.

The value is normalized first, so ``" Max@Example.COM "`` and ``"max@example.com"`` give the same
index. A kind prefix keeps an email and a phone number with the same text apart.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

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
    normalized = NORMALIZERS.get(kind, normalize_text)(value)
    if not normalized:
        return ""
    message = f"{kind}:{normalized}".encode()
    return hmac.new(settings.BLIND_INDEX_KEY.encode("utf-8"), message, hashlib.sha256).hexdigest()


def email_index(value: str | None) -> str:
    return blind_index("email", value)


def phone_index(value: str | None) -> str:
    return blind_index("phone", value)
