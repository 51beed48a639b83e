"""``lead_ingest``: the one entry point every channel calls (SPEC §4).

Normalize → claim identities → create or merge → verify, enrich offline, score → route. Dedup is
race-free because identities are claimed with ``INSERT … ON CONFLICT DO NOTHING`` against the
unique (tenant, kind, value_hash) key: of two simultaneous deliveries of the same person, one
claims the identity and the other finds it on its retry and merges into that lead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from compliance.models import ConsentRecord
from compliance.services import audit_event_build, audit_record
from core.bulk import chaining_supported, db_value, insert_sql, mark_saved, run_chain
from core.exceptions import ConflictError, DomainError, TransientError
from core.transactions import on_commit, send_after_commit
from leads.models import (
    ATTRIBUTION_FIELDS,
    PERSON_FIELDS,
    Company,
    Lead,
    LeadActivity,
    LeadFormRoute,
    LeadIdentity,
    LeadMerge,
    LeadScoreHistory,
)
from leads.normalize import NormalizedLead, normalize_payload
from leads.services.alerts import burning_alert_create
from leads.services.config import tenant_config
from leads.services.consent import (
    ConsentContext,
    has_consent_decision,
    lead_consent_marketing_set,
    lead_delivery_consent_record,
    new_lead_consent_events,
)
from leads.services.core import burning_crossed, score_history_build
from leads.services.enrichment import (
    enrichment_row_build,
    link_company,
    offline_analysis,
    offline_enrichment,
    remote_enrichment_configured,
)
from leads.services.erasure import lead_rows_flag_erased
from leads.services.lead_rows import COMPANY_UPSERT_TOUCH, LeadRows, lead_rows_build, verification_build
from leads.services.merge import Survivorship, merge_locked
from leads.services.scoring import (
    SCORE_FIELDS,
    ScoreInput,
    compute_score,
    creation_reason,
    icp_match,
    lead_rescore,
    score_apply,
    score_input_for,
    score_result_set,
)
from leads.signals import activity_recorded, lead_created, lead_routed

MAX_CLAIM_ATTEMPTS = 5


class NoIdentityError(DomainError):
    """A lead without email, phone or channel id cannot be deduplicated or contacted."""

    code = "no_identity"


class _IdentityRace(Exception):
    """Another transaction claimed one of our identities between our lookup and our insert."""


@dataclass
class IngestResult:
    lead: Lead
    created: bool = False
    merged: bool = False
    duplicate: bool = False
    #: A merge that filled a field, claimed an identity or bridged leads (``False``: nothing new).
    changed: bool = False


def _route(
    *, tenant: Organization | None, partner: User | None, source: str | None
) -> tuple[Organization, str, User | None]:
    """A partner's own page/campaign → that partner (``meta_self``, no split); else the platform pool."""
    if partner is not None:
        if not partner.is_partner or partner.organization_id is None:
            raise DomainError(_("Leads can only be routed to a sales partner."), code="invalid_partner")
        return tenant or partner.organization, source or Lead.Source.META_SELF, partner
    return tenant or Organization.platform(), source or Lead.Source.ZONE1_POOL, None


def _claim_identities(tenant_id, lead_id, identities: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Insert identities for a lead; return the ones this statement claimed, with their row ids."""
    if not identities:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(*_claim_sql(tenant_id, lead_id, identities))
        return {(kind, value_hash): pk for kind, value_hash, pk in cursor.fetchall()}


def _claim_sql(tenant_id, lead_id, identities: list[tuple[str, str]]) -> tuple[str, list[Any]]:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING`` for identities: the unique key decides who wins."""
    now = timezone.now()
    table = LeadIdentity._meta.db_table
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(identities))
    params: list[Any] = []
    for kind, value_hash in identities:
        params += [tenant_id, str(kind), value_hash, db_value(lead_id), db_value(now)]
    sql = (
        f"INSERT INTO {table} (tenant_id, kind, value_hash, lead_id, created_at) VALUES {rows} "  # noqa: S608 - table name is ours
        "ON CONFLICT (tenant_id, kind, value_hash) DO NOTHING RETURNING kind, value_hash, id"
    )
    return sql, params


