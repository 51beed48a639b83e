"""Signals that move a score: tracked activities (API-506), message intent, opt-out, inactivity decay."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from compliance.models import ConsentRecord
from compliance.services import audit_record
from core.exceptions import DomainError
from leads.models import Lead, LeadActivity, LeadIntent
from leads.scoring_defaults import DECAY_CODES
from leads.services.config import tenant_config
from leads.services.consent import lead_marketing_consent_revoke
from leads.services.core import lead_activity_add
from leads.services.scoring import lead_rescore

ACTIVITY_CODE = re.compile(r"^[a-z0-9][a-z0-9_]{1,63}$")
#: (decay level, days without activity) from the strongest down.
DECAY_STEPS = ((2, 30), (1, 7))


@transaction.atomic
def lead_track_activity(
    *,
    lead: Lead,
    activity_type: str,
    actor: Any | None,
    channel: str = "",
    detail: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> tuple[LeadActivity, Lead]:
    """Record a tracked activity and rescore; the history reason names the rule that fired."""
    if not ACTIVITY_CODE.match(activity_type or ""):
        raise DomainError(
            _("An activity code has 2–64 lower-case letters, digits or underscores."), code="invalid_activity"
        )
    if activity_type in DECAY_CODES:
        raise DomainError(_("Inactivity is recorded by the system, not tracked."), code="invalid_activity")
    if lead.merged_into_id is not None:
        raise DomainError(_("This lead was merged into another lead."), code="lead_merged")
    rule = tenant_config(lead.tenant_id).rules.get(activity_type)
    activity = lead_activity_add(
        lead=lead,
        activity_type=activity_type,
        actor=actor if isinstance(actor, User) else None,
        channel=channel,
        score_delta=rule.points if rule else 0,
        detail=detail or {},
        occurred_at=occurred_at,
    )
    reason = f"{rule.description} ({rule.points:+d})" if rule else f"Aktivität {activity_type}"
    lead = lead_rescore(lead=lead, reason=reason)
    return activity, lead


@transaction.atomic
def lead_intent_add(
    *,
    lead: Lead,
    intent_level: str,
    intent_score: int,
    sentiment: str,
    keywords: list[str] | None = None,
    opt_out: bool = False,
    source_type: str = "",
    source_id: str = "",
    analysis: dict[str, Any] | None = None,
) -> LeadIntent:
    """Store a message's intent and sentiment, honour an opt-out phrase, and rescore."""
    if intent_level not in LeadIntent.Level.values:
        raise DomainError(_("Unknown intent level '%(value)s'.") % {"value": intent_level}, code="invalid_intent")
    if sentiment not in LeadIntent.Sentiment.values:
        raise DomainError(_("Unknown sentiment '%(value)s'.") % {"value": sentiment}, code="invalid_intent")
    intent = LeadIntent.objects.create(
        lead=lead,
        intent_level=intent_level,
        intent_score=max(0, min(100, int(intent_score))),
        sentiment=sentiment,
        keywords=list(keywords or [])[:50],
        opt_out_detected=opt_out,
        source_type=source_type[:40],
        source_id=source_id[:64],
        analysis=analysis or {},
    )
    if opt_out:
        lead_opt_out(
            lead=lead,
            actor=None,
            reason=f"{source_type}: opt-out phrase",
            source=ConsentRecord.Source.WEBHOOK if source_type.startswith("instagram") else ConsentRecord.Source.EMAIL,
            evidence={"source_type": source_type, "source_id": source_id},
        )
    lead_rescore(lead=lead, reason=f"Nachricht ausgewertet: Absicht {intent_level}")
    return intent


@transaction.atomic
def lead_opt_out(
    *,
    lead: Lead,
    actor: Any | None,
    reason: str = "",
    source: str = ConsentRecord.Source.API,
    evidence: dict[str, Any] | None = None,
) -> Lead:
    """Stop all marketing contact: a withdrawal in the consent ledger (recorded also without an earlier
    consent); it stands until the person consents again, newer than it."""
    record = lead_marketing_consent_revoke(lead=lead, actor=actor, source=source, evidence=evidence)
    if record is not None:
        audit_record(event_type="lead.opted_out", actor=actor, obj=lead, payload={"reason": reason[:200]})
    return Lead.objects.get(pk=lead.pk)


def _decay_candidates(level: int, days: int, now: dt.datetime, batch_size: int):
    cutoff = now - dt.timedelta(days=days)
    return (
        Lead.objects.filter(merged_into__isnull=True, decay_level__lt=level)
        .exclude(status__in=[Lead.Status.CONVERTED, Lead.Status.LOST])
        .filter(Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True, created_at__lt=cutoff))
        .values_list("pk", "decay_level", "last_activity_at")
        .order_by("pk")[:batch_size]
    )


def lead_decay_sweep(*, now: dt.datetime | None = None, batch_size: int = 500, max_batches: int = 200) -> int:
    """Apply inactivity decay (7 and 30 days); each lead is claimed by a conditional update.

    Two sweepers running at once never decay a lead twice: the update only matches while the
    decay level and last activity are still what this sweeper read.
    """
    now = now or timezone.now()
    claimed_total = 0
    for level, days in DECAY_STEPS:
        for _batch in range(max_batches):
            rows = list(_decay_candidates(level, days, now, batch_size))
            if not rows:
                break
            for pk, old_level, last_activity in rows:
                with transaction.atomic():
                    claimed = Lead.objects.filter(pk=pk, decay_level=old_level, last_activity_at=last_activity).update(
                        decay_level=level
                    )
                    if not claimed:
                        continue
                    claimed_total += 1
                    lead = Lead.objects.get(pk=pk)
                    config = tenant_config(lead.tenant_id)
                    reasons = []
                    for step_level, code in enumerate(DECAY_CODES, start=1):
                        if old_level < step_level <= level:
                            rule = config.rules.get(code)
                            LeadActivity.objects.create(
                                lead=lead,
                                activity_type=code,
                                channel="system",
                                score_delta=rule.points if rule else 0,
                                occurred_at=now,
                            )
                            if rule:
                                reasons.append(f"{rule.description} ({rule.points:+d})")
                    lead_rescore(lead=lead, reason="; ".join(reasons) or "Inaktivität")
            if len(rows) < batch_size:
                break
    return claimed_total
