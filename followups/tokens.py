"""Signed unsubscribe tokens (API-592): who is unsubscribing from which sequence, forgery-proof.

The token is a ``django.core.signing`` value (HMAC over ``SECRET_KEY`` with its own salt) of the
lead id, the sequence code and the email's tracking token. It carries no personal data in clear
(a lead id is an opaque UUID) and never expires: people unsubscribe from mails they got months ago.
Rotating ``SECRET_KEY`` keeps old links working when the old key stays in ``SECRET_KEY_FALLBACKS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "followups.unsubscribe"
#: A token longer than this is not ours (the signer never produces one; refuse before parsing).
MAX_TOKEN_LENGTH = 400


class UnsubscribeTokenInvalid(Exception):
    """An unknown, truncated or tampered unsubscribe token."""


@dataclass(frozen=True)
class UnsubscribeTarget:
    """What a valid token names: the lead, the sequence it came from ("" = none) and the email ("" = none)."""

    lead_id: str
    sequence_code: str = ""
    message_token: str = ""


def unsubscribe_token(*, lead_id: object, sequence_code: str = "", message_token: str = "") -> str:
    """The URL-safe signed token of an unsubscribe link."""
    payload = [str(lead_id), sequence_code or "", message_token or ""]
    return signing.dumps(payload, salt=SALT, compress=True)


def unsubscribe_token_read(token: str) -> UnsubscribeTarget:
    """The target of a token; ``UnsubscribeTokenInvalid`` when it is not one we signed."""
    token = str(token or "")
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise UnsubscribeTokenInvalid("Unknown unsubscribe link.")
    try:
        payload = signing.loads(token, salt=SALT)  # no max_age: unsubscribe links never expire
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise UnsubscribeTokenInvalid("Unknown unsubscribe link.") from exc
    if not isinstance(payload, list) or len(payload) != 3 or not all(isinstance(v, str) for v in payload):
        raise UnsubscribeTokenInvalid("Unknown unsubscribe link.")
    lead_id, sequence_code, message_token = payload
    if not lead_id:
        raise UnsubscribeTokenInvalid("Unknown unsubscribe link.")
    return UnsubscribeTarget(lead_id=lead_id, sequence_code=sequence_code, message_token=message_token)


def unsubscribe_url(token: str) -> str:
    """The absolute HTTPS link of API-592 for a token (``SITE_URL`` decides the scheme and host)."""
    return f"{settings.SITE_URL}/api/unsubscribe/{token}/"
