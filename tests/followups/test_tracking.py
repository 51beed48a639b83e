"""Open pixel and click redirect: a GIF for any token, redirects only to the email's own links, machine
hits recorded but not scored, the first human open/click scored once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.blind_index import email_index
from followups.models import EmailEvent, EmailMessage
from leads.models import LeadActivity
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"
LINKS = ["https://www.example.de/bewertung?utm_source=nurture", "https://www.example.de/termin"]


@pytest.fixture
def email(db) -> EmailMessage:
    lead = LeadFactory()
    return EmailMessage.objects.create(
        message_id=f"<{uuid.uuid4().hex}@example.de>",
        lead=lead,
        tenant=lead.tenant,
        to_hash=email_index(lead.email),
        to_email=lead.email,
        subject="Ihre Bewertung",
        links=LINKS,
        status=EmailMessage.Status.SENT,
        sent_at=timezone.now() - timedelta(hours=2),
    )


def at(seconds: float):
    """Freeze the clock ``seconds`` after a fixed instant (no sleeps)."""
    base = timezone.now().replace(microsecond=0)
    return mock.patch("django.utils.timezone.now", return_value=base + timedelta(seconds=seconds))


def open_pixel(client, token: str, agent: str = BROWSER):
    return client.get(reverse("followups:track_open", args=[token]), HTTP_USER_AGENT=agent)


def click(client, token: str, index: int, agent: str = BROWSER):
    return client.get(reverse("followups:track_click", args=[token, index]), HTTP_USER_AGENT=agent)


def scored(email: EmailMessage, code: str) -> int:
    return LeadActivity.objects.filter(lead_id=email.lead_id, activity_type=code).count()


def test_urls():
    assert reverse("followups:track_open", args=["abc_-1"]) == "/e/o/abc_-1.gif"
    assert reverse("followups:track_click", args=["abc", 3]) == "/e/c/abc/3/"


def test_pixel_records_a_human_open_and_scores_once(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with at(0):
            response = open_pixel(client, email.token)
            open_pixel(client, email.token)  # loaded twice in the same second: one event
        with at(30):
            open_pixel(client, email.token)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and len(response.content) == 42
    assert "no-store" in response["Cache-Control"]
    events = EmailEvent.objects.filter(message=email)
    assert events.count() == 2 and set(events.values_list("esp", "is_bot")) == {("tracking", False)}
    email.refresh_from_db()
    assert email.open_count == 2 and email.opened_at is not None
    assert scored(email, "email_opened") == 1


def test_pixel_for_an_unknown_token_is_the_same_gif(client, email):
    response = open_pixel(client, "unknownToken123")
    known = open_pixel(client, email.token)
    assert response.status_code == 200 and response.content == known.content
    assert response["Content-Type"] == known["Content-Type"]
    assert EmailEvent.objects.filter(message__isnull=True).count() == 0


@pytest.mark.parametrize("agent", [SCANNER, "", "python-requests/2.32", "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"])
def test_machine_opens_are_recorded_not_counted_or_scored(client, email, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert open_pixel(client, email.token, agent).status_code == 200
    event = EmailEvent.objects.get(message=email)
    assert event.is_bot
    email.refresh_from_db()
    assert email.open_count == 0 and email.opened_at is None
    assert scored(email, "email_opened") == 0


def test_open_right_after_the_send_is_a_prefetch(client, email, django_capture_on_commit_callbacks):
    EmailMessage.objects.filter(pk=email.pk).update(sent_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        open_pixel(client, email.token)
    assert EmailEvent.objects.get(message=email).is_bot
    assert scored(email, "email_opened") == 0


def test_click_redirects_to_the_emails_link_and_scores_once(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with at(0):
            response = click(client, email.token, 0)
        with at(60):
            again = click(client, email.token, 0)
    assert response.status_code == 302 and response["Location"] == LINKS[0]
    assert again.status_code == 302
    events = EmailEvent.objects.filter(message=email, event_type="clicked")
    assert events.count() == 2 and set(events.values_list("url", flat=True)) == {LINKS[0]}
    email.refresh_from_db()
    assert email.click_count == 2 and email.clicked_at is not None
    assert scored(email, "email_clicked") == 1


@pytest.mark.parametrize("path", ["/e/c/{token}/2/", "/e/c/{token}/99/", "/e/c/nope/0/", "/e/c/{token}/-1/"])
def test_no_redirect_outside_the_emails_links(client, email, path):
    response = client.get(path.format(token=email.token) + "?url=https://evil.example/")
    assert response.status_code == 404
    assert not EmailEvent.objects.exists()


def test_a_stored_non_http_link_is_never_followed(client, email):
    EmailMessage.objects.filter(pk=email.pk).update(links=["javascript:alert(1)", "//evil.example/"])
    assert click(client, email.token, 0).status_code == 404
    assert click(client, email.token, 1).status_code == 404


def test_scanner_clicking_every_link_is_not_scored(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), at(0):
        click(client, email.token, 0, SCANNER)
        click(client, email.token, 1, SCANNER)
    assert set(EmailEvent.objects.filter(message=email).values_list("is_bot", flat=True)) == {True}
    email.refresh_from_db()
    assert email.click_count == 0 and email.clicked_at is None
    assert scored(email, "email_clicked") == 0


def test_all_links_within_seconds_is_a_burst(client, email):
    with at(0):
        assert click(client, email.token, 0).status_code == 302
    with at(2):
        assert click(client, email.token, 1).status_code == 302
    assert list(EmailEvent.objects.filter(message=email).values_list("is_bot", flat=True)) == [True, True]
    email.refresh_from_db()
    assert email.click_count == 0
