"""Celery tasks of the accounts app: the outbound legs of ``notify``, each retried on its own."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="accounts.notification_email_task", ignore_result=True)
def notification_email_task(notification_ids: list[int]) -> int:
    """Email the notices one ``notify`` call wrote (after its commit)."""
    from accounts.services import notification_email_send

    return notification_email_send(notification_ids=notification_ids)


@shared_task(name="accounts.notification_slack_task", ignore_result=True)
def notification_slack_task(text: str) -> None:
    """Post one ``notify`` call's Slack text (after its commit); a failed post is retried."""
    from integrations.slack import slack_post

    slack_post(text)
