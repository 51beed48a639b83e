"""Undoable merges (SPEC §4.3): survivorship rules, a journal of every change, and ``lead_unmerge``.

Survivorship: empty fields are filled, a differing non-empty value keeps the survivor's value and
the newer one is kept as an alternative in the journal, and rows that belong to the person
(activities, enrichments, intents, verifications, offers, consents, identities, companies) move to
the survivor. Consent is the ledger's: with both leads' records on the survivor, the newest decides
(an opt-out after the other lead's consent survives), and the survivor's consent cache is read from
it after every merge and undo. The journal stores
values before/after (encrypted: they are PII) and the ids of moved rows, which is what makes an
exact undo possible.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from compliance.models import ConsentRecord
from compliance.services import audit_record
from core.exceptions import ConflictError, DomainError, NotFoundError
from core.transactions import on_commit, send_after_commit
from leads.models import (
    ATTRIBUTION_FIELDS,
    PERSON_FIELDS,
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
from leads.services.consent import lead_consent_cache, lead_consent_cache_refresh
from leads.signals import lead_partner_changed

#: Lead fields the survivorship rules look at (status, score and ownership are not data).
SURVIVOR_FIELDS = (
    *PERSON_FIELDS,
    *ATTRIBUTION_FIELDS,
    "facebook_lead_id",
    "linkedin_response_id",
    "instagram_igsid",
)
RESTORABLE_FIELDS = (
    *SURVIVOR_FIELDS,
    "attributes",
    "consent_marketing",
    "consent_at",
    "opted_out_at",
    "is_test",
    "assigned_partner",
    "last_activity_at",
)
#: Rows that belong to the person and move with a merge: (model, foreign key name).
MOVABLE_ROWS: list[tuple[type[Model], str]] = [
    (LeadActivity, "lead"),
    (LeadEnrichment, "lead"),
    (LeadIntent, "lead"),
    (LeadVerification, "lead"),
    (LeadMagnet, "lead"),
    (LeadIdentity, "lead"),
    (LeadAssignment, "lead"),
    (ConsentRecord, "subject_lead"),
]


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Model):
        return value.pk
    return value


def _field_value(lead: Lead, name: str) -> Any:
    field = Lead._meta.get_field(name)
    return getattr(lead, field.attname)


def _set_field(lead: Lead, name: str, value: Any) -> None:
    field = Lead._meta.get_field(name)
    setattr(lead, field.attname, field.to_python(value) if value is not None else None)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    return a == b


class Survivorship:
    """Apply incoming values to a survivor and remember every change for the journal."""

    def __init__(self, lead: Lead, *, channel: str = ""):
        self.lead = lead
        self.channel = channel
        self.fields: dict[str, list[Any]] = {}
        self.alternatives: list[dict[str, Any]] = []

    def _change(self, name: str, value: Any) -> None:
        before = _field_value(self.lead, name)
        _set_field(self.lead, name, value)
        after = _field_value(self.lead, name)
        if name in self.fields:
            self.fields[name][1] = _json_value(after)
        else:
            self.fields[name] = [_json_value(before), _json_value(after)]

    def fill(self, values: dict[str, Any]) -> None:
        """Fill empty fields; keep differing values as alternatives (the survivor's value stays)."""
        for name in SURVIVOR_FIELDS:
            value = values.get(name)
            if _is_empty(value):
                continue
            current = _field_value(self.lead, name)
            if _is_empty(current):
                self._change(name, value)
            elif not _same(current, value):
                self.alternatives.append(
                    {
                        "field": name,
                        "value": _json_value(value),
                        "channel": self.channel,
                        "at": timezone.now().isoformat(),
                    }
                )

    def merge_attributes(self, attributes: dict[str, Any]) -> None:
        current = dict(self.lead.attributes or {})
        merged = dict(current)
        for key, value in (attributes or {}).items():
            if key not in merged or _is_empty(merged[key]):
                merged[key] = value
            elif key == "_invalid" and isinstance(value, dict) and isinstance(merged[key], dict):
                merged[key] = {**value, **merged[key]}
            elif merged[key] != value:
                self.alternatives.append(
                    {
                        "field": f"attributes.{key}",
                        "value": value,
                        "channel": self.channel,
                        "at": timezone.now().isoformat(),
                    }
                )
        if merged != current:
            self._change("attributes", merged)

    def consent_cache(self, cache: dict[str, Any]) -> None:
        """Take the consent cache the ledger gives the survivor (journaled like every other change)."""
        for name, value in cache.items():
            if _field_value(self.lead, name) != value:
                self._change(name, value)

    def real_data(self, is_test: bool) -> None:
        """Real data arriving for a test lead makes it a real lead (never the other way round)."""
        if self.lead.is_test and not is_test:
            self._change("is_test", False)

    def other_lead(self, other: Lead) -> None:
        self.fill({name: _field_value(other, name) for name in SURVIVOR_FIELDS})
        self.merge_attributes(other.attributes)
        self.real_data(other.is_test)
        if self.lead.assigned_partner_id is None and other.assigned_partner_id is not None:
            self._change("assigned_partner", other.assigned_partner_id)
        if other.last_activity_at and (
            self.lead.last_activity_at is None or other.last_activity_at > self.lead.last_activity_at
        ):
            self._change("last_activity_at", other.last_activity_at)
        if other.status != self.lead.status:
            self.alternatives.append({"field": "status", "value": other.status, "channel": other.channel})

    @property
    def changed_fields(self) -> list[str]:
        return [Lead._meta.get_field(name).attname for name in self.fields]

    def save(self) -> None:
        if self.fields:
            names = {Lead._meta.get_field(n).name for n in self.fields}
            self.lead.save(update_fields=[*names, "updated_at"])
            if "assigned_partner" in self.fields:  # the survivor took the other lead's partner
                before, after = self.fields["assigned_partner"]
                send_after_commit(
                    lead_partner_changed,
                    sender=Lead,
                    lead=self.lead,
                    from_partner_id=before,
                    to_partner_id=after,
                    actor=None,
                )

    def journal(self, **extra: Any) -> str:
        return json.dumps({"fields": self.fields, "alternatives": self.alternatives, **extra}, default=str)


def _move_rows(source: Lead, target: Lead) -> dict[str, list[Any]]:
    """Re-point the person's rows; an open offer on both sides: the merged lead's one is revoked."""
    moved: dict[str, list[Any]] = {}
    if LeadAssignment.objects.filter(lead=target, status=LeadAssignment.Status.OFFERED).exists():
        revoked = list(
            LeadAssignment.objects.filter(lead=source, status=LeadAssignment.Status.OFFERED).values_list(
                "pk", flat=True
            )
        )
        if revoked:
            LeadAssignment.objects.filter(pk__in=revoked).update(
                status=LeadAssignment.Status.REVOKED, responded_at=timezone.now(), reason="merged"
            )
            moved["revoked_offers"] = revoked
    for model, fk in MOVABLE_ROWS:
        ids = list(model.objects.filter(**{fk: source}).values_list("pk", flat=True))
        if ids:
            model.objects.filter(pk__in=ids).update(**{fk: target})
            moved[model._meta.label_lower] = ids
    company_ids = set(Company.leads.through.objects.filter(lead=source).values_list("company_id", flat=True))
    if company_ids:
        already = set(
            Company.leads.through.objects.filter(lead=target, company_id__in=company_ids).values_list(
                "company_id", flat=True
            )
        )
        Company.leads.through.objects.filter(lead=source).delete()
        Company.leads.through.objects.bulk_create(
            [Company.leads.through(company_id=c, lead=target) for c in sorted(company_ids - already)]
        )
        moved["companies"] = sorted(company_ids)
        moved["companies_added"] = sorted(company_ids - already)
    return moved


def _live(lead: Lead) -> Lead:
    seen = set()
    while lead.merged_into_id is not None and lead.pk not in seen:
        seen.add(lead.pk)
        lead = Lead.objects.get(pk=lead.merged_into_id)
    return lead


def merge_locked(*, survivor: Lead, other: Lead, kind: str, actor: User | None, channel: str = "") -> LeadMerge:
    """Merge ``other`` into ``survivor``; both rows must already be locked by the caller."""
    survivorship = Survivorship(survivor, channel=channel or other.channel)
    survivorship.other_lead(other)
    moved = _move_rows(other, survivor)
    # Both leads' consent records are the survivor's now: the newest decides its cache.
    survivorship.consent_cache(lead_consent_cache(survivor))
    survivorship.save()
    other.merged_into = survivor
    other.save(update_fields=["merged_into", "updated_at"])
    entry = LeadMerge.objects.create(
        survivor=survivor,
        merged_lead=other,
        kind=kind,
        channel=channel or other.channel,
        changes=survivorship.journal(),
        moved_rows=moved,
        identities=moved.get(LeadIdentity._meta.label_lower, []),
        actor=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        event_type="lead.merged",
        actor=actor,
        obj=survivor,
        payload={"merged": other.public_id, "merge_id": entry.pk, "kind": kind, "fields": sorted(survivorship.fields)},
    )
    return entry


def _enqueue_rescore(*leads: Lead) -> None:
    from leads.tasks import lead_rescore_task

    for lead in leads:
        on_commit(lead_rescore_task.delay, str(lead.pk))


@transaction.atomic
def lead_merge(*, survivor: Lead, others: list[Lead], actor: User | None) -> Lead:
    """Merge ``others`` into ``survivor`` by hand (admin action, API-507); every step is journaled."""
    others = [o for o in others if o.pk != survivor.pk]
    if not others:
        raise DomainError(_("Choose at least one other lead to merge."), code="nothing_to_merge")
    ids = sorted({survivor.pk, *(o.pk for o in others)}, key=str)
    locked = {lead.pk: lead for lead in Lead.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    if len(locked) != len(ids):
        raise NotFoundError(_("A lead to merge does not exist."))
    survivor = locked[survivor.pk]
    for lead in locked.values():
        if lead.merged_into_id is not None:
            raise ConflictError(
                _("Lead %(public_id)s is already merged into another lead.") % {"public_id": lead.public_id},
                code="already_merged",
            )
        if lead.tenant_id != survivor.tenant_id:
            raise DomainError(_("Leads of different tenants cannot be merged."), code="tenant_mismatch")
    for other in sorted((locked[o.pk] for o in others), key=lambda x: (x.created_at, str(x.pk))):
        merge_locked(survivor=survivor, other=other, kind=LeadMerge.Kind.MANUAL, actor=actor)
    _enqueue_rescore(survivor)
    return survivor


def _restore_fields(lead: Lead, fields: dict[str, list[Any]]) -> list[str]:
    """Put back values the merge set, unless someone changed them since (those are reported)."""
    conflicts, changed = [], []
    for name, (before, after) in fields.items():
        if name not in RESTORABLE_FIELDS:
            continue
        current = _json_value(_field_value(lead, name))
        if current != after:
            conflicts.append(name)
            continue
        _set_field(lead, name, before)
        changed.append(Lead._meta.get_field(name).name)
    if changed:
        lead.save(update_fields=[*changed, "updated_at"])
    return conflicts


def _move_back(moved: dict[str, list[Any]], survivor: Lead, target: Lead) -> None:
    for model, fk in MOVABLE_ROWS:
        ids = moved.get(model._meta.label_lower)
        if ids:
            model.objects.filter(pk__in=ids, **{fk: survivor}).update(**{fk: target})
    if moved.get("companies"):
        Company.leads.through.objects.filter(lead=survivor, company_id__in=moved.get("companies_added", [])).delete()
        Company.leads.through.objects.bulk_create(
            [Company.leads.through(company_id=c, lead=target) for c in moved["companies"]], ignore_conflicts=True
        )


@transaction.atomic
def lead_unmerge(*, merge: LeadMerge, actor: User | None) -> Lead:
    """Undo a merge: restore the survivor's fields, move rows and identities back, revive the lead.

    For an incoming delivery that was merged (no merged lead), the delivery becomes a lead of its
    own again, with the identities and activities it brought. Returns the revived/split-off lead.
    """
    entry = LeadMerge.objects.select_for_update().filter(pk=merge.pk).first()
    if entry is None:
        raise NotFoundError(_("Merge journal entry not found."))
    if entry.undone_at is not None:
        raise ConflictError(_("This merge has already been undone."), code="already_undone")
    survivor = Lead.objects.select_for_update().get(pk=entry.survivor_id)
    if survivor.merged_into_id is not None:
        raise ConflictError(_("The survivor was merged again since; undo that merge first."), code="survivor_merged")
    if survivor.erased_at is not None:
        # The journal's values were destroyed with the person: undoing would split off an empty lead.
        raise ConflictError(
            _("The personal data of these leads was erased; the merge cannot be undone."), code="erased"
        )
    data = entry.change_data
    conflicts = _restore_fields(survivor, data.get("fields", {}))
    if entry.merged_lead_id is not None:
        revived = Lead.objects.select_for_update().get(pk=entry.merged_lead_id)
        _move_back(entry.moved_rows, survivor, revived)
        revived.merged_into = None
        revived.save(update_fields=["merged_into", "updated_at"])
    else:
        revived = _split_off(entry, survivor, data.get("payload", {}))
        entry.split_lead = revived
    # Consent records went back with the other rows: both caches are read from the ledger again.
    lead_consent_cache_refresh(survivor)
    lead_consent_cache_refresh(revived)
    entry.undone_at = timezone.now()
    entry.undone_by = actor if getattr(actor, "pk", None) else None
    entry.save(update_fields=["undone_at", "undone_by", "split_lead"])
    audit_record(
        event_type="lead.unmerged",
        actor=actor,
        obj=survivor,
        payload={"merge_id": entry.pk, "revived": revived.public_id, "conflicts": conflicts},
    )
    _enqueue_rescore(survivor, revived)
    return revived


def _split_off(entry: LeadMerge, survivor: Lead, payload: dict[str, Any]) -> Lead:
    """Create the lead a merged delivery would have been, and give it back its identities and rows."""
    lead = Lead(
        tenant_id=survivor.tenant_id,
        channel=entry.channel or survivor.channel,
        source=survivor.source,
        assigned_partner_id=survivor.assigned_partner_id,
        attributes=payload.get("attributes") or {},
    )
    for name, value in (payload.get("fields") or {}).items():
        if name in RESTORABLE_FIELDS:
            _set_field(lead, name, value)
    lead.save()
    _move_back(entry.moved_rows, survivor, lead)
    audit_record(
        event_type="lead.created",
        actor=None,
        obj=lead,
        payload={"channel": lead.channel, "source": lead.source, "public_id": lead.public_id, "split_from": entry.pk},
    )
    return lead
