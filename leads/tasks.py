"""Celery tasks of the leads app: thin wrappers that take ids and call services."""

from __future__ import annotations

import time

from celery import shared_task

from leads.models import Lead


@shared_task(name="leads.lead_rescore_task", ignore_result=True)
def lead_rescore_task(lead_id: str) -> None:
    """Recompute a lead's score (after a merge or unmerge moved rows)."""
    from leads.services.scoring import lead_rescore

    lead = Lead.objects.filter(pk=lead_id, merged_into__isnull=True).first()
    if lead is not None:
        lead_rescore(lead=lead)


@shared_task(name="leads.lead_enrich_task", ignore_result=True)
def lead_enrich_task(lead_id: str) -> None:
    """Enrich with the configured providers and analyse; transient provider errors retry."""
    from leads.services.enrichment import lead_enrich

    lead_enrich(lead_id=lead_id)


@shared_task(name="leads.lead_auto_assign_task", ignore_result=True)
def lead_auto_assign_task(lead_id: str) -> None:
    from leads.services.assignment import lead_auto_assign

    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is not None:
        lead_auto_assign(lead=lead, actor=None)


@shared_task(name="leads.lead_burning_alert_task", ignore_result=True)
def lead_burning_alert_task(alert_id: int) -> None:
    from leads.services.alerts import lead_burning_alert_send

    lead_burning_alert_send(alert_id=alert_id)


@shared_task(name="leads.lead_decay_task", ignore_result=True)
def lead_decay_task() -> int:
    """Daily: apply inactivity decay (beat schedule ``leads-decay``)."""
    from leads.services.activity import lead_decay_sweep

    return lead_decay_sweep()


@shared_task(name="leads.lead_enrich_batch_task", ignore_result=True)
def lead_enrich_batch_task(lead_ids: list[str]) -> None:
    """Enrich a batch of imported leads with the remote providers: one task per import batch, not per row."""
    import logging

    from leads.services.enrichment import lead_enrich

    for lead_id in lead_ids:
        try:
            lead_enrich(lead_id=lead_id)
        except Exception:
            logging.getLogger(__name__).warning("enrichment of an imported lead failed", extra={"lead_id": lead_id})


@shared_task(name="leads.lead_auto_assign_batch_task", ignore_result=True)
def lead_auto_assign_batch_task(lead_ids: list[str]) -> None:
    """Offer a batch of imported pool leads when auto-assignment is on (one task per import batch)."""
    from leads.services.assignment import lead_auto_assign

    for lead in Lead.objects.filter(pk__in=lead_ids).order_by("-score", "created_at"):
        lead_auto_assign(lead=lead, actor=None)


@shared_task(name="leads.lead_score_batch_task", ignore_result=True)
def lead_score_batch_task(lead_ids: list[str]) -> int:
    """Score a batch of imported leads (one task per import batch); a second delivery is a no-op."""
    from leads.services.scoring_batch import lead_score_batch

    return lead_score_batch(lead_ids=lead_ids)


@shared_task(name="leads.lead_score_pending_sweep_task", ignore_result=True)
def lead_score_pending_sweep_task() -> int:
    """Every few minutes (beat ``leads-score-pending``): re-queue imported leads whose task got lost."""
    from leads.services.scoring_batch import lead_score_pending_sweep

    return lead_score_pending_sweep()


# --- Pool offers --------------------------------------------------------------------------------

#: One beat run works through overdue offers in batches for at most this long; the next run continues.
EXPIRY_BATCH = 500
EXPIRY_TIME_BUDGET_SECONDS = 60


@shared_task(name="leads.offer_expire_due_task", ignore_result=True)
def offer_expire_due_task() -> int:
    """Beat: expire every overdue offer; the lead returns to the pool or goes to the next candidate."""
    from leads.services.offers import offer_expire_due

    started, total = time.monotonic(), 0
    while True:
        expired = offer_expire_due(limit=EXPIRY_BATCH)
        total += expired
        if expired < EXPIRY_BATCH or time.monotonic() - started > EXPIRY_TIME_BUDGET_SECONDS:
            return total


@shared_task(name="leads.offer_notify_task", ignore_result=True)
def offer_notify_task(offer_id: int, event: str) -> None:
    """Email and in-portal notice to the partner about an offer event."""
    from leads.services.offers import offer_notify

    offer_notify(offer_id=offer_id, event=event)


@shared_task(name="leads.lead_reoffer_task", ignore_result=True)
def lead_reoffer_task(lead_id: str) -> None:
    """Offer a lead back in the pool to the next candidate when auto-assignment is on."""
    from leads.services.offers import lead_reoffer

    lead_reoffer(lead_id=lead_id)


@shared_task(name="leads.pool_stats_warm_task", ignore_result=True)
def pool_stats_warm_task() -> None:
    """Recount the default 30-day pool statistics before the cached copy expires (beat, every minute)."""
    from leads.selectors.pool import pool_stats

    pool_stats(use_cache=False)
