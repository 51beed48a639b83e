"""Send window, frequency cap and the email eligibility of a lead (SPEC §11)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from followups.models import EmailMessage, EmailSuppression
from followups.selectors.eligibility import email_block_reason, email_block_reasons
from followups.services import guardrails
from tests.followups.factories import lead_with_consent
from tests.leads.factories import LeadFactory

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("value", "days", "start", "end"),
    [
        ("Mon-Fri 08:00-18:00", {0, 1, 2, 3, 4}, 480, 1080),
        ("Mon-Sun 00:00-24:00", set(range(7)), 0, 1440),
        ("mon,wed,Fri 09:30-17:00", {0, 2, 4}, 570, 1020),
    ],
)
def test_send_window_parses(value, days, start, end):
    window = guardrails.parse_send_window(value)
    assert (set(window.days), window.start, window.end) == (days, start, end)


@pytest.mark.parametrize(
    "value",
    ["", "Mon-Fri", "Mon-Fri 8-18", "Mon-Xyz 08:00-18:00", "Fri-Mon 08:00-18:00", "Mon 18:00-08:00", "Mon 08:00-25:00"],
)
def test_malformed_send_window_is_a_clear_configuration_error(value):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_SEND_WINDOW"):
        guardrails.parse_send_window(value)


def test_frequency_cap_parses_strictly():
    assert guardrails.parse_frequency_cap("2/7d") == guardrails.FrequencyCap(2, dt.timedelta(days=7))
    assert guardrails.parse_frequency_cap("1/12h").period == dt.timedelta(hours=12)
    for bad in ("2", "0/7d", "2/7w", "two/7d"):
        with pytest.raises(ImproperlyConfigured, match="EMAIL_FREQUENCY_CAP"):
            guardrails.parse_frequency_cap(bad)


def test_next_window_slot_moves_a_friday_evening_to_monday_morning_local_time():
    window = guardrails.parse_send_window("Mon-Fri 08:00-18:00")
    friday_evening = dt.datetime(2026, 12, 4, 18, 30, tzinfo=BERLIN)
    slot = guardrails.next_window_slot(friday_evening, BERLIN, window)
    assert slot.astimezone(BERLIN) == dt.datetime(2026, 12, 7, 8, 0, tzinfo=BERLIN)
    inside = dt.datetime(2026, 12, 4, 9, 0, tzinfo=BERLIN)
    assert guardrails.next_window_slot(inside, BERLIN, window) == inside
    # Before the opening on a business day: the same day's opening, in summer time too.
    early = dt.datetime(2026, 7, 1, 5, 0, tzinfo=BERLIN)
    assert guardrails.next_window_slot(early, BERLIN, window).astimezone(BERLIN).hour == 8


def _lead(country: str = "", phone: str = "") -> SimpleNamespace:
    return SimpleNamespace(country=country, phone=phone)


def test_recipient_time_zone_from_country_then_phone():
    assert str(guardrails.recipient_time_zone(_lead(country="AT"))) == "Europe/Vienna"
    assert str(guardrails.recipient_time_zone(_lead(country="CH"))) == "Europe/Zurich"
    assert str(guardrails.recipient_time_zone(_lead(country="FR"))) == "Europe/Berlin"
    assert str(guardrails.recipient_time_zone(_lead(country="", phone="+41 79 123 45 67"))) == ("Europe/Zurich")
    assert str(guardrails.recipient_time_zone(_lead(country="", phone="+4915112345"))) == "Europe/Berlin"


@pytest.mark.django_db
def test_frequency_cap_counts_marketing_mail_only(settings, platform_org):
    settings.EMAIL_FREQUENCY_CAP = "2/7d"
    settings.EMAIL_SEND_WINDOW = "Mon-Sun 00:00-24:00"
    lead = LeadFactory()
    now = timezone.now()
    first = now - dt.timedelta(days=6)
    for n, (kind, sent_at) in enumerate(
        [("marketing", first), ("marketing", now - dt.timedelta(days=1)), ("transactional", now)]
    ):
        EmailMessage.objects.create(kind=kind, to_hash=lead.email_hash, message_id=f"<m{n}@test>", sent_at=sent_at)
    slot, reason = guardrails.next_send_slot(lead, now=now)
    assert reason == "frequency_cap"
    assert slot == first + dt.timedelta(days=7, seconds=1)
    settings.EMAIL_FREQUENCY_CAP = "3/7d"
    guardrails.parse_frequency_cap.cache_clear()
    assert guardrails.next_send_slot(lead, now=now) == (now, "")


@pytest.mark.django_db
def test_email_block_reasons(platform_org):
    now = timezone.now() + dt.timedelta(seconds=5)
    allowed = lead_with_consent()
    pending = lead_with_consent(confirmed=False)
    never = LeadFactory()
    no_email = LeadFactory(email="")
    suppressed = lead_with_consent()
    EmailSuppression.objects.create(email_hash=suppressed.email_hash, reason=EmailSuppression.Reason.BOUNCED)
    erased = LeadFactory(erased_at=now)
    opted_out = lead_with_consent()
    from leads.services.consent import lead_marketing_consent_revoke

    lead_marketing_consent_revoke(lead=opted_out, actor=None, source="unsubscribe")
    opted_out.refresh_from_db()
    reasons = email_block_reasons([allowed, pending, never, no_email, suppressed, erased, opted_out], now=now)
    assert [reasons[lead.pk] for lead in (allowed, pending, never, no_email, suppressed, erased, opted_out)] == [
        None,
        "consent_pending",
        "no_consent",
        "no_email",
        "suppressed",
        "erased",
        "opted_out",
    ]
    assert email_block_reason(allowed, now=now) is None
