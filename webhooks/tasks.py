"""Celery tasks of the webhooks app: thin wrappers that take ids and call services."""

from __future__ import annotations

from config.celery import app
from webhooks.services import (
    instagram_reply_send,
    linkedin_tokens_refresh_due,
    webhook_event_process,
    webhook_events_sweep,
    webhook_payloads_purge,
)


@app.task(ignore_result=True)
def webhook_event_process_task(event_id: int) -> str | None:
    """Process one ledger event (claimed with a conditional update, so a redelivery is harmless)."""
    return webhook_event_process(event_id=event_id)


@app.task(ignore_result=True)
def webhook_events_sweep_task() -> dict[str, int]:
    """Re-enqueue due or stuck events (beat, every minute): the safety net for a Redis or worker outage."""
    return webhook_events_sweep()


@app.task(ignore_result=True)
def webhook_payloads_purge_task() -> dict[str, int]:
    """Blank raw bodies and payloads past the retention period (beat, daily)."""
    return webhook_payloads_purge()


@app.task(ignore_result=True)
def instagram_reply_send_task(message_id: int) -> str:
    """Send one queued Instagram auto-reply; timeouts and 5xx are retried with backoff (BaseTask)."""
    return instagram_reply_send(message_id=message_id)


@app.task(ignore_result=True)
def linkedin_tokens_refresh_task() -> dict[str, int]:
    """Refresh LinkedIn tokens that expire within a week; mark dead ones broken (beat, hourly)."""
    return linkedin_tokens_refresh_due()
