"""Celery tasks of the webhooks app: thin wrappers that take ids and call services.

Task names follow one scheme, ``webhooks.<function name>``; the beat entries in settings name them.
"""

from __future__ import annotations

from celery import shared_task

from compliance.services.retention import retention_run
from webhooks.retention import POLICY as WEBHOOK_BODIES_POLICY
from webhooks.services import (
    instagram_reply_send,
    linkedin_tokens_refresh_due,
    webhook_event_process,
    webhook_events_sweep,
)


@shared_task(name="webhooks.webhook_event_process_task", ignore_result=True)
def webhook_event_process_task(event_id: int) -> str | None:
    """Process one ledger event under a lease: a redelivery while the lease runs is a no-op, after it a takeover."""
    return webhook_event_process(event_id=event_id)


@shared_task(name="webhooks.webhook_events_sweep_task", ignore_result=True)
def webhook_events_sweep_task() -> dict[str, int]:
    """Re-enqueue due events and expired leases (beat, every minute): the safety net for a Redis or worker outage."""
    return webhook_events_sweep()


@shared_task(name="webhooks.webhook_payloads_purge_task", ignore_result=True)
def webhook_payloads_purge_task() -> dict[str, int]:
    """Former beat task, kept as an alias so a message queued before the upgrade still runs.

    The purge is now the retention policy ``webhook_bodies`` (beat ``compliance-retention``).
    """
    return retention_run(only=[WEBHOOK_BODIES_POLICY]).counts()


@shared_task(name="webhooks.instagram_reply_send_task", ignore_result=True)
def instagram_reply_send_task(message_id: int) -> str:
    """Send one queued Instagram auto-reply; timeouts and 5xx are retried with backoff (BaseTask)."""
    return instagram_reply_send(message_id=message_id)


@shared_task(name="webhooks.linkedin_tokens_refresh_task", ignore_result=True)
def linkedin_tokens_refresh_task() -> dict[str, int]:
    """Refresh LinkedIn tokens that expire within a week; mark dead ones broken (beat, hourly)."""
    return linkedin_tokens_refresh_due()
