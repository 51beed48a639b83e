"""Field encryption: round trip, tamper detection, key ring rules, no plaintext at rest, rotation."""

from __future__ import annotations

import base64
import io
import os

import pytest
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from compliance import crypto
from leads.models import Lead
from tests.leads.factories import LeadFactory


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_round_trip_and_fresh_nonce(settings):
    settings.FIELD_ENCRYPTION_KEYS = f"k1:{_key()}"
    first, second = crypto.encrypt("max@example.com"), crypto.encrypt("max@example.com")
    assert first != second  # a fresh nonce every time
    assert first.startswith("v1:k1:")
    assert crypto.decrypt(first) == crypto.decrypt(second) == "max@example.com"
    assert crypto.decrypt(crypto.encrypt("Jürgen Groß ✓")) == "Jürgen Groß ✓"


def test_tampered_ciphertext_is_refused(settings):
    settings.FIELD_ENCRYPTION_KEYS = f"k1:{_key()}"
    token = crypto.encrypt("secret")
    raw = bytearray(base64.urlsafe_b64decode(token.split(":", 2)[2]))
    raw[-1] ^= 1
    tampered = "v1:k1:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered)


def test_unknown_key_id_names_the_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = f"old:{_key()}"
    token = crypto.encrypt("x")
    settings.FIELD_ENCRYPTION_KEYS = f"new:{_key()}"
    with pytest.raises(crypto.DecryptionError, match="'old'"):
        crypto.decrypt(token)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no key"),
        ("k1", "kid:base64key"),
        ("k_1:" + base64.b64encode(b"x" * 32).decode(), "kid:base64key"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        ("k1:!!!notbase64", "base64|32 bytes"),
        ("k1:{k},k1:{k}".format(k=base64.b64encode(b"y" * 32).decode()), "twice"),
    ],
)
def test_key_ring_configuration_errors(spec, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        crypto.parse_key_ring(spec)


@pytest.mark.django_db
def test_database_holds_no_plaintext_pii():
    lead = LeadFactory(email="Erika.Muster@Example.DE", phone="+49 151 2345678", first_name="Erika")
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, phone, first_name, last_name FROM leads_lead WHERE id = %s", [lead.id])
        row = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM leads_lead WHERE email ILIKE %s OR phone LIKE %s OR first_name = %s",
            ["%example.de%", "%2345678%", "Erika"],
        )
        plaintext_hits = cursor.fetchone()[0]
    assert all(value.startswith("v1:") for value in row)
    assert plaintext_hits == 0
    reloaded = Lead.objects.get(pk=lead.pk)
    assert reloaded.email == "Erika.Muster@Example.DE"
    assert reloaded.phone == "+49 151 2345678"


@pytest.mark.django_db
def test_encrypted_fields_refuse_sql_lookups():
    with pytest.raises(FieldError):
        list(Lead.objects.filter(email="a@b.de"))
    assert Lead.objects.filter(email__isnull=True).count() == 0


def _raw_key_ids() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, phone, first_name, last_name FROM leads_lead")
        return {value.split(":")[1] for row in cursor.fetchall() for value in row if value}


@pytest.mark.django_db
def test_rotation_keeps_old_key_readable_and_moves_rows(settings):
    # given: leads written under k1
    k1, k2 = _key(), _key()
    settings.FIELD_ENCRYPTION_KEYS = f"k1:{k1}"
    leads = [LeadFactory() for _ in range(7)]
    assert _raw_key_ids() == {"k1"}

    # when: k2 becomes primary, k1 stays in the ring
    settings.FIELD_ENCRYPTION_KEYS = f"k2:{k2},k1:{k1}"
    assert Lead.objects.get(pk=leads[0].pk).email == leads[0].email  # old key still decrypts
    LeadFactory(email="new@example.de")  # new writes use k2
    assert _raw_key_ids() == {"k1", "k2"}
    call_command("rotate_encryption_keys", "--batch-size", "3", "--no-progress", stdout=io.StringIO())

    # then: everything is under k2 and readable with k2 alone
    assert _raw_key_ids() == {"k2"}
    settings.FIELD_ENCRYPTION_KEYS = f"k2:{k2}"
    assert sorted(lead.email for lead in Lead.objects.all()) == sorted([*(x.email for x in leads), "new@example.de"])


@pytest.mark.django_db
def test_rotation_is_resumable_and_reports(settings, capsys):
    k1, k2 = _key(), _key()
    settings.FIELD_ENCRYPTION_KEYS = f"k1:{k1}"
    for _ in range(5):
        LeadFactory()
    settings.FIELD_ENCRYPTION_KEYS = f"k2:{k2},k1:{k1}"
    from compliance.rotation import count_stale, rotate_target, rotation_targets

    target = next(t for t in rotation_targets() if t.model is Lead)
    assert count_stale(target) == 5

    # A run that dies after its first committed batch leaves the rest for the next run.
    class Interrupted(Exception):
        pass

    def die(_n):
        raise Interrupted

    with pytest.raises(Interrupted):
        rotate_target(target, batch_size=2, progress=die)
    assert count_stale(target) == 3

    call_command("rotate_encryption_keys", "--dry-run")
    assert count_stale(target) == 3
    call_command("rotate_encryption_keys", "--no-progress")
    out = capsys.readouterr().out
    assert "leads.Lead: re-encrypted 12 values in 3 rows" in out
    assert "0 rows remaining" in out
    assert count_stale(target) == 0
