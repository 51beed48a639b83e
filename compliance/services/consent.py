"""The consent ledger: one record per person and purpose; the newest record decides (SPEC §12)."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from compliance.models import ConsentRecord
from compliance.services.audit import _tenant_of, audit_record


@transaction.atomic
def consent_grant(
    *,
    code: str,
    version: str,
    actor: Any | None,
    lead: models.Model | None = None,
    user: models.Model | None = None,
    text: str = "",
    evidence: dict[str, Any] | None = None,
    tenant: Any | None = None,
) -> ConsentRecord:
    """Record a consent given by a lead or a user, with the text version and its evidence."""
    if (lead is None) == (user is None):
        raise ValueError("A consent has exactly one subject: a lead or a user.")
    record = ConsentRecord.objects.create(
        code=code,
        version=version,
        text=text,
        subject_lead=lead,
        subject_user=user,
        tenant=tenant if tenant is not None else _tenant_of(lead or user),
        granted_at=timezone.now(),
        evidence=evidence or {},
    )
    audit_record(
        event_type="consent.granted",
        actor=actor,
        obj=lead or user,
        tenant=record.tenant,
        payload={"code": code, "version": version, "consent_id": record.pk},
    )
    return record


@transaction.atomic
def consent_revoke(
    *, code: str, actor: Any | None, lead: models.Model | None = None, user: models.Model | None = None
) -> int:
    """Withdraw every active consent of ``code`` for the subject; returns how many were revoked."""
    if (lead is None) == (user is None):
        raise ValueError("A consent has exactly one subject: a lead or a user.")
    subject = {"subject_lead": lead} if lead is not None else {"subject_user": user}
    count = ConsentRecord.objects.filter(
        code=code, revoked_at__isnull=True, granted_at__isnull=False, **subject
    ).update(revoked_at=timezone.now())
    if count:
        audit_record(
            event_type="consent.revoked", actor=actor, obj=lead or user, payload={"code": code, "count": count}
        )
    return count
