"""AES-256-GCM field encryption with a key ring (SPEC §12).

Ciphertext format: ``v1:<key id>:<urlsafe base64 of nonce(12) || ciphertext || tag(16)>``. The first
key in ``FIELD_ENCRYPTION_KEYS`` encrypts; every key decrypts, so keys can be rotated without
downtime and ``rotate_encryption_keys`` moves old rows to the new key afterwards.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "v1"
NONCE_BYTES = 12
KEY_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,32}$")


class DecryptionError(Exception):
    """A stored value cannot be decrypted: unknown key id, wrong key or tampered data."""


@dataclass(frozen=True)
class KeyRing:
    primary_id: str
    ciphers: dict[str, AESGCM]

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.ciphers[self.primary_id].encrypt(nonce, plaintext.encode("utf-8"), None)
        return f"{PREFIX}:{self.primary_id}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str) -> str:
        try:
            prefix, key_id, payload = token.split(":", 2)
        except ValueError:
            raise DecryptionError("Value is not in the encrypted format.") from None
        if prefix != PREFIX:
            raise DecryptionError(f"Unknown ciphertext version {prefix!r}.")
        cipher = self.ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(
                f"No key with id {key_id!r} in FIELD_ENCRYPTION_KEYS; keep old keys until rotation has finished."
            )
        try:
            raw = base64.urlsafe_b64decode(payload.encode("ascii"))
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptionError(f"Value under key {key_id!r} failed authentication.") from exc

    @staticmethod
    def key_id_of(token: str) -> str | None:
        parts = token.split(":", 2)
        return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None


def parse_key_ring(spec: str) -> KeyRing:
    """Parse ``"kid:base64key,kid2:base64key"``; every key must be 32 bytes (AES-256)."""
    ciphers: dict[str, AESGCM] = {}
    order: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not KEY_ID_RE.match(key_id):
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS entries must look like 'kid:base64key' with kid of letters, digits or '-'."
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            try:
                key = base64.urlsafe_b64decode(encoded)
            except binascii.Error as exc:
                raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS key {key_id!r} is not valid base64.") from exc
        if len(key) != 32:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS key {key_id!r} must be 32 bytes, got {len(key)}.")
        if key_id in ciphers:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS has key id {key_id!r} twice.")
        ciphers[key_id] = AESGCM(key)
        order.append(key_id)
    if not order:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds no key.")
    return KeyRing(primary_id=order[0], ciphers=ciphers)


@lru_cache(maxsize=8)
def _key_ring_for(spec: str) -> KeyRing:
    return parse_key_ring(spec)


def key_ring() -> KeyRing:
    """Return the key ring for the current settings (cached per configuration value)."""
    return _key_ring_for(settings.FIELD_ENCRYPTION_KEYS)


def encrypt(plaintext: str) -> str:
    return key_ring().encrypt(plaintext)


def decrypt(token: str) -> str:
    return key_ring().decrypt(token)


def generate_key() -> str:
    """Return a fresh random 32-byte key, base64-encoded, for a new key ring entry."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")
