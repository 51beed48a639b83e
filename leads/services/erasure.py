"""Erasure (SPEC §12): destroy a lead's personal data, keep the lead as an anonymous statistic and the audit."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from compliance.services import audit_record
from leads.models import Lead, LeadIdentity, LeadVerification
from leads.services.scoring import lead_rescore

#: Encrypted contact fields; emptying them also empties their blind indexes (``Lead.save``).
PII_FIELDS = ("email", "phone", "first_name", "last_name")
#: Attributes that hold raw contact data (values ingest could not validate are kept there verbatim).
PII_ATTRIBUTES = ("_invalid",)


@transaction.atomic
def lead_anonymize(*, lead: Lead, actor: Any, reason: str) -> Lead:
    """Empty the contact data and drop its identities and checks, so the person can no longer be found or reached.

    Company, role, channel and scores stay (an anonymous statistic); ``is_test`` is untouched. The
    external-id identities stay too: they are blind indexes, not personal data, and they make a
    repeated delivery of the same response a duplicate instead of a new lead.
    """
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    cleared = [name for name in PII_FIELDS if getattr(lead, name)]
    attributes = dict(lead.attributes or {})
    dropped = [key for key in PII_ATTRIBUTES if key in attributes]
    for key in dropped:
        attributes.pop(key)
    identities, _ = LeadIdentity.objects.filter(
        lead=lead, kind__in=[LeadIdentity.Kind.EMAIL, LeadIdentity.Kind.PHONE]
    ).delete()
    checks, _ = LeadVerification.objects.filter(lead=lead).delete()
    if not (cleared or dropped or identities or checks):
        return lead
    for name in PII_FIELDS:
        setattr(lead, name, "")
    lead.attributes = attributes
    lead.save(update_fields=[*PII_FIELDS, "attributes", "updated_at"])
    audit_record(
        event_type="lead.erased",
        actor=actor,
        obj=lead,
        payload={"reason": reason, "fields": cleared, "attributes": dropped, "identities": identities},
    )
    return lead_rescore(lead=lead, reason="Personenbezogene Daten gelöscht")
