"""Model fields that keep PII encrypted at rest and transparently decrypted in Python."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
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


class EncryptedJSONField(models.TextField):
    """A JSON value (dict or list) stored as one AES-256-GCM ciphertext of its compact JSON text.

    For free-text answers and evidence that must not sit in clear in the database. Not searchable
    in SQL (only ``isnull``): keep a value that must be filtered on in a clear column of its own.
    ``None`` and an empty dict/list are stored as is (SQL NULL / the empty string).
    """

    description = "Encrypted JSON"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        if value == "":
            return self.get_default()
        return json.loads(crypto.decrypt(value))

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value) if value else self.get_default()
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        if value == {} or value == []:
            return ""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)
        return crypto.encrypt(text)

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj), ensure_ascii=False, cls=DjangoJSONEncoder)

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(**{"form_class": forms.JSONField, **kwargs})

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        return None
