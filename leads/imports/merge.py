"""Rows of an import batch that match one live lead: ``lead_ingest``'s merge rules, written in bulk.

The survivorship rules (``Survivorship``) decide what a row changes; each change is journaled in
``LeadMerge`` and audited as ``lead.merged`` like a merged delivery. A row that brings nothing new
leaves the lead untouched (re-running a file creates and changes nothing).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from compliance.models import AuditEvent, ConsentRecord
from compliance.selectors.consent import consent_records_for
from compliance.services import audit_event_build
from compliance.services.consent import consent_audit_event_build
from core.bulk import bulk_update_sql
from core.db import bound_cursor
from leads.imports import graph
from leads.imports.plan import ImportContext, ImportCounts, ImportRow
from leads.models import Lead, LeadIdentity, LeadMerge, LeadScoreHistory, LeadVerification
from leads.services.alerts import burning_alert_create
from leads.services.consent import MARKETING, delivery_consent_records, has_consent_decision, marketing_cache
from leads.services.core import burning_crossed
from leads.services.ingest import journal_payload
from leads.services.lead_rows import verification_build
from leads.services.merge import Survivorship
from leads.services.scoring import SCORE_FIELDS, score_apply
from leads.services.scoring_batch import score_inputs_for


@dataclass(eq=False)
class _Change:
    row: ImportRow
    lead: Lead
    survivorship: Survivorship
    claimed: list[int]
    verification: LeadVerification | None
    consents: list[ConsentRecord]


def merge(
    ctx: ImportContext,
    items: list[tuple[ImportRow, Any]],
    owned: dict[tuple[str, str], Any],
    counts: ImportCounts,
    fallback: list[ImportRow],
) -> None:
    """Apply rows to the one live lead each matches: survivorship, journal, rescore; all in bulk."""
    if not items:
        return
    items.sort(key=lambda item: item[0].number)
    ids = sorted({lead_id for _row, lead_id in items}, key=str)
    leads = {lead.pk: lead for lead in Lead.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    wanted: list[tuple[tuple[str, str], Any]] = []
    usable: list[tuple[ImportRow, Lead, list[tuple[str, str]]]] = []
    for row, lead_id in items:
        lead = leads.get(lead_id)
        if lead is None or lead.merged_into_id is not None:
            fallback.append(row)
            continue
        if any(owned.get(i, lead_id) != lead_id for i in row.norm.identities):
            fallback.append(row)  # bridges to another lead: lead_ingest merges the two
            continue
        new = [i for i in row.norm.identities if i not in owned]
        for identity in new:
            owned[identity] = lead_id
            wanted.append((identity, lead_id))
        usable.append((row, lead, new))
    claimed = graph.claim(ctx.tenant.pk, wanted)
    conflicted = {identity for identity, _lead in wanted if identity not in claimed}
    changes: list[_Change] = []
    lost: list[int] = []
    now = timezone.now()
    plan = ctx.plan
    # The consent histories of the leads that rows bring a consent decision for: one query per batch.
    histories = consent_records_for(
        {lead.pk: lead for row, lead, _new in usable if has_consent_decision(row.norm)}.values(), MARKETING
    )
    for row, lead, new in usable:
        if conflicted.intersection(row.norm.identities):
            lost += [claimed[i] for i in new if i in claimed]
            row.contended = True
            fallback.append(row)
            continue
        norm = row.norm
        survivorship = Survivorship(lead, channel=plan.channel)
        survivorship.fill(norm.fields)
        survivorship.merge_attributes(norm.attributes)
        consents: list[ConsentRecord] = []
        if has_consent_decision(norm):
            # Only decisions that change the person's state are recorded (a re-run file adds none).
            history = histories[lead.pk]
            consents = delivery_consent_records(
                lead=lead, norm=norm, occurred_at=norm.captured_at or now, context=ctx.consent, history=history
            )
            if consents:
                survivorship.consent_cache(marketing_cache(history))
        survivorship.real_data(norm.is_test)
        row_claims = sorted(claimed[i] for i in new)
        if lead.created_at >= plan.started_at:
            counts.duplicates += 1
        else:
            counts.merged += 1
        if not survivorship.fields and not row_claims and not consents:
            counts.unchanged += lead.created_at < plan.started_at
            continue
        verification = None
        if any(kind in (LeadIdentity.Kind.EMAIL, LeadIdentity.Kind.PHONE) for kind, _h in new):
            verification = verification_build(lead, norm)
        changes.append(_Change(row, lead, survivorship, row_claims, verification, consents))
    graph.unclaim(lost)
    if changes:
        _merge_write(ctx, changes, now)


def _merge_write(ctx: ImportContext, changes: list[_Change], now: dt.datetime) -> None:
    """Store the merged leads, their journal entries, audit events and score histories in bulk."""
    plan = ctx.plan
    by_lead: dict[Any, list[_Change]] = defaultdict(list)
    for change in changes:
        by_lead[change.lead.pk].append(change)
    leads = [group[0].lead for group in by_lead.values()]
    # A lead still waiting for its scoring batch is scored there, from what the merges made of it.
    inputs = score_inputs_for([lead for lead in leads if not lead.score_pending])
    histories: list[tuple[Lead, LeadScoreHistory]] = []
    fields: set[str] = set()
    for lead in leads:
        data = inputs[lead.pk][0] if lead.pk in inputs else None
        for change in by_lead[lead.pk]:
            changed = change.survivorship.fields
            fields.update(Lead._meta.get_field(name).name for name in changed)
            if change.verification is not None and data is not None:
                data.email_valid |= bool(change.verification.email_valid) and "email" in changed
                data.phone_valid |= bool(change.verification.phone_valid) and "phone" in changed
        if data is not None:
            history = score_apply(lead, reason=f"Erneuter Kontakt über {plan.channel}", data=data)
            if history is not None:
                histories.append((lead, history))
        lead.refresh_blind_indexes()
        lead.updated_at = now
    fields.update({"email_hash"} if "email" in fields else set())
    fields.update({"phone_hash"} if "phone" in fields else set())
    if any(not lead.score_pending for lead in leads):
        fields.update(SCORE_FIELDS)
    with bound_cursor(binary=True) as cursor:
        cursor.execute(*bulk_update_sql(leads, sorted(fields | {"updated_at"})))

    verifications = [c.verification for c in changes if c.verification is not None]
    LeadVerification.objects.bulk_create(verifications)
    consents = [record for c in changes for record in c.consents]
    ConsentRecord.objects.bulk_create(consents)
    entries = []
    for change in changes:
        moved: dict[str, list[Any]] = {}
        if change.verification is not None:
            moved[LeadVerification._meta.label_lower] = [change.verification.pk]
        if change.claimed:
            moved[LeadIdentity._meta.label_lower] = change.claimed
        if change.consents:  # an undo moves them to the row's own lead
            moved[ConsentRecord._meta.label_lower] = [record.pk for record in change.consents]
        entries.append(
            LeadMerge(
                survivor=change.lead,
                merged_lead=None,
                kind=LeadMerge.Kind.INGEST,
                channel=plan.channel,
                changes=change.survivorship.journal(payload=journal_payload(change.row.norm)),
                moved_rows=moved,
                identities=change.claimed,
                actor=ctx.actor,
            )
        )
    LeadMerge.objects.bulk_create(entries)
    events = [
        audit_event_build(
            event_type="lead.merged",
            actor=ctx.actor,
            obj=change.lead,
            tenant=ctx.tenant,
            payload={
                "merge_id": entry.pk,
                "kind": "ingest",
                "channel": plan.channel,
                "fields": sorted({Lead._meta.get_field(n).name for n in change.survivorship.fields}),
                "import": plan.label,
            },
        )
        for change, entry in zip(changes, entries, strict=True)
    ]
    events += [
        consent_audit_event_build(record, actor=ctx.actor, subject=change.lead, tenant=ctx.tenant)
        for change in changes
        for record in change.consents
    ]
    AuditEvent.objects.bulk_create(events)
    LeadScoreHistory.objects.bulk_create([history for _lead, history in histories])
    for lead, history in histories:
        if burning_crossed(history, lead):
            burning_alert_create(lead=lead, history=history)
