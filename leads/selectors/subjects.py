"""A data subject in the leads app: who the person is (the resolver) and what is held about them (the export).

Registered with ``compliance.registry`` by ``leads.subject_data``. Every query here is index-backed:
leads by primary key, public id, blind index, provider id or ``merged_into``; identities by their
unique (tenant, kind, value_hash) key with every tenant listed (one index descent per tenant, where
a query without the tenant would read the whole index); child rows by their lead foreign key.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Q

from accounts.models import Organization
from compliance.blind_index import blind_index, email_index, phone_index
from compliance.registry import Subject, SubjectNotFound, SubjectQuery
from leads.models import (
    PUBLIC_ID_PREFIX,
    AssignmentDecision,
    Company,
    Lead,
    LeadActivity,
    LeadAlert,
    LeadAssignment,
    LeadEnrichment,
    LeadIdentity,
    LeadIntent,
    LeadMagnet,
    LeadMerge,
    LeadScoreHistory,
    LeadVerification,
)

#: Lead columns that hold a channel's own id of the person; the identity kind has the same name.
PROVIDER_ID_FIELDS = ("facebook_lead_id", "linkedin_response_id", "instagram_igsid")
#: Identity kinds that name the person (not one delivery): they link the person's leads across tenants.
CONTACT_KINDS = (LeadIdentity.Kind.EMAIL, LeadIdentity.Kind.PHONE)
#: The export sections of the leads app, in document order.
SECTIONS = (
    "leads",
    "activities",
    "offers",
    "merges",
    "assignment_decisions",
    "identities",
    "score_history",
    "verifications",
    "intents",
    "enrichments",
    "lead_magnets",
    "alerts",
)
_PUBLIC_ID = re.compile(rf"^{PUBLIC_ID_PREFIX}[A-Z2-7]{{8}}$")
#: Merge chains are short (a merge moves everything to the survivor); this only stops a corrupt cycle.
MAX_CHAIN_ROUNDS = 50
ACTIVITY_CHUNK = 2000


def jsonable(value: Any) -> Any:
    """The value with UUIDs, dates, times and decimals as strings, recursively (an export is JSON)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(item) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


# --- The resolver ------------------------------------------------------------------------------


def _lead_seed(value: str) -> set[uuid.UUID]:
    """The lead a lead id or public id names; ``SubjectNotFound`` for anything else."""
    text = (value or "").strip()
    if _PUBLIC_ID.match(text.upper()):
        found = Lead.objects.filter(public_id=text.upper()).values_list("pk", flat=True).first()
    else:
        try:
            found = Lead.objects.filter(pk=uuid.UUID(text)).values_list("pk", flat=True).first()
        except ValueError:
            found = None
    if found is None:
        raise SubjectNotFound(value)
    return {found}


def _tenant_ids() -> list[int]:
    return list(Organization.objects.order_by("pk").values_list("pk", flat=True))


def _identity_owners(pairs: dict[str, set[str]], tenant_ids: list[int]) -> set[uuid.UUID]:
    """Leads holding any of these (kind → hashes) identities, in every tenant."""
    q = Q()
    for kind, hashes in pairs.items():
        hashes = {value for value in hashes if value}
        if hashes:
            q |= Q(kind=kind, value_hash__in=sorted(hashes))
    if not q or not tenant_ids:
        return set()
    rows = LeadIdentity.objects.filter(q, tenant_id__in=tenant_ids).values_list("lead_id", flat=True)
    return set(rows)


def _contact_owners(emails: set[str], phones: set[str], tenant_ids: list[int]) -> set[uuid.UUID]:
    """Leads with one of these email/phone blind indexes, in their columns or in their identities."""
    q = Q()
    if emails:
        q |= Q(email_hash__in=sorted(emails))
    if phones:
        q |= Q(phone_hash__in=sorted(phones))
    found = set(Lead.objects.filter(q).values_list("pk", flat=True)) if q else set()
    return found | _identity_owners({LeadIdentity.Kind.EMAIL: emails, LeadIdentity.Kind.PHONE: phones}, tenant_ids)


