"""Marketing consent of leads: ledger records for the lead code paths, and the lead's cached read of them.

The consent ledger (``compliance``) is the truth. ``Lead.consent_marketing`` / ``consent_at`` /
``opted_out_at`` are a cache of it for lists, filters and exports (SPEC §3 names them): the newest
marketing-email record is a grant or confirmation → ``consent_marketing`` (pending or confirmed)
since ``consent_at``; it is a withdrawal → ``opted_out_at``. Senders never read the cache: they call
``compliance.selectors.consent_state`` at send time.

Every way a lead is written keeps the cache in step with the records, in the same transaction:
services through the ``consent_recorded`` receiver below; ``lead_rows_build`` (ingest and import)
sets it on the new lead from the records it builds; the bulk import merge computes it from the
batch's history. A delivery only adds a record that changes the person's state: re-sent forms and
re-run import files add nothing.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils import timezone

from compliance.models import ConsentRecord, ConsentWording
from compliance.selectors.consent import consent_records_for
from compliance.services import consent_grant, consent_revoke
from compliance.services.consent import (
    UNSPECIFIED_VERSION,
    consent_audit_event_build,
    consent_record_build,
    consent_wording_resolve,
)
from leads.models import Lead
from leads.normalize import NormalizedLead

MARKETING = ConsentRecord.Code.MARKETING_EMAIL.value
GRANTED = ConsentRecord.Action.GRANTED.value
REVOKED = ConsentRecord.Action.REVOKED.value
CACHE_FIELDS = ("consent_marketing", "consent_at", "opted_out_at")

#: Where a channel's deliveries come from, in the ledger's terms.
CHANNEL_SOURCES = {
    Lead.Channel.WEBSITE: ConsentRecord.Source.FORM,
    Lead.Channel.IMPORT: ConsentRecord.Source.IMPORT,
    Lead.Channel.FACEBOOK: ConsentRecord.Source.WEBHOOK,
    Lead.Channel.LINKEDIN: ConsentRecord.Source.WEBHOOK,
    Lead.Channel.INSTAGRAM: ConsentRecord.Source.WEBHOOK,
    Lead.Channel.MANUAL: ConsentRecord.Source.API,
    Lead.Channel.REFERRAL: ConsentRecord.Source.PORTAL,
}


@dataclass(frozen=True)
class ConsentContext:
    """How a delivery's consent decisions are recorded: source, the wording the person saw, evidence.

    ``version``/``text``: the form's own consent text (a website's, a provider form's); a version
    the platform has a ``ConsentWording`` of links to it. Neither: ``unspecified``. ``evidence`` is
    personal data (IP, user agent): it is stored encrypted and never logged. ``actor``: who the
    audit names (default: the ingest's actor).
    """

    source: str
    version: str = ""
    text: str = ""
    wording: ConsentWording | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    lawful_basis: str = ConsentRecord.LawfulBasis.CONSENT
    actor: Any = None
    resolved: bool = False

    @classmethod
    def for_channel(cls, channel: str, **kwargs: Any) -> ConsentContext:
        return cls(source=CHANNEL_SOURCES.get(channel, ConsentRecord.Source.API), **kwargs)

    def resolve(self) -> ConsentContext:
        """The context with its wording looked up (one query at most); bulk paths resolve once per run."""
        if self.resolved:
            return self
        if self.wording is None and not self.version.strip():
            # Not pretending the person saw the platform's text: the wording is not known.
            return replace(self, version=UNSPECIFIED_VERSION, resolved=True)
        wording, version, text = consent_wording_resolve(
            MARKETING, version=self.version, text=self.text, wording=self.wording
        )
        return replace(self, wording=wording, version=version, text=text, resolved=True)


@dataclass(frozen=True)
class _Decision:
    action: str
    at: dt.datetime
    #: False: the person's decision time is unknown (an import row without dates).
    dated: bool


def _decisions(norm: NormalizedLead, occurred_at: dt.datetime, source: str) -> list[_Decision]:
    """What a delivery says about marketing email: a ticked consent box, an opt-out (which wins)."""
    decisions: list[_Decision] = []
    grant_at = None
    if norm.fields.get("consent_marketing"):
        grant_at = norm.fields.get("consent_at") or occurred_at
        dated = source != ConsentRecord.Source.IMPORT or norm.fields.get("consent_at") or norm.captured_at
        decisions.append(_Decision(GRANTED, grant_at, bool(dated)))
    if norm.opted_out:
        decisions.append(_Decision(REVOKED, max(occurred_at, grant_at) if grant_at else occurred_at, True))
    return decisions


def has_consent_decision(norm: NormalizedLead) -> bool:
    return bool(norm.fields.get("consent_marketing")) or norm.opted_out


def _status(records: Sequence[ConsentRecord]) -> str:
    if not records:
        return "none"
    return REVOKED if records[-1].action == REVOKED else GRANTED


def _insert(records: list[ConsentRecord], record: ConsentRecord) -> None:
    """Keep ``records`` ordered by decision time (a new record goes after older ones of the same time)."""
    keys = [r.recorded_at for r in records]
    records.insert(bisect.bisect_right(keys, record.recorded_at), record)


def marketing_cache(records: Sequence[ConsentRecord]) -> dict[str, Any]:
    """The lead's cache fields from its marketing-email records (oldest first)."""
    if not records:
        return {"consent_marketing": False, "consent_at": None, "opted_out_at": None}
    newest = records[-1]
    if newest.action == REVOKED:
        return {"consent_marketing": False, "consent_at": None, "opted_out_at": newest.recorded_at}
    start = 0
    for index in range(len(records) - 1, -1, -1):
        if records[index].action == REVOKED:
            start = index + 1
            break
    return {"consent_marketing": True, "consent_at": records[start].recorded_at, "opted_out_at": None}


def delivery_consent_records(
    *,
    lead: Lead,
    norm: NormalizedLead,
    occurred_at: dt.datetime,
    context: ConsentContext,
    history: list[ConsentRecord],
) -> list[ConsentRecord]:
    """The unsaved records a delivery adds to a person's marketing-email history (``history``, oldest
    first, extended in place): only decisions that change the person's state.

    Pure once ``context`` is resolved: the ingest, the bulk import's creation and its merges decide
    with it. An import grant without a date never overrides a withdrawal: re-running an old file must
    not undo an unsubscribe.
    """
    added: list[ConsentRecord] = []
    for decision in _decisions(norm, occurred_at, context.source):
        before = _status(history)
        if decision.action == GRANTED and before == REVOKED and not decision.dated:
            continue
        record = consent_record_build(
            code=MARKETING,
            action=decision.action,
            lead_id=lead.pk,
            tenant_id=lead.tenant_id,
            wording=context.wording,
            version=context.version,
            text=context.text,
            lawful_basis=context.lawful_basis,
            source=context.source,
            evidence=dict(context.evidence),
            recorded_at=decision.at,
        )
        trial = list(history)
        _insert(trial, record)
        if _status(trial) == before:
            continue  # an older decision, or the state it asks for holds already
        history[:] = trial
        added.append(record)
    return added


def new_lead_consents(
    *, lead: Lead, norm: NormalizedLead, occurred_at: dt.datetime, context: ConsentContext | None
) -> list[ConsentRecord]:
    """The records of a lead being built (pure once ``context`` is resolved), with its cache set from them."""
    if not has_consent_decision(norm):
        lead.consent_marketing, lead.consent_at, lead.opted_out_at = False, None, None
        return []
    context = (context or ConsentContext.for_channel(lead.channel)).resolve()
    history: list[ConsentRecord] = []
    records = delivery_consent_records(lead=lead, norm=norm, occurred_at=occurred_at, context=context, history=history)
    for name, value in marketing_cache(history).items():
        setattr(lead, name, value)
    return records


def new_lead_consent_events(lead: Lead, records: list[ConsentRecord], *, context: ConsentContext | None, actor: Any):
    """The ``consent.*`` audit events of the records written with a new lead (``lead_ingest``)."""
    audit_actor = context.actor if context is not None and context.actor is not None else actor
    return [consent_audit_event_build(r, actor=audit_actor, subject=lead) for r in records]


def lead_delivery_consent_record(
    *, lead: Lead, norm: NormalizedLead, occurred_at: dt.datetime, context: ConsentContext | None, actor: Any
) -> list[ConsentRecord]:
    """Record what a delivery merged into an existing lead says about marketing email (services: audited,
    announced, the cache refreshed). Returns the records added; none when nothing changes."""
    if not has_consent_decision(norm):
        return []
    context = (context or ConsentContext.for_channel(lead.channel)).resolve()
    history = list(consent_records_for([lead], MARKETING).get(lead.pk, []))
    planned = delivery_consent_records(lead=lead, norm=norm, occurred_at=occurred_at, context=context, history=history)
    audit_actor = context.actor if context.actor is not None else actor
    added: list[ConsentRecord] = []
    for record in planned:
        if record.action == GRANTED:
            added.append(
                consent_grant(
                    code=MARKETING,
                    actor=audit_actor,
                    lead=lead,
                    wording=context.wording,
                    version=context.version,
                    text=context.text,
                    evidence=record.evidence,
                    lawful_basis=context.lawful_basis,
                    source=context.source,
                    recorded_at=record.recorded_at,
                )
            )
        else:
            revoked = consent_revoke(
                code=MARKETING,
                actor=audit_actor,
                lead=lead,
                source=context.source,
                evidence=record.evidence,
                recorded_at=record.recorded_at,
                objection=True,
            )
            if revoked is not None:
                added.append(revoked)
    return added


def lead_marketing_consent_grant(
    *,
    lead: Lead,
    actor: Any,
    source: str,
    version: str = "",
    text: str = "",
    wording: ConsentWording | None = None,
    evidence: dict[str, Any] | None = None,
    lawful_basis: str = ConsentRecord.LawfulBasis.CONSENT,
    recorded_at: dt.datetime | None = None,
) -> ConsentRecord:
    """A lead consents to marketing email (pending until the double opt-in is confirmed).

    Without a wording or version the record says ``unspecified``: the platform does not know the text.
    """
    context = ConsentContext(source=source, version=version, text=text, wording=wording).resolve()
    return consent_grant(
        code=MARKETING,
        actor=actor,
        lead=lead,
        wording=context.wording,
        version=context.version,
        text=context.text,
        evidence=evidence,
        lawful_basis=lawful_basis,
        source=source,
        recorded_at=recorded_at,
    )


def lead_marketing_consent_revoke(
    *,
    lead: Lead,
    actor: Any,
    source: str,
    evidence: dict[str, Any] | None = None,
    recorded_at: dt.datetime | None = None,
) -> ConsentRecord | None:
    """A lead withdraws (or objects to) marketing email: unsubscribe, an opt-out phrase, by hand.

    Recorded also for a lead that never consented (an objection), so that an undated import cannot
    bring consent in afterwards. None when the lead has withdrawn already.
    """
    return consent_revoke(
        code=MARKETING,
        actor=actor,
        lead=lead,
        source=source,
        evidence=evidence,
        recorded_at=recorded_at,
        objection=True,
    )


def lead_consent_marketing_set(*, lead: Lead, granted: bool, actor: Any, source: str) -> ConsentRecord | None:
    """An operator ticks or clears the marketing consent of a lead by hand: a grant (pending until the
    double opt-in) or a withdrawal in the ledger, with who recorded it as evidence."""
    evidence = {"recorded_by_user_id": getattr(actor, "pk", None)}
    if granted:
        return lead_marketing_consent_grant(lead=lead, actor=actor, source=source, evidence=evidence)
    return lead_marketing_consent_revoke(lead=lead, actor=actor, source=source, evidence=evidence)


def lead_consent_cache(lead: Lead) -> dict[str, Any]:
    """The consent cache the ledger gives a lead now (one query)."""
    return marketing_cache(consent_records_for([lead], MARKETING).get(lead.pk, []))


def lead_consent_cache_refresh(lead: Lead) -> dict[str, Any]:
    """Rewrite the lead's consent cache from the ledger (two queries); returns the cache.

    Also updates the given instance, so a caller holding the lead sees the new values.
    """
    cache = lead_consent_cache(lead)
    Lead.objects.filter(pk=lead.pk).update(**cache, updated_at=timezone.now())
    for name, value in cache.items():
        setattr(lead, name, value)
    return cache


def consent_recorded_receiver(sender: Any, record: ConsentRecord, **kwargs: Any) -> None:
    """``compliance.signals.consent_recorded``: a marketing-email record of a lead refreshes its cache."""
    if record.subject_lead_id is None or record.code != MARKETING:
        return
    field_ = ConsentRecord._meta.get_field("subject_lead")
    lead = field_.get_cached_value(record, None) if field_.is_cached(record) else None
    lead_consent_cache_refresh(lead if lead is not None else Lead(pk=record.subject_lead_id))
