"""Model fields that keep PII encrypted at rest and transparently decrypted in Python."""

from __future__ import annotations

from django.db import models
from django.utils.functional import Promise

from compliance import crypto


class EncryptedTextField(models.TextField):
    """A text field stored as AES-256-GCM ciphertext.

    Values cannot be searched in SQL (each encryption uses a fresh nonce), so only ``isnull`` is
    allowed as a lookup; equality search goes through a blind index field next to it. The empty
    string is stored as is: it carries no information worth hiding.
    """

    description = "Encrypted text"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        # TextField's preparation (a lazy string cast, anything else as str) inlined: imports encrypt
        # four values per lead, and the two calls up the chain cost a third of the encryption.
        if value is None or value == "":
            return value
        if isinstance(value, Promise):
            value = value._proxy____cast()
        return crypto.encrypt(value if isinstance(value, str) else str(value))

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        return None
