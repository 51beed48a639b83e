"""Read queries for audit events and consents."""

from __future__ import annotations

from django.db import models
from django.db.models import QuerySet

from compliance.models import AuditEvent, ConsentRecord


def audit_events_for(obj: models.Model) -> QuerySet[AuditEvent]:
    """The audit trail of one object, newest first."""
    return AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).select_related("actor")


def consent_is_active(*, code: str, lead: models.Model | None = None, user: models.Model | None = None) -> bool:
    subject = {"subject_lead": lead} if lead is not None else {"subject_user": user}
    return ConsentRecord.objects.filter(
        code=code, granted_at__isnull=False, revoked_at__isnull=True, **subject
    ).exists()