def _with_merge_chains(ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """The leads plus every lead they were merged into and every lead merged into them (transitively)."""
    known = set(ids)
    frontier = set(ids)
    for _round in range(MAX_CHAIN_ROUNDS):
        if not frontier:
            break
        rows = Lead.objects.filter(Q(pk__in=frontier) | Q(merged_into_id__in=frontier)).values_list(
            "pk", "merged_into_id"
        )
        found = {pk for row in rows for pk in row if pk is not None}
        frontier = found - known
        known |= frontier
    return known


def _contact_hashes(ids: set[uuid.UUID]) -> tuple[set[str], set[str]]:
    """The email and phone blind indexes these leads hold (columns and identities)."""
    emails: set[str] = set()
    phones: set[str] = set()
    for email_hash, phone_hash in Lead.objects.filter(pk__in=ids).values_list("email_hash", "phone_hash"):
        emails.add(email_hash)
        phones.add(phone_hash)
    identities = LeadIdentity.objects.filter(lead_id__in=ids, kind__in=CONTACT_KINDS).values_list("kind", "value_hash")
    for kind, value_hash in identities:
        (emails if kind == LeadIdentity.Kind.EMAIL else phones).add(value_hash)
    return emails - {""}, phones - {""}


def subject_hashes(ids: Iterable[Any]) -> dict[str, list[str]]:
    """Every blind index the leads hold: identities by kind, email/phone columns, provider ids hashed."""
    ids = list(ids)
    hashes: dict[str, set[str]] = defaultdict(set)
    for kind, value_hash in LeadIdentity.objects.filter(lead_id__in=ids).values_list("kind", "value_hash"):
        hashes[kind].add(value_hash)
    columns = ("email_hash", "phone_hash", *PROVIDER_ID_FIELDS)
    for email_hash, phone_hash, *provider_ids in Lead.objects.filter(pk__in=ids).values_list(*columns):
        hashes[LeadIdentity.Kind.EMAIL].add(email_hash)
        hashes[LeadIdentity.Kind.PHONE].add(phone_hash)
        for kind, value in zip(PROVIDER_ID_FIELDS, provider_ids, strict=True):
            hashes[kind].add(blind_index(kind, value))
    return {kind: sorted(values - {""}) for kind, values in sorted(hashes.items()) if values - {""}}


def subject_resolve(query: SubjectQuery) -> Subject:
    """The person a query names: their leads in every tenant (merge chains included) and their identity hashes.

    ``lead`` (uuid or public id; unknown: ``SubjectNotFound``), ``email``, ``phone`` (blind index over
    the lead columns and the identity graph) or ``linkedin_response_id``. From the leads found, the
    person's other leads are those sharing an email or phone with them (one step, in every tenant: the
    rule the identity graph applies inside a tenant) and everything merged with any of them. An email
    or phone that matches nobody is an empty ``Subject``.
    """
    kind, value = query.kind, query.value or ""
    tenant_ids = _tenant_ids()
    if kind == "lead":
        seeds = _lead_seed(value)
    elif kind == "email":
        seeds = _contact_owners({email_index(value)} - {""}, set(), tenant_ids)
    elif kind == "phone":
        seeds = _contact_owners(set(), {phone_index(value)} - {""}, tenant_ids)
    elif kind == LeadIdentity.Kind.LINKEDIN_RESPONSE_ID:
        response_id = value.strip()
        seeds = set(Lead.objects.filter(linkedin_response_id=response_id).values_list("pk", flat=True))
        seeds |= _identity_owners({kind: {blind_index(kind, response_id)}}, tenant_ids) if response_id else set()
    else:
        raise ValueError(f"unknown subject query kind {kind!r}")
    if not seeds:
        return Subject(query=query)
    leads = _with_merge_chains(seeds)
    emails, phones = _contact_hashes(leads)
    more = _contact_owners(emails, phones, tenant_ids) - leads
    if more:
        leads |= _with_merge_chains(more)
    hashes = subject_hashes(leads)
    if kind == LeadIdentity.Kind.LINKEDIN_RESPONSE_ID and value.strip():
        known = set(hashes.get(kind, []))
        hashes[kind] = sorted(known | {blind_index(kind, value)})
    return Subject(query=query, lead_ids=sorted(str(pk) for pk in leads), hashes=hashes)


# --- The export --------------------------------------------------------------------------------


def _rows(queryset, *, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    fields = [f.attname for f in queryset.model._meta.concrete_fields if f.attname not in exclude]
    return [jsonable(row) for row in queryset.values(*fields)]


def _lead_rows(ids: list[str]) -> list[dict[str, Any]]:
    """Every field of each lead, decrypted, with its tenant's name and the companies it is linked to."""
    fields = [f.attname for f in Lead._meta.concrete_fields]
    companies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    links = Company.leads.through.objects.filter(lead_id__in=ids).values(
        "lead_id", "company__domain", "company__name", "company__tier"
    )
    for link in links:
        companies[str(link["lead_id"])].append(
            {"domain": link["company__domain"], "name": link["company__name"], "tier": link["company__tier"]}
        )
    rows = []
    for row in Lead.objects.filter(pk__in=ids).order_by("created_at", "pk").values(*fields, "tenant__name"):
        row = jsonable(row)
        row["tenant_name"] = row.pop("tenant__name")
        row["companies"] = companies.get(row["id"], [])
        rows.append(row)
    return rows


def _merge_rows(ids: list[str]) -> list[dict[str, Any]]:
    """The merge journal entries the leads took part in, with the encrypted before/after values decrypted."""
    entries = LeadMerge.objects.filter(Q(survivor_id__in=ids) | Q(merged_lead_id__in=ids)).order_by("created_at", "pk")
    rows = []
    for row in entries.values(*[f.attname for f in LeadMerge._meta.concrete_fields]):
        text = row.pop("changes") or ""
        row["changes"] = json.loads(text) if text else {}
        rows.append(jsonable(row))
    return rows


def subject_leads_export(subject: Subject) -> dict[str, list[Any]]:
    """What the leads app holds about the person, decrypted, one list per section (a few queries, no N+1)."""
    ids = list(subject.lead_ids)
    if not ids:
        return {section: [] for section in SECTIONS}
    activities = LeadActivity.objects.filter(lead_id__in=ids).order_by("lead_id", "occurred_at", "pk")
    fields = [f.attname for f in LeadActivity._meta.concrete_fields]
    return {
        "leads": _lead_rows(ids),
        "activities": [jsonable(row) for row in activities.values(*fields).iterator(chunk_size=ACTIVITY_CHUNK)],
        "offers": _rows(LeadAssignment.objects.filter(lead_id__in=ids).order_by("offered_at", "pk")),
        "merges": _merge_rows(ids),
        "assignment_decisions": _rows(AssignmentDecision.objects.filter(lead_id__in=ids).order_by("created_at", "pk")),
        # Kinds only: a blind-index hash means nothing to the person.
        "identities": _rows(
            LeadIdentity.objects.filter(lead_id__in=ids).order_by("created_at", "pk"), exclude=("value_hash",)
        ),
        "score_history": _rows(LeadScoreHistory.objects.filter(lead_id__in=ids).order_by("created_at", "pk")),
        "verifications": _rows(LeadVerification.objects.filter(lead_id__in=ids).order_by("checked_at", "pk")),
        "intents": _rows(LeadIntent.objects.filter(lead_id__in=ids).order_by("created_at", "pk")),
        "enrichments": _rows(LeadEnrichment.objects.filter(lead_id__in=ids).order_by("created_at", "pk")),
        "lead_magnets": _rows(LeadMagnet.objects.filter(lead_id__in=ids).order_by("created_at", "pk")),
        "alerts": _rows(LeadAlert.objects.filter(lead_id__in=ids).order_by("created_at", "pk")),
    }


def subject_raw_provider_ids(lead_ids: Iterable[Any]) -> dict[str, set[str]]:
    """The channels' own ids of the person (Facebook lead id, LinkedIn response id, IGSID), in clear.

    From the leads' columns and from the merge journal of deliveries merged into them (a merged
    delivery's id is only there). The webhook ledger is keyed by these ids; read them before the
    leads eraser blanks them (it runs last for that reason).
    """
    ids = list(lead_ids)
    found: dict[str, set[str]] = {name: set() for name in PROVIDER_ID_FIELDS}
    if not ids:
        return found
    for values in Lead.objects.filter(pk__in=ids).values_list(*PROVIDER_ID_FIELDS):
        for name, value in zip(PROVIDER_ID_FIELDS, values, strict=True):
            if value:
                found[name].add(value)
    journal = LeadMerge.objects.filter(Q(survivor_id__in=ids) | Q(merged_lead_id__in=ids)).values_list(
        "changes", flat=True
    )
    for text in journal:
        data = json.loads(text) if text else {}
        fields = ((data.get("payload") or {}).get("fields") or {}) if isinstance(data, dict) else {}
        for name in PROVIDER_ID_FIELDS:
            value = fields.get(name)
            if isinstance(value, str) and value:
                found[name].add(value)
    return found
