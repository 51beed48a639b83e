"""Smart suggestions (API-560 selector): reasons, order, exclusions, bounded queries, time and channel."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from followups.models import FollowupPreference, Reminder
from followups.selectors.suggestions import (
    QuietHours,
    calculate_optimal_time,
    followup_suggestions,
    optimal_time,
    suggest_channel,
)
from leads.models import Lead, LeadActivity, LeadAssignment, LeadScoreHistory
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory
from webhooks.models import Conversation

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def _lead(partner, **fields) -> Lead:
    fields.setdefault("tenant", partner.organization)
    return LeadFactory(assigned_partner=partner, **fields)


def _activity(lead, activity_type, at, channel="", **detail) -> LeadActivity:
    return LeadActivity.objects.create(
        lead=lead, activity_type=activity_type, channel=channel, detail=detail, occurred_at=at
    )


def test_reasons_order_and_exclusions(partner_user):
    now = timezone.now()
    new = _lead(partner_user, score=10)
    quiet = _lead(partner_user, score=50)
    _activity(quiet, "contact_logged", now - dt.timedelta(days=5), "phone", outcome="no_answer")
    hot = _lead(partner_user, score=90)
    LeadScoreHistory.objects.create(lead=hot, old_score=50, new_score=90, delta=40, new_stage="burning", reason="x")
    video = _lead(partner_user, score=40)
    _activity(video, "contact_logged", now - dt.timedelta(hours=2), "phone", outcome="no_answer")
    _activity(video, "video_watched", now - dt.timedelta(hours=1))
    _lead(partner_user, opted_out_at=now - dt.timedelta(days=1))
    _lead(partner_user, status=Lead.Status.LOST)
    _lead(PartnerFactory())  # another partner's

    result = followup_suggestions(partner_user, now=now)

    assert [(s.lead, s.reason, s.priority) for s in result] == [
        (hot, "hot_lead", "urgent"),
        (new, "showed_interest", "urgent"),
        (video, "watched_video", "high"),
        (quiet, "no_response", "normal"),
    ]
    by_lead = {s.lead: s for s in result}
    # Contacted 2 h ago: not before 24 h after that contact.
    assert by_lead[video].suggested_time >= now + dt.timedelta(hours=22)
    assert by_lead[quiet].suggested_time >= now + dt.timedelta(days=2)
    assert all(0 <= s.confidence <= 1 for s in result)
    assert by_lead[hot].template == "hot_lead" and "Guten Tag Erika Mustermann" in by_lead[hot].message
    assert by_lead[hot].suggested_channel == "whatsapp"
    assert [s.lead for s in followup_suggestions(partner_user, now=now, priority="normal")] == [quiet]
    assert len(followup_suggestions(partner_user, now=now, limit=2)) == 2


def test_reminders_offers_and_leaders_see_only_their_own(partner_user):
    now = timezone.now()
    lead = _lead(partner_user, score=20)
    _activity(lead, "contact_logged", now - dt.timedelta(days=1), "phone", outcome="reached")
    at = now + dt.timedelta(hours=3)
    Reminder.objects.create(
        lead=lead, tenant=lead.tenant, user=partner_user, action_type="call", scheduled_for=at, first_scheduled_for=at
    )
    pool_lead = LeadFactory()
    LeadAssignment.objects.create(lead=pool_lead, partner=partner_user, expires_at=now + dt.timedelta(hours=5))

    result = {s.lead.pk: s for s in followup_suggestions(partner_user, now=now)}

    assert (result[lead.pk].reason, result[lead.pk].priority) == ("call_scheduled", "scheduled")
    assert result[lead.pk].suggested_time >= at
    offer = result[pool_lead.pk]
    assert (offer.reason, offer.priority, offer.suggested_channel) == ("offer_expiring", "urgent", "inbox")
    assert offer.message == ""  # no contact data of an offered lead


def test_constant_number_of_queries(partner_user):
    now = timezone.now()

    def count(limit: int = 50) -> int:
        with CaptureQueriesContext(connection) as ctx:
            followup_suggestions(partner_user, now=now, limit=limit)
        return len(ctx.captured_queries)

    for index in range(3):
        lead = _lead(partner_user, score=index)
        _activity(lead, "email_replied", now - dt.timedelta(hours=3), "email")
    few = count()
    for index in range(12):
        lead = _lead(partner_user, score=30 + index)
        _activity(lead, "contact_logged", now - dt.timedelta(days=3), "phone", outcome="no_answer")
        _activity(lead, "email_replied", now - dt.timedelta(days=20), "email")
    assert count() == few == count(limit=2)
    assert few <= 25


def test_optimal_time_from_replies_partner_pattern_and_defaults(partner_user):
    monday = dt.datetime(2026, 3, 9, 7, 0, tzinfo=dt.UTC)  # 08:00 in Berlin
    lead = _lead(partner_user, country="DE")
    # No replies anywhere: Tue–Thu at 10:00 or 18:00 Berlin time.
    assert calculate_optimal_time(lead, now=monday).astimezone(BERLIN) == dt.datetime(2026, 3, 10, 10, tzinfo=BERLIN)
    # Three replies on Fridays around 19:00: Friday 19:00 (the partner's quiet hours start at 20:00).
    for week in range(3):
        _activity(lead, "email_replied", dt.datetime(2026, 2, 6 + 7 * week, 18, 5, tzinfo=dt.UTC), "email")
    assert calculate_optimal_time(lead, now=monday).astimezone(BERLIN) == dt.datetime(2026, 3, 13, 19, tzinfo=BERLIN)
    # The partner's quiet hours from 18:00: never then, the next allowed slot.
    FollowupPreference.objects.create(user=partner_user, quiet_start=dt.time(18), quiet_end=dt.time(8))
    slot = calculate_optimal_time(lead, now=monday)
    assert not QuietHours.for_user(partner_user).contains(slot)
    # Another lead of the same partner without replies follows the partner's leads' pattern (Friday).
    other = _lead(partner_user, country="AT")
    assert calculate_optimal_time(other, now=monday).astimezone(BERLIN).weekday() == 4


def test_urgent_time_is_today_outside_quiet_hours():
    quiet = QuietHours(dt.time(20), dt.time(8), True, BERLIN)
    lead = Lead(country="CH")
    tuesday_noon = dt.datetime(2026, 3, 10, 11, 0, tzinfo=dt.UTC)
    slot = optimal_time(lead, earliest=tuesday_noon, replies=[], partner_replies=[], quiet=quiet, urgent=True)
    assert slot.astimezone(BERLIN) == dt.datetime(2026, 3, 10, 18, tzinfo=BERLIN)  # the preferred hour today
    evening = dt.datetime(2026, 3, 10, 18, 30, tzinfo=dt.UTC)
    slot = optimal_time(lead, earliest=evening, replies=[], partner_replies=[], quiet=quiet, urgent=True)
    assert slot == evening  # none left today: right away, before quiet hours start
    saturday = dt.datetime(2026, 3, 14, 11, 0, tzinfo=dt.UTC)
    slot = optimal_time(lead, earliest=saturday, replies=[], partner_replies=[], quiet=quiet, urgent=True)
    assert slot.astimezone(BERLIN) == dt.datetime(2026, 3, 16, 10, tzinfo=BERLIN)


def test_suggest_channel(partner_user):
    now = timezone.now()
    assert suggest_channel(_lead(partner_user)) == "whatsapp"
    assert suggest_channel(_lead(partner_user, phone="", email="")) == "message"
    replied = _lead(partner_user)
    _activity(replied, "email_replied", now - dt.timedelta(days=2), "email")
    assert suggest_channel(replied) == "email"
    dm = _lead(partner_user)
    Conversation.objects.create(account_id="1784", igsid="ig-1", lead=dm, last_inbound_at=now - dt.timedelta(hours=2))
    assert suggest_channel(dm) == "instagram"
    called = _lead(partner_user, email="")
    _activity(called, "contact_logged", now - dt.timedelta(days=9), "phone", outcome="reached")
    _activity(called, "contact_logged", now - dt.timedelta(days=8), "whatsapp", outcome="no_answer")
    assert suggest_channel(called) == "call"
