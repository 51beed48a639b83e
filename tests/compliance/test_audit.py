"""The audit trail is append-only (ORM and database) and consents are recorded with evidence."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from compliance.models import AppendOnlyError, AuditEvent, ConsentRecord
from compliance.selectors import audit_events_for, consent_state
from compliance.services import audit_record, consent_grant, consent_revoke
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_audit_record_writes_object_tenant_and_actor(admin_user):
    lead = LeadFactory()
    event = audit_record(
        event_type="lead.qualified", actor=admin_user, obj=lead, payload={"to": "qualified"}, ip="10.0.0.1"
    )
    assert event.object_type == "leads.lead"
    assert event.object_id == str(lead.pk)
    assert event.tenant == lead.tenant
    assert event.actor_label == admin_user.email
    assert event.ip == "10.0.0.1"
    assert list(audit_events_for(lead).filter(event_type="lead.qualified")) == [event]
    assert audit_record(event_type="x", actor=None).actor_label == "system"


def test_audit_events_cannot_be_changed_or_deleted_through_the_orm(admin_user):
    event = audit_record(event_type="lead.created", actor=admin_user)
    event.event_type = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(event_type="tampered")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["event_type"])
    assert AuditEvent.objects.get(pk=event.pk).event_type == "lead.created"


def test_database_trigger_blocks_raw_update_and_delete(admin_user):
    event = audit_record(event_type="lead.created", actor=admin_user)
    for sql in (
        "UPDATE compliance_auditevent SET event_type = 'x' WHERE id = %s",
        "DELETE FROM compliance_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, event_type="lead.created").exists()


def test_audit_is_rolled_back_with_its_transaction(admin_user):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(event_type="lead.created", actor=admin_user)
        raise RuntimeError
    assert not AuditEvent.objects.filter(event_type="lead.created").exists()


def test_consent_grant_and_revoke_are_recorded_and_audited(partner_user):
    lead = LeadFactory()
    record = consent_grant(
        code=ConsentRecord.Code.MARKETING_EMAIL,
        version="2026-01",
        text="Ich möchte Angebote per E-Mail erhalten.",
        lead=lead,
        evidence={"form": "website", "ip": "203.0.113.9"},
        actor=None,
    )
    assert record.tenant == lead.tenant
    assert consent_state(lead, "marketing_email").status == "pending"  # granted, double opt-in outstanding
    revoked = consent_revoke(code="MARKETING_EMAIL", lead=lead, actor=None)
    assert revoked is not None and revoked.action == ConsentRecord.Action.REVOKED and revoked.version == "2026-01"
    assert consent_revoke(code="MARKETING_EMAIL", lead=lead, actor=None) is None
    assert consent_state(lead, "marketing_email").status == "revoked"
    types = list(audit_events_for(lead).values_list("event_type", flat=True))
    assert types.count("consent.granted") == 1 and types.count("consent.revoked") == 1
    with pytest.raises(ValueError):
        consent_grant(code="MARKETING_EMAIL", version="1", lead=lead, user=partner_user, actor=None)
