"""Erasure (SPEC §12): destroy the personal data of a person's leads, keep the leads as anonymous statistics.

One implementation for every way data is destroyed: an erasure request (Art. 17, the subject data
registry's ``leads`` eraser), the LinkedIn ``DELETED`` notification (through that request), the
retention of inactive leads and ``lead_anonymize`` for a single lead. Each table gets one set-based
statement for all of the person's leads; rows that hold nothing any more are left alone, so a second
run changes nothing and counts zero (the erasure request relies on that to tell "already erased").

What stays: channel, source, status, stage and scores, company size band, industry, employee count,
revenue band, region, country, interest type, utm_* campaign attribution, consent flags, dates, the
activity types and their score deltas, offers and their outcome, the merge structure, the audit trail.
What goes: names, email, phone and their blind indexes, free-text answers (``attributes``), job title,
postcode and city, company name, domain and LinkedIn page (a one-person company is the person),
referrer and landing page URLs (their query strings can carry anything), the channels' own ids of
the person, the lead's company links, identities (the tombstone replaces them), checks, free text of
activities, intents, enrichments, lead magnets, merge journals and offers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from accounts.models import Organization
from compliance.models import AuditEvent
from compliance.selectors.subjects import tombstones_matching
from compliance.services import audit_event_build
from leads.models import (
    Company,
    Lead,
    LeadActivity,
    LeadAssignment,
    LeadEnrichment,
    LeadIdentity,
    LeadIntent,
    LeadMagnet,
    LeadMerge,
    LeadVerification,
)
from leads.services.lead_rows import LeadRows

#: Encrypted contact fields (their blind indexes are blanked with them).
PII_FIELDS = ("email", "phone", "first_name", "last_name")
#: Clear-text columns that can identify the person, blanked on erasure.
IDENTIFYING_FIELDS = (
    "email_hash",
    "phone_hash",
    "job_title",
    "postcode",
    "city",
    "company_name",
    "company_domain",
    "company_linkedin_url",
    "referrer",
    "landing_page",
    "facebook_lead_id",
    "linkedin_response_id",
    "instagram_igsid",
    "lost_reason",
)
#: Every column the erasure empties; ``attributes`` are the free-text answers.
ERASED_FIELDS = (*PII_FIELDS, *IDENTIFYING_FIELDS, "attributes")


#: What a column holding nothing reads as text: empty (or encrypted empty) text, an empty JSON object or list.
EMPTY_TEXTS = ("", "{}", "[]", "null")


def holding(queryset: QuerySet, *names: str) -> QuerySet:
    """The rows of ``queryset`` where any of these columns holds something (NULL holds nothing).

    Encrypted columns allow no equality lookup (every value has its own nonce, only "" is stored
    as is), so each column is compared as text: one rule for clear text, ciphertext and JSON.
    """
    aliases = {f"_held_{name}": Cast(name, TextField()) for name in names}
    q = Q()
    for alias in aliases:
        q |= Q(**{f"{alias}__isnull": False}) & ~Q(**{f"{alias}__in": EMPTY_TEXTS})
    return queryset.alias(**aliases).filter(q)


def _leads_to_erase(ids: list[Any]) -> list[tuple[Any, int]]:
    """(id, tenant id) of the leads that are not erased yet or hold personal data again."""
    leads = Lead.objects.filter(pk__in=ids)
    pending = leads.filter(erased_at__isnull=True).values_list("pk", "tenant_id")
    held = holding(leads, *ERASED_FIELDS).values_list("pk", "tenant_id")
    return sorted({*pending, *held}, key=lambda row: str(row[0]))


def leads_erase(
    *, lead_ids: Iterable[Any], at: dt.datetime, actor: Any | None, reason_code: str, erasure_id: str = ""
) -> dict[str, int]:
    """Destroy the personal data the leads app holds about these leads; returns rows changed per table.

    Idempotent (a second run returns zeros). Writes ``lead.erased`` per lead it changed (no PII in the
    payload: the erasure id and the reason code). The leads are locked first, so an ingest merging
    into one of them waits and then finds it erased (it is no merge target any more).
    """
    ids = sorted({str(pk) for pk in lead_ids})
    counts = dict.fromkeys(
        (
            "leads",
            "identities",
            "verifications",
            "activities",
            "intents",
            "enrichments",
            "lead_magnets",
            "merges",
            "offers",
            "company_links",
        ),
        0,
    )
    if not ids:
        return counts
    with transaction.atomic():
        list(Lead.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
        targets = _leads_to_erase(ids)
        if targets:
            blanks = dict.fromkeys((*PII_FIELDS, *IDENTIFYING_FIELDS), "")
            counts["leads"] = Lead.objects.filter(pk__in=[pk for pk, _tenant in targets]).update(
                **blanks, attributes={}, erased_at=Coalesce(F("erased_at"), Value(at)), updated_at=at
            )
        counts["identities"], _ = LeadIdentity.objects.filter(lead_id__in=ids).delete()
        counts["verifications"], _ = LeadVerification.objects.filter(lead_id__in=ids).delete()
        counts["company_links"], _ = Company.leads.through.objects.filter(lead_id__in=ids).delete()
        counts["activities"] = holding(LeadActivity.objects.filter(lead_id__in=ids), "detail").update(detail={})
        counts["intents"] = holding(LeadIntent.objects.filter(lead_id__in=ids), "keywords", "analysis").update(
            keywords=[], analysis={}
        )
        counts["enrichments"] = holding(
            LeadEnrichment.objects.filter(lead_id__in=ids), "raw_response", "company_data"
        ).update(raw_response={}, company_data={})
        counts["lead_magnets"] = holding(LeadMagnet.objects.filter(lead_id__in=ids), "quiz_results").update(
            quiz_results={}
        )
        journal = LeadMerge.objects.filter(Q(survivor_id__in=ids) | Q(merged_lead_id__in=ids))
        counts["merges"] = holding(journal, "changes", "identities").update(changes="", identities=[])
        counts["offers"] = holding(LeadAssignment.objects.filter(lead_id__in=ids), "reason").update(reason="")
        if targets:
            _audit(targets, actor=actor, reason_code=reason_code, erasure_id=erasure_id)
    return counts


def _audit(targets: list[tuple[Any, int]], *, actor: Any | None, reason_code: str, erasure_id: str) -> None:
    """``lead.erased`` for each lead, in one insert (a person may have many leads)."""
    tenants = Organization.objects.in_bulk({tenant_id for _pk, tenant_id in targets})
    payload = {"reason": reason_code, **({"erasure": erasure_id} if erasure_id else {})}
    events = [
        audit_event_build(
            event_type="lead.erased",
            actor=actor,
            obj=Lead(pk=pk, tenant_id=tenant_id),
            tenant=tenants.get(tenant_id),
            payload=payload,
        )
        for pk, tenant_id in targets
    ]
    AuditEvent.objects.bulk_create(events)


def lead_anonymize(*, lead: Lead, actor: Any, reason: str) -> Lead:
    """Erase one lead's personal data (no tombstone: the person did not ask to be forgotten); returns it fresh."""
    leads_erase(lead_ids=[lead.pk], at=timezone.now(), actor=actor, reason_code=reason)
    return Lead.objects.get(pk=lead.pk)


def lead_rows_flag_erased(rows: Iterable[LeadRows]) -> int:
    """Mark new leads of persons erased before (a tombstone matches one of their identities): one query.

    Sets ``erased_before`` on the unsaved leads to the earliest matching erasure, so an admin sees
    "erased on …" instead of the person silently coming back. Returns how many were flagged.
    """
    rows = list(rows)
    matches = tombstones_matching(identity for row in rows for identity in row.identities)
    if not matches:
        return 0
    flagged = 0
    for row in rows:
        times = [matches[identity] for identity in row.identities if identity in matches]
        if times:
            row.lead.erased_before = min(times)
            flagged += 1
    return flagged
