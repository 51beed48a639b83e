"""Slack incoming webhook: post one message to the channel behind ``SLACK_WEBHOOK_URL``."""

from __future__ import annotations

import requests
from django.conf import settings

from core.exceptions import TransientError


class SlackError(TransientError):
    """The post did not go through; worth another try (the webhook URL is ours, the text is plain)."""


def slack_configured() -> bool:
    return bool(settings.SLACK_WEBHOOK_URL)


def slack_post(text: str) -> None:
    """Post ``text`` (Slack mrkdwn); any failure, timeouts and non-2xx answers included, raises ``SlackError``."""
    try:
        response = requests.post(settings.SLACK_WEBHOOK_URL, json={"text": text}, timeout=settings.HTTP_TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise SlackError(f"Slack post failed: {exc.__class__.__name__}") from exc
