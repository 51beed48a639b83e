"""API-590/591 with the apps' real registrations (leads, deals, webhooks, accounts, compliance), end to end."""

from __future__ import annotations

import json

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from compliance import registry
from compliance.models import AuditEvent, ConsentRecord, ErasureTombstone, SubjectErasure
from leads.models import Lead
from leads.services import lead_ingest
from tests.accounts.factories import PartnerFactory, UserFactory

EMAIL = "Jonas.Realtest@Beispiel.de"
PHONE = "0171 5550123"


@pytest.fixture
def admin_client(db, api_client):
    admin = UserFactory(role="platform_admin")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(admin).access_token}")
    return api_client


def test_a_person_in_two_tenants_is_exported_erased_once_and_flagged_when_arriving_again(admin_client, platform_org):
    assert {"leads", "deals", "webhooks", "accounts", "compliance"} <= {e.app_label for e in registry.subject_data()}
    person = {"email": EMAIL, "phone": PHONE, "first_name": "Jonas", "last_name": "Realtest"}
    pool = lead_ingest(payload=person, channel="website").lead
    own = lead_ingest(payload={"email": EMAIL.lower()}, channel="manual", partner=PartnerFactory()).lead
    assert pool.tenant_id != own.tenant_id
    ConsentRecord.objects.create(
        code="MARKETING_EMAIL", version="v1", subject_lead=pool, evidence={"ip": "203.0.113.5", "email": EMAIL}
    )

    exported = admin_client.get("/api/admin/data-subjects/export/", {"phone": "+49 171 5550123"})
    assert exported.status_code == 200
    document = exported.json()
    assert {row["id"] for row in document["leads"]} == {str(pool.pk), str(own.pk)}
    assert document["consents"][0]["evidence"]["ip"] == "203.0.113.5"
    assert any(row["event_type"] == "lead.created" for row in document["audit"])
    assert EMAIL.lower() in json.dumps(document)  # decrypted for the person

    erased = admin_client.post(f"/api/admin/leads/{own.pk}/erase/", {"reason": "Löschantrag per E-Mail"}, format="json")
    assert erased.status_code == 200, erased.content
    body = erased.json()
    assert body["status"] == "completed" and not body["already_erased"] and body["leads"] == 2
    assert body["counts"]["leads"]["leads"] == 2 and body["counts"]["compliance"] == {"consent_evidence": 1}
    pool.refresh_from_db()
    assert (pool.email, pool.phone, pool.first_name, pool.email_hash) == ("", "", "", "")
    assert pool.erased_at is not None and ConsentRecord.objects.get().evidence == {}
    assert ErasureTombstone.objects.filter(kind__in=["email", "phone"]).count() == 2
    erased_event = AuditEvent.objects.get(event_type="subject.erased")
    assert "jonas" not in json.dumps(erased_event.payload).lower()
    rows = (SubjectErasure.objects.count(), ErasureTombstone.objects.count(), AuditEvent.objects.count())

    for again in (
        admin_client.post(f"/api/admin/leads/{pool.pk}/erase/", {"reason": "nochmal"}, format="json"),
        admin_client.post("/api/admin/data-subjects/erase/", {"email": EMAIL, "reason": "nochmal"}, format="json"),
    ):
        assert again.status_code == 200 and again.json()["already_erased"] is True
        assert again.json()["erasure_id"] == body["erasure_id"]
    assert (SubjectErasure.objects.count(), ErasureTombstone.objects.count(), AuditEvent.objects.count()) == rows

    gone = admin_client.get("/api/admin/data-subjects/export/", {"email": EMAIL}).json()
    assert gone["leads"] == [] and gone["consents"] == []

    returning = lead_ingest(payload={"email": EMAIL}, channel="website").lead
    assert returning.pk not in {pool.pk, own.pk}
    assert Lead.objects.get(pk=returning.pk).erased_before is not None
