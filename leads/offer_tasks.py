"""Celery tasks for pool offers (expiry sweeper); imported by ``leads.tasks`` for autodiscovery."""

from __future__ import annotations

import time

from celery import shared_task

__all__ = ["lead_reoffer_task", "offer_expire_due_task", "offer_notify_task", "pool_stats_warm_task"]


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
