"""ESP tracking webhooks (bounce, complaint, unsubscribe, delivery, open, click) through django-anymail.

anymail serves ``/anymail/<esp>/tracking/``, checks the shared basic auth (``ANYMAIL["WEBHOOK_SECRET"]``
from ``ESP_WEBHOOK_SECRET``) and the ESP's own signature (Mailgun's HMAC with
``ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"]``), normalises the payload and sends the ``tracking`` signal
once per event. The receiver here only stores rows (``followups.services.events``): an exception in
it would make anymail answer an error and the ESP retry the same events. The cross-app effects run
in ``email_event_process_task`` after commit.

Amazon SES: anymail's view needs boto3 in its constructor (only to confirm SNS subscriptions), which
we do not install; ``AmazonSesTrackingView`` confirms a subscription with a plain HTTPS GET of its
``SubscribeURL`` instead (only an ``sns.<region>.amazonaws.com`` host) and is mounted in front of
anymail's URL by ``followups.tracking``.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.signals import inbound, tracking
from anymail.utils import get_anymail_setting
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.base import AnymailBaseWebhookView
from celery import shared_task
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.urls import URLPattern

from followups.services.events import email_reply_receive, esp_event_receive

logger = logging.getLogger(__name__)

#: Where an SNS subscription may be confirmed (AWS SNS docs: the SubscribeURL's host).
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SNS_CONFIRM_TIMEOUT = 10


@receiver(tracking, dispatch_uid="followups.esp_tracking")
def esp_tracking_received(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """One normalised ESP event: stored once per ESP event id (a retried webhook is a duplicate)."""
    esp_event_receive(esp_name=esp_name, event=event)


@receiver(inbound, dispatch_uid="followups.esp_inbound")
def esp_inbound_received(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """An inbound email (the ESP's inbound route): a reply to one of ours ends the lead's runs."""
    message = getattr(event, "message", None)
    if message is None:
        return
    ids = " ".join(filter(None, [message.get("In-Reply-To", ""), message.get("References", "")])).split()
    try:
        sent_at = parsedate_to_datetime(message.get("Date", "")) if message.get("Date") else None
    except (TypeError, ValueError):
        sent_at = None
    if ids:
        email_reply_receive(reply_to_ids=ids, occurred_at=sent_at if sent_at and sent_at.tzinfo else None)


def _webhooks_verified(path: str) -> bool:
    """anymail accepts unauthenticated webhooks (with a warning) when no secret is set: we do not, since a
    forged bounce or unsubscribe would silence a person. Mailgun may rely on its signing key alone."""
    config = getattr(settings, "ANYMAIL", {}) or {}
    if config.get("WEBHOOK_SECRET"):
        return True
    return "/mailgun/" in path and bool(config.get("MAILGUN_WEBHOOK_SIGNING_KEY"))


def malformed_payload_is_400(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """An ESP webhook view that refuses to run unverified (403) and answers a body it cannot parse with a
    clear 400 (anymail alone answers 500, and the ESP retries it for days)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _webhooks_verified(request.path):
            logger.warning("ESP webhook refused: ESP_WEBHOOK_SECRET is not set", extra={"path": request.path})
            return HttpResponseForbidden(
                "ESP webhooks are off until ESP_WEBHOOK_SECRET is set.", content_type="text/plain"
            )
        try:
            return view(request, *args, **kwargs)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("Malformed ESP webhook payload", extra={"path": request.path, "error": type(exc).__name__})
            return HttpResponseBadRequest("Malformed webhook payload.", content_type="text/plain")

    return wrapped


def anymail_urlpatterns() -> list[URLPattern]:
    """anymail's webhook URLs, each answering a malformed payload with a 400 instead of a 500."""
    from anymail import urls

    return [
        URLPattern(pattern.pattern, malformed_payload_is_400(pattern.callback), pattern.default_args, pattern.name)
        for pattern in urls.urlpatterns
    ]


@shared_task(name="followups.email_event_process_task", ignore_result=True)
def email_event_process_task(event_id: int) -> None:
    """Runs exit, scoring, consent of one stored email event (after the webhook or hit committed)."""
    from followups.services.events import email_event_process

    email_event_process(event_id=event_id)


class AmazonSesTrackingView(AmazonSESTrackingWebhookView):
    """anymail's SES tracking webhook without boto3 (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        self.auto_confirm_enabled = get_anymail_setting(
            "auto_confirm_sns_subscriptions", esp_name=self.esp_name, kwargs=kwargs, default=True
        )
        self.session_params, self.client_params = {}, {}
        # Skip AmazonSESBaseWebhookView.__init__ (the boto3 parameters); basic auth is set up as usual.
        AnymailBaseWebhookView.__init__(self, **kwargs)

    def auto_confirm_sns_subscription(self, sns_message: dict[str, Any]) -> None:
        if not self.auto_confirm_enabled:
            return
        if not self.basic_auth:
            raise AnymailWebhookValidationFailure(
                "Unexpected SNS SubscriptionConfirmation: set ESP_WEBHOOK_SECRET and use it in the SNS URL."
            )
        url = str(sns_message.get("SubscribeURL") or "")
        parts = urlsplit(url)
        if parts.scheme != "https" or not SNS_HOST.match(parts.hostname or ""):
            raise AnymailWebhookValidationFailure("SNS SubscribeURL is not an https://sns.<region>.amazonaws.com URL.")
        from integrations.http import http_session

        response = http_session("leadplatform-sns-confirm").get(url, timeout=SNS_CONFIRM_TIMEOUT)
        response.raise_for_status()
        logger.info("Confirmed the SNS subscription of topic %s", sns_message.get("TopicArn"))