def _existing(tenant_id, identities: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Which of these identities are claimed already, and by which lead (one indexed query)."""
    pairs = ", ".join(["(%s, %s)"] * len(identities))
    sql = (
        f"SELECT kind, value_hash, lead_id FROM {LeadIdentity._meta.db_table} "  # noqa: S608 - table name is ours
        f"WHERE tenant_id = %s AND (kind, value_hash) IN ({pairs})"
    )
    params: list[Any] = [tenant_id]
    for kind, value_hash in identities:
        params += [str(kind), value_hash]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(kind, value_hash): lead_id for kind, value_hash, lead_id in cursor.fetchall()}


def journal_payload(norm: NormalizedLead) -> dict[str, Any]:
    """What a merged delivery brought, for its ``LeadMerge`` journal entry."""
    fields = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in norm.fields.items()}
    return {"fields": fields, "attributes": norm.attributes}


def _create(
    *,
    norm: NormalizedLead,
    tenant: Organization,
    channel: str,
    source: str,
    partner: User | None,
    actor: User | None,
    activity: str | None,
    occurred_at: dt.datetime,
    consent: ConsentContext | None,
) -> Lead:
    config = tenant_config(tenant.pk)
    built = lead_rows_build(
        norm=norm,
        tenant=tenant,
        channel=channel,
        source=source,
        occurred_at=occurred_at,
        partner=partner,
        actor=actor,
        last_activity_at=occurred_at if activity else None,
        consent=consent,
    )
    lead = built.lead
    lead_rows_flag_erased([built])  # a person erased before arrives flagged, not silently re-created
    enrichment = offline_enrichment(lead, verification=norm.verification)
    icp_score, icp_reasons, _matched = icp_match(lead, config.icp)
    result = compute_score(
        ScoreInput(
            lead=lead,
            email_valid=bool(norm.verification.email_valid),
            email_disposable=norm.verification.email_disposable,
            phone_valid=bool(norm.verification.phone_valid),
            activity_counts={activity: 1} if activity else {},
        ),
        config,
    )
    score_result_set(lead, result)
    rows: list[Model] = [lead]
    if built.verification is not None:
        rows.append(built.verification)
    rows.append(enrichment_row_build(lead, enrichment, icp_score=icp_score, icp_reasons=icp_reasons))
    if activity:
        rows.append(
            LeadActivity(
                lead=lead, activity_type=activity, channel=channel, occurred_at=occurred_at, actor=_user(actor)
            )
        )
    rows.append(offline_analysis(lead, [activity] if activity else []))
    rows.append(built.audit_event)
    rows += built.consents + new_lead_consent_events(lead, built.consents, context=consent, actor=actor)
    history = score_history_build(
        lead=lead, old_score=0, old_stage=Lead.Stage.COLD, reason=creation_reason(result.breakdown)
    )
    if history is not None:
        rows.append(history)
    # One round trip: the lead, its rows and the company link as CTEs, the identity claim last.
    parts = [insert_sql([row]) for row in rows]
    parts += _company_link_parts(built, first_cte=len(parts))
    claimed = run_chain(parts, _claim_sql(tenant.pk, lead.pk, built.identities))
    if len(claimed) != len(built.identities):
        raise _IdentityRace
    mark_saved(*rows)
    if not chaining_supported():
        link_company(lead)
    if burning_crossed(history, lead):
        history.pk = LeadScoreHistory.objects.filter(lead=lead).values_list("pk", flat=True).get()
        burning_alert_create(lead=lead, history=history)
    # Domain event (leads/signals.py): receivers hear of the new lead once the ingest commits.
    send_after_commit(lead_created, sender=Lead, lead=lead, channel=channel, actor=actor)
    return lead


def _company_link_parts(built: LeadRows, *, first_cte: int) -> list[tuple[str, list[Any]]]:
    """Upsert the lead's company (by tenant and domain) and link it, as two CTEs."""
    company = built.company()
    if company is None or not chaining_supported():
        return []
    sql, params = insert_sql([company])
    upsert = (sql + f" ON CONFLICT (tenant_id, domain) DO UPDATE SET {COMPANY_UPSERT_TOUCH} RETURNING id", params)
    through = Company.leads.through._meta.db_table
    link = (f"INSERT INTO {through} (company_id, lead_id) SELECT id, %s FROM ins{first_cte}", [built.lead.pk])  # noqa: S608
    return [upsert, link]


def _user(actor: Any) -> User | None:
    return actor if getattr(actor, "pk", None) is not None and isinstance(actor, User) else None


def _merge_into(
    *,
    norm: NormalizedLead,
    existing: dict[tuple[str, str], Any],
    channel: str,
    actor: User | None,
    activity: str | None,
    occurred_at: dt.datetime,
    consent: ConsentContext | None,
) -> tuple[Lead, bool]:
    """Merge a delivery into the oldest live lead it matches (bridging any other matched leads).

    Returns the survivor and whether the delivery changed anything on it (an import's "unchanged").
    """
    leads = list(Lead.objects.select_for_update().filter(pk__in=set(existing.values())).order_by("pk"))
    # Identities always point at live leads (merges move them), but be safe against old rows; an
    # erased lead (its identities deleted while this delivery waited for the lock) is no target either.
    live = {lead.pk: lead for lead in leads if lead.merged_into_id is None and lead.erased_at is None}
    if not live:
        raise _IdentityRace
    ordered = sorted(live.values(), key=lambda x: (x.created_at, str(x.pk)))
    survivor = ordered[0]
    for other in ordered[1:]:
        merge_locked(survivor=survivor, other=other, kind=LeadMerge.Kind.INGEST, actor=actor, channel=channel)
    survivorship = Survivorship(survivor, channel=channel)
    survivorship.fill(norm.fields)
    survivorship.merge_attributes(norm.attributes)
    survivorship.real_data(norm.is_test)
    to_claim = [identity for identity in norm.identities if identity not in existing]
    claimed = _claim_identities(survivor.tenant_id, survivor.pk, to_claim)
    if set(claimed) != set(to_claim):
        # A concurrent delivery claimed one of our identities for another lead: retry and bridge.
        raise _IdentityRace

    # Score with the new answers and the new activity, then write the lead once.
    data = score_input_for(survivor)
    verification = verification_build(survivor, norm)
    if verification is not None and any(kind in ("email", "phone") for kind, _hash in claimed):
        data.email_valid |= bool(verification.email_valid) and "email" in survivorship.fields
        data.phone_valid |= bool(verification.phone_valid) and "phone" in survivorship.fields
    else:
        verification = None
    extra_fields = []
    if activity:
        data.activity_counts = {**data.activity_counts, activity: data.activity_counts.get(activity, 0) + 1}
        if survivor.last_activity_at is None or survivor.last_activity_at < occurred_at:
            survivor.last_activity_at, survivor.decay_level = occurred_at, 0
            extra_fields = ["last_activity_at", "decay_level"]
    history = score_apply(survivor, reason=f"Erneuter Kontakt über {channel}", data=data)
    changed = {Lead._meta.get_field(name).name for name in survivorship.fields}
    survivor.save(update_fields=[*changed, *extra_fields, *SCORE_FIELDS, "updated_at"])

    # The delivery's own rows in one round trip; their ids go into the journal for an exact undo.
    new_rows: list[Model] = [row for row in (verification,) if row is not None]
    if activity:
        new_rows.append(
            LeadActivity(
                lead=survivor, activity_type=activity, channel=channel, occurred_at=occurred_at, actor=_user(actor)
            )
        )
    moved: dict[str, list[Any]] = {}
    if new_rows:
        parts = [_returning(insert_sql([row])) for row in new_rows]
        selects = ", ".join(f"(SELECT id FROM ins{n})" for n in range(len(parts)))  # noqa: S608 - CTE names
        ids = run_chain(parts, (f"SELECT {selects}", []))[0]
        for row, pk in zip(new_rows, ids, strict=True):
            row.pk = pk
            moved[row._meta.label_lower] = [pk]
        mark_saved(*new_rows)
        if activity:  # the re-contact's activity (a DM, a form): the floors above may end or start runs
            send_after_commit(
                activity_recorded,
                sender=LeadActivity,
                activity=new_rows[-1],
                lead=survivor,
                activity_type=activity,
                actor=_user(actor),
            )
    claimed_ids = sorted(claimed.values())
    if claimed_ids:
        moved[LeadIdentity._meta.label_lower] = claimed_ids
    # The delivery's consent decisions go to the ledger (the survivor's cache follows); an undo
    # moves the records to the delivery's own lead again.
    consents = lead_delivery_consent_record(
        lead=survivor, norm=norm, occurred_at=occurred_at, context=consent, actor=actor
    )
    if consents:
        moved[ConsentRecord._meta.label_lower] = [record.pk for record in consents]
    tail: list[Model] = []
    if survivorship.fields or claimed_ids or consents:
        entry = LeadMerge(
            survivor=survivor,
            merged_lead=None,
            kind=LeadMerge.Kind.INGEST,
            channel=channel,
            changes=survivorship.journal(payload=journal_payload(norm)),
            moved_rows=moved,
            identities=claimed_ids,
            actor=_user(actor),
        )
        entry.save()
        tail.append(
            audit_event_build(
                event_type="lead.merged",
                actor=actor,
                obj=survivor,
                payload={"merge_id": entry.pk, "kind": "ingest", "channel": channel, "fields": sorted(changed)},
            )
        )
    if history is not None:
        tail.append(history)
    if tail:
        parts = [insert_sql([row]) for row in tail]
        run_chain(parts[:-1], parts[-1])
        mark_saved(*tail)
    if burning_crossed(history, survivor):
        history.pk = LeadScoreHistory.objects.filter(lead=survivor).order_by("-id").values_list("pk", flat=True)[0]
        burning_alert_create(lead=survivor, history=history)
    return survivor, bool(survivorship.fields or claimed_ids or consents or len(ordered) > 1)


def _returning(part: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    return part[0] + " RETURNING id", part[1]


#: Fields an operator may correct on an existing lead (status, score and ownership have their services).
UPDATABLE_FIELDS = frozenset(
    {
        *PERSON_FIELDS,
        "attributes",
        # Recorded in the consent ledger (``consent_at``/``opted_out_at`` are its cache: read-only).
        "consent_marketing",
        "is_test",
        "lost_reason",
        "channel",
        "source",
        *ATTRIBUTION_FIELDS,
    }
)


def lead_identity_conflicts(*, lead: Lead, email: str = "", phone: str = "") -> list[str]:
    """Public ids of other leads that already own this email/phone in the lead's tenant."""
    norm = normalize_payload({"email": email, "phone": phone}, channel=lead.channel)
    owners = _existing(lead.tenant_id, norm.identities) if norm.identities else {}
    others = {pk for pk in owners.values() if pk != lead.pk}
    return sorted(Lead.objects.filter(pk__in=others).values_list("public_id", flat=True))


@transaction.atomic
def lead_update(*, lead: Lead, data: dict[str, Any], actor: User | None) -> Lead:
    """Correct a lead's data; a new email/phone joins the identity graph (or is refused as a duplicate)."""
    unknown = set(data) - UPDATABLE_FIELDS
    if unknown:
        raise DomainError(
            _("These fields cannot be changed here: %(fields)s") % {"fields": ", ".join(sorted(unknown))},
            code="invalid_field",
        )
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    data = dict(data)
    consent = data.pop("consent_marketing", None)
    if consent is not None and bool(consent) != lead.consent_marketing:
        source = ConsentRecord.Source.ADMIN if getattr(actor, "is_staff", False) else ConsentRecord.Source.PORTAL
        lead_consent_marketing_set(lead=lead, granted=bool(consent), actor=actor, source=source)
    changed = [name for name, value in data.items() if getattr(lead, name) != value]
    if not changed:
        return lead
    contact = {name: data[name] for name in ("email", "phone") if name in changed and data[name]}
    if contact:
        conflicts = lead_identity_conflicts(lead=lead, **contact)
        if conflicts:
            raise ConflictError(
                _("This contact already belongs to lead %(leads)s: merge the leads instead.")
                % {"leads": ", ".join(conflicts)},
                code="identity_taken",
            )
        norm = normalize_payload(contact, channel=lead.channel)
        data = {**data, **{k: v for k, v in norm.fields.items() if k in contact}}
        # The new identities point at this lead; the old ones stay (the person had them too).
        _claim_identities(lead.tenant_id, lead.pk, norm.identities)
        owners = _existing(lead.tenant_id, norm.identities)
        if any(owner != lead.pk for owner in owners.values()):
            raise ConflictError(_("This contact was just taken by another lead."), code="identity_taken")
    for name in changed:
        setattr(lead, name, data[name])
    lead.full_clean(exclude=[f.name for f in Lead._meta.fields if f.name not in changed])
    lead.save(update_fields=[*changed, "updated_at"])
    audit_record(event_type="lead.updated", actor=actor, obj=lead, payload={"fields": sorted(changed)})
    return lead_rescore(lead=lead, reason="Daten geändert")


def lead_identities_share(*, lead: Lead, tenant_id: Any) -> int:
    """Give a lead its identities in another tenant too (a pool lead accepted by a partner).

    The pool identities stay, so a later pool delivery of the person still merges into this lead;
    an identity the partner already holds for another lead is left alone (those stay two leads).
    """
    table = LeadIdentity._meta.db_table
    sql = (
        f"INSERT INTO {table} (tenant_id, kind, value_hash, lead_id, created_at) "  # noqa: S608 - table name is ours
        f"SELECT %s, kind, value_hash, lead_id, %s FROM {table} WHERE lead_id = %s AND tenant_id <> %s "
        "ON CONFLICT (tenant_id, kind, value_hash) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id, db_value(timezone.now()), db_value(lead.pk), tenant_id])
        return cursor.rowcount


def form_route_for(form_id: str) -> LeadFormRoute | None:
    """The active route of a lead form (a booked campaign's form → its partner), or None."""
    if not form_id:
        return None
    return LeadFormRoute.objects.select_related("partner", "tenant").filter(form_id=form_id, is_active=True).first()


def lead_ingest(
    *,
    payload: dict[str, Any],
    channel: str,
    source: str | None = None,
    tenant: Organization | None = None,
    partner: User | None = None,
    idempotency_key: str = "",
    actor: User | None = None,
    activity: str | None = "form_submitted",
    consent: ConsentContext | None = None,
    route: LeadFormRoute | None = None,
) -> IngestResult:
    """Capture one lead from any channel: create it, or merge it into the person it already is.

    Raises ``NoIdentityError`` when the payload has no email, phone or channel id: the calling
    channel records that failure with its reason, nothing is dropped silently. The payload's
    ``consent_marketing``/``opted_out`` become consent-ledger records; ``consent`` says how (the
    form's wording and version, source and evidence such as IP and user agent; default: by channel).
    A form ``route`` decides partner, tenant and source, and ``lead_routed`` tells its owner after commit.
    """
    if channel not in Lead.Channel.values:
        raise DomainError(_("Unknown channel '%(value)s'.") % {"value": channel}, code="invalid_channel")
    if source is not None and source not in Lead.Source.values:
        raise DomainError(_("Unknown source '%(value)s'.") % {"value": source}, code="invalid_source")
    if not isinstance(payload, dict):
        raise DomainError(_("The lead data must be an object."), code="invalid_payload")
    if route is not None:
        tenant, partner, source = route.tenant, route.partner, route.source
    tenant, source, partner = _route(tenant=tenant, partner=partner, source=source)
    norm = normalize_payload(payload, channel=channel, idempotency_key=idempotency_key)
    if not norm.identities:
        raise NoIdentityError(
            _("The lead has no valid email address, phone number or channel id."),
            fields={"_invalid": norm.attributes.get("_invalid", {})},
        )
    occurred_at = norm.captured_at or timezone.now()
    if has_consent_decision(norm):
        consent = (consent or ConsentContext.for_channel(channel)).resolve()  # once, not per retry
    for _attempt in range(MAX_CLAIM_ATTEMPTS):
        try:
            with transaction.atomic():
                result = _ingest_once(
                    norm=norm,
                    tenant=tenant,
                    channel=channel,
                    source=source,
                    partner=partner,
                    actor=actor,
                    activity=activity,
                    occurred_at=occurred_at,
                    consent=consent,
                )
        except _IdentityRace:
            continue
        if not result.duplicate:
            _after_commit(result)
            if route is not None:
                send_after_commit(lead_routed, sender=LeadFormRoute, route=route, lead=result.lead)
        return result
    raise TransientError("identity claims kept conflicting; retry the delivery")


def _ingest_once(**kwargs: Any) -> IngestResult:
    norm: NormalizedLead = kwargs["norm"]
    tenant: Organization = kwargs["tenant"]
    existing = _existing(tenant.pk, norm.identities)
    if norm.idempotency_identity is not None and norm.idempotency_identity in existing:
        lead = Lead.objects.get(pk=existing[norm.idempotency_identity])
        while lead.merged_into_id is not None:
            lead = Lead.objects.get(pk=lead.merged_into_id)
        return IngestResult(lead=lead, duplicate=True)
    if not existing:
        return IngestResult(lead=_create(**kwargs), created=True)
    kwargs.pop("tenant"), kwargs.pop("source"), kwargs.pop("partner")
    lead, changed = _merge_into(existing=existing, **kwargs)
    return IngestResult(lead=lead, merged=True, changed=changed)


def _after_commit(result: IngestResult) -> None:
    """Queue the steps that may call out: remote enrichment/analysis, rescoring, auto-assignment."""
    from leads.tasks import lead_auto_assign_task, lead_enrich_task

    lead = result.lead
    # Offline enrichment and analysis ran inline; the task calls remote providers and links the company.
    if remote_enrichment_configured():
        on_commit(lead_enrich_task.delay, str(lead.pk))
    auto_assign = result.created and not lead.is_test and lead.assigned_partner_id is None
    if auto_assign and tenant_config(lead.tenant_id).auto_assign_enabled:
        on_commit(lead_auto_assign_task.delay, str(lead.pk))
