"""A new lead and the rows created with it, built once for every way a lead is created.

``lead_rows_build`` is pure: it takes a normalized delivery and returns unsaved model instances,
without a query. ``lead_ingest`` scores them and saves them in one chained statement; an import
batch writes thousands of them with ``COPY`` (``leads.imports``). Both store what the models'
own defaults and fields make of them (ids, public ids, encryption, JSON), so a lead created by
either path is the same lead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accounts.models import Organization, User
from compliance.blind_index import email_index, phone_index
from compliance.models import AuditEvent, ConsentRecord
from compliance.services import audit_event_build
from core.bulk import instance_factory
from leads.models import Company, Lead, LeadIdentity, LeadVerification
from leads.normalize import NormalizedLead, is_free_mail
from leads.services.consent import ConsentContext, new_lead_consents
from leads.services.enrichment import OfflineProvider

_TENANT = Lead._meta.get_field("tenant")
_PARTNER = Lead._meta.get_field("assigned_partner")
_LEAD = LeadVerification._meta.get_field("lead")


#: ``ON CONFLICT (tenant_id, domain) DO UPDATE SET`` clause for company upserts that must return the
#: existing row's id. It rewrites a column outside every unique index, so the row lock is
#: ``FOR NO KEY UPDATE``: setting ``domain`` (a key column) took ``FOR UPDATE``, which waits for
#: the ``FOR KEY SHARE`` locks the lead-company link foreign keys hold until commit, and two
#: import workers linking leads to the same companies deadlocked on that.
COMPANY_UPSERT_TOUCH = '"name" = "leads_company"."name"'


@dataclass(eq=False)
class LeadRows:
    """An unsaved new lead with the rows every creation writes along with it."""

    lead: Lead
    #: ``(kind, value hash)`` pairs the lead claims in the identity graph.
    identities: list[tuple[str, str]]
    verification: LeadVerification | None
    #: ``lead.created``.
    audit_event: AuditEvent
    #: Marketing-email consent records of the delivery (``lead.created`` names them in its payload).
    consents: list[ConsentRecord] = field(default_factory=list)

    def company_domain(self) -> str:
        """The domain the lead's company is upserted and linked by ("" for none or free mail)."""
        domain = (self.lead.company_domain or "").lower()
        return "" if not domain or is_free_mail(domain) else domain

    def company(self) -> Company | None:
        """The lead's company as it is created when its (tenant, domain) is new; built on demand,
        since an import needs it once per domain of a batch."""
        domain = self.company_domain()
        if not domain:
            return None
        lead = self.lead
        return Company(
            tenant_id=lead.tenant_id,
            domain=domain,
            name=lead.company_name[:255],
            industry=lead.industry,
            size_band=lead.company_size_band,
            employees=lead.employees,
            country=lead.country,
        )


def verification_build(lead: Lead, norm: NormalizedLead) -> LeadVerification | None:
    """The offline check of a delivery's email and phone as an unsaved row (None: nothing checked)."""
    v = norm.verification
    if not v.checked:
        return None
    verification = instance_factory(LeadVerification)(
        lead_id=lead.pk,
        email_valid=v.email_valid,
        email_reason=v.email_reason,
        email_domain=v.email_domain,
        email_disposable=v.email_disposable,
        email_free=v.email_free,
        phone_valid=v.phone_valid,
        phone_type=v.phone_type,
        phone_region=v.phone_region,
        method="offline",
    )
    _LEAD.set_cached_value(verification, lead)  # as ``LeadVerification(lead=lead)`` would
    return verification


def company_data_apply(lead: Lead, company_data: Mapping[str, Any]) -> None:
    """Fill the lead's empty company fields from what enrichment found."""
    for name in ("company_name", "company_domain", "country"):
        value = company_data.get(name)
        if value and not getattr(lead, name):
            setattr(lead, name, value)


def lead_rows_build(
    *,
    norm: NormalizedLead,
    tenant: Organization,
    channel: str,
    source: str,
    occurred_at: dt.datetime,
    partner: User | None = None,
    actor: User | None = None,
    last_activity_at: dt.datetime | None = None,
    lead_id: uuid.UUID | None = None,
    audit_payload: Mapping[str, Any] | None = None,
    consent: ConsentContext | None = None,
) -> LeadRows:
    """Build a new lead from a normalized delivery, with its identities, check and audit event.

    The offline company guess (from the email domain) is applied here, since the company link and
    the score read it. ``lead_id``: an id chosen by the caller (else the model's default);
    ``audit_payload``: keys added to the ``lead.created`` payload; ``consent``: how the delivery's
    consent decisions are recorded (default: by its channel, wording unspecified; resolved, or it
    costs a query).
    """
    lead = instance_factory(Lead)(
        **({"id": lead_id} if lead_id is not None else {}),
        tenant_id=tenant.pk,
        channel=channel,
        source=source,
        assigned_partner_id=getattr(partner, "pk", None),
        attributes=norm.attributes,
        last_activity_at=last_activity_at,
        **norm.fields,
    )
    _TENANT.set_cached_value(lead, tenant)  # as ``Lead(tenant=…, assigned_partner=…)`` would
    _PARTNER.set_cached_value(lead, partner)
    # The consent ledger decides; the lead's consent fields are its cache, set from these records.
    consents = new_lead_consents(lead=lead, norm=norm, occurred_at=occurred_at, context=consent)
    company_data_apply(lead, OfflineProvider().company(lead, norm.verification)[0])
    # The blind indexes (``Lead.refresh_blind_indexes``) are the identity hashes the normalizer
    # computed from the same normalized email and E.164 number: taken, not parsed and hashed again.
    hashes = dict(norm.identities)
    lead.email_hash = hashes.get(LeadIdentity.Kind.EMAIL) or email_index(lead.email)
    lead.phone_hash = hashes.get(LeadIdentity.Kind.PHONE) or phone_index(lead.phone)
    audit_event = audit_event_build(
        event_type="lead.created",
        actor=actor,
        obj=lead,
        tenant=tenant,
        payload={
            "channel": channel,
            "source": source,
            "public_id": lead.public_id,
            "is_test": lead.is_test,
            # The consent decisions written with the lead (the bulk import audits them here only).
            **({"consents": [f"{r.code}:{r.action}" for r in consents]} if consents else {}),
            **(audit_payload or {}),
        },
    )
    return LeadRows(
        lead=lead,
        identities=list(norm.identities),
        verification=verification_build(lead, norm),
        audit_event=audit_event,
        consents=consents,
    )
