"""Celery tasks of the leads app: thin wrappers that take ids and call services."""

from __future__ import annotations

from celery import shared_task

from leads.models import Lead
from leads.offer_tasks import *  # noqa: F403  (offer tasks live in their own module)


@shared_task(name="leads.rescore", ignore_result=True)
def lead_rescore_task(lead_id: str) -> None:
    """Recompute a lead's score (after a merge or unmerge moved rows)."""
    from leads.services.scoring import lead_rescore

    lead = Lead.objects.filter(pk=lead_id, merged_into__isnull=True).first()
    if lead is not None:
        lead_rescore(lead=lead)


@shared_task(name="leads.enrich", ignore_result=True)
def lead_enrich_task(lead_id: str) -> None:
    """Enrich with the configured providers and analyse; transient provider errors retry."""
    from leads.services.enrichment import lead_enrich

    lead_enrich(lead_id=lead_id)


@shared_task(name="leads.auto_assign", ignore_result=True)
def lead_auto_assign_task(lead_id: str) -> None:
    from leads.services.assignment import lead_auto_assign

    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is not None:
        lead_auto_assign(lead=lead, actor=None)


@shared_task(name="leads.burning_alert", ignore_result=True)
def lead_burning_alert_task(alert_id: int) -> None:
    from leads.services.alerts import lead_burning_alert_send

    lead_burning_alert_send(alert_id=alert_id)


@shared_task(name="leads.decay", ignore_result=True)
def lead_decay_task() -> int:
    """Daily: apply inactivity decay (beat schedule ``leads-decay``)."""
    from leads.services.activity import lead_decay_sweep

    return lead_decay_sweep()


@shared_task(name="leads.enrich_batch", ignore_result=True)
def lead_enrich_batch_task(lead_ids: list[str]) -> None:
    """Enrich a batch of imported leads with the remote providers: one task per import batch, not per row."""
    import logging

    from leads.services.enrichment import lead_enrich

    for lead_id in lead_ids:
        try:
            lead_enrich(lead_id=lead_id)
        except Exception:
            logging.getLogger(__name__).warning("enrichment of an imported lead failed", extra={"lead_id": lead_id})


@shared_task(name="leads.auto_assign_batch", ignore_result=True)
def lead_auto_assign_batch_task(lead_ids: list[str]) -> None:
    """Offer a batch of imported pool leads when auto-assignment is on (one task per import batch)."""
    from leads.services.assignment import lead_auto_assign

    for lead in Lead.objects.filter(pk__in=lead_ids).order_by("-score", "created_at"):
        lead_auto_assign(lead=lead, actor=None)


@shared_task(name="leads.score_batch", ignore_result=True)
def lead_score_batch_task(lead_ids: list[str]) -> int:
    """Score a batch of imported leads (one task per import batch); a second delivery is a no-op."""
    from leads.services.bulk_import import lead_score_batch

    return lead_score_batch(lead_ids=lead_ids)


@shared_task(name="leads.score_pending_sweep", ignore_result=True)
def lead_score_pending_sweep_task() -> int:
    """Every few minutes (beat ``leads-score-pending``): re-queue imported leads whose task got lost."""
    from leads.services.bulk_import import lead_score_pending_sweep

    return lead_score_pending_sweep()
