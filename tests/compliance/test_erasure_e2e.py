"""Art. 17 end to end: after an erasure, nothing of the person is left anywhere, in any form.

The person of the no-plaintext journey (website form with consent, Facebook lead ad, import, a
hand merge, a pool offer accepted by a partner who was notified by email, a logged call, a deal) is
exported and erased through the admin API. Then a ``pg_dump`` of the database must not contain the
email, phone or name in any form, and neither may any encrypted column once decrypted (ciphertext
would pass a plaintext scan while still holding the data). The lead stays as an anonymous statistic,
the deal's value and the audit trail stay, and the same person arriving again is flagged.
"""

from __future__ import annotations

import json
import re

import pytest
from django.apps import apps
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import PartnerProfile, User
from compliance import crypto
from compliance.fields import EncryptedJSONField, EncryptedTextField
from compliance.models import AuditEvent, ErasureTombstone, SubjectErasure
from deals.models import PartnerDeal
from leads.models import Lead, LeadActivity
from leads.services import lead_ingest
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.compliance.test_no_plaintext_pii import (  # noqa: F401 (fixtures)
    EMAIL,
    FIRST,
    LAST,
    PHONE,
    _database_dump,
    _found,
    _journey,
    meta,
    published,
)


def _decrypted_leaks() -> list[str]:
    """Every encrypted column of every model, decrypted and scanned (ciphertext hides from a dump scan)."""
    leaks = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField | EncryptedJSONField)]
        for name in names:
            for pk, value in model._base_manager.values_list("pk", name).iterator():
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                if text and (found := _found(text)):
                    leaks.append(f"{model._meta.label}.{name} #{pk} {found}")
    for pk, payload in AuditEvent.objects.values_list("pk", "payload"):
        for key, value in payload.items():
            if key.endswith("_encrypted") and (found := _found(crypto.decrypt(value))):
                leaks.append(f"audit #{pk} {key} {found}")
    return leaks


@pytest.mark.django_db(transaction=True)
def test_after_erasure_no_form_of_the_person_is_left_in_the_database(tmp_path, meta, published, platform_org):  # noqa: F811
    admin = UserFactory(role=User.Role.PLATFORM_ADMIN)
    partner = PartnerFactory(first_name="Anna")
    PartnerProfile.objects.filter(user=partner).update(capacity=50)
    lead = _journey(tmp_path, meta, admin, partner)
    deal = PartnerDeal.objects.get(lead=lead)
    assert _decrypted_leaks() and mail.outbox  # the person is there (encrypted) before the erasure

    api = APIClient()
    api.force_authenticate(admin)
    # Access first (Art. 15): everything, decrypted, from every app.
    response = api.get("/api/admin/data-subjects/export/", {"phone": "0171 9876543", "reason": "Anfrage per Post"})
    assert response.status_code == 200, response.content
    document = response.json()
    assert {row["id"] for row in document["leads"]} >= {str(lead.pk)}
    assert any(row.get("email") == EMAIL.lower() for row in document["leads"])
    assert document["deals"] and document["offers"] and document["merges"] and document["consents"]
    assert document["webhook_items"] and document["activities"]

    # Erasure (Art. 17) by email, as a request by letter would name the person.
    response = api.post("/api/admin/data-subjects/erase/", {"email": EMAIL, "reason": "Löschantrag per Post"}, "json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "completed" and body["leads"] == 2 and not body["already_erased"], body
    erasure = SubjectErasure.objects.get(pk=body["erasure_id"])
    assert erasure.status == SubjectErasure.Status.COMPLETED
    assert set(erasure.steps) >= {"leads", "deals", "webhooks", "accounts", "compliance"}

    # Nothing in the dump, nothing behind the encryption.
    dump = _database_dump()
    leaks, table = [], ""
    for line in dump.splitlines():
        if header := re.match(r"^COPY (\S+)", line):
            table = header.group(1)
        elif found := _found(line):
            leaks.append(f"{table} {found}: {line[:200]}")
    assert not leaks, "\n".join(leaks)
    assert not _decrypted_leaks()

    # Kept: the lead as an anonymous statistic, the deal's value, the audit trail (without PII).
    lead.refresh_from_db()
    assert lead.erased_at and lead.status == Lead.Status.CONVERTED and lead.channel == Lead.Channel.WEBSITE
    assert (lead.email, lead.phone, lead.first_name, lead.last_name, lead.email_hash) == ("", "", "", "", "")
    assert lead.attributes == {} and LeadActivity.objects.filter(lead=lead).exists()
    deal.refresh_from_db()
    assert deal.deal_value == 380000 and deal.contact_email == ""
    assert AuditEvent.objects.filter(event_type="subject.erased").count() == 1
    assert AuditEvent.objects.filter(event_type="deal.created").exists()
    assert ErasureTombstone.objects.filter(erasure=erasure, kind="email").count() >= 1

    # Again: nothing changes.
    again = api.post(f"/api/admin/leads/{lead.pk}/erase/", {"reason": "doppelt"}, format="json")
    assert again.status_code == 200 and again.json()["already_erased"] is True
    assert AuditEvent.objects.filter(event_type="subject.erased").count() == 1

    # The person comes back through a form: a new lead, flagged with the date of the erasure.
    returned = lead_ingest(
        payload={"email": EMAIL, "phone": PHONE, "first_name": FIRST, "last_name": LAST}, channel="website"
    ).lead
    assert returned.pk != lead.pk and returned.erased_before == erasure.created_at
    pool = api.get("/api/admin/leads/pool/")
    assert pool.status_code == 200, pool.content
    row = next(row for row in pool.json()["results"] if row["id"] == str(returned.pk))
    assert row["erased_before"]
