"""``should_followup``: opted out (ledger, lead, any reply), lost, > 5 unanswered, contacted < 24 h ago."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import ConsentRecord
from followups.models import EmailMessage, FollowupTask
from followups.selectors.should import (
    CONTACTED_RECENTLY,
    LOST,
    OPTED_OUT,
    TOO_MANY_UNANSWERED,
    should_followup,
    should_followup_many,
)
from leads.intent import ANALYSER_VERSION
from leads.models import Lead, LeadActivity
from leads.services.activity import lead_opt_out
from leads.services.consent import lead_marketing_consent_grant
from tests.followups.factories import FollowupTaskFactory
from tests.leads.factories import LeadFactory
from webhooks.models import Conversation, Message

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def _ago(**delta) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def _dm(lead: Lead, direction: str, text: str, at: dt.datetime, **fields) -> Message:
    conversation, _created = Conversation.objects.get_or_create(
        account_id="17841400000000001", igsid=f"igsid-{lead.pk}", defaults={"lead": lead}
    )
    status = Message.Status.RECEIVED if direction == Message.Direction.INBOUND else Message.Status.SENT
    return Message.objects.create(
        conversation=conversation, direction=direction, text=text, status=status, sent_at=at, **fields
    )


def _contact(lead: Lead, at: dt.datetime, outcome: str = "no_answer", note: str = "") -> LeadActivity:
    detail = {"channel": "phone", "outcome": outcome, **({"note": note} if note else {})}
    return LeadActivity.objects.create(
        lead=lead, activity_type="contact_logged", channel="phone", detail=detail, occurred_at=at
    )


def _email(lead: Lead, at: dt.datetime, **fields) -> EmailMessage:
    fields.setdefault("status", EmailMessage.Status.DELIVERED)
    return EmailMessage.objects.create(
        lead=lead,
        tenant=lead.tenant,
        message_id=f"<{uuid.uuid4().hex}@test>",
        to_hash="x" * 64,
        sent_at=at,
        **fields,
    )


def test_a_lead_without_history_may_be_followed_up():
    decision = should_followup(LeadFactory(), now=NOW)
    assert (decision.ok, decision.reason, decision.detail["unanswered"]) == (True, None, 0)
    assert decision.as_dict() == {"ok": True, "reason": None}


def test_a_lost_lead_is_refused():
    lead = LeadFactory()
    Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.LOST)
    lead.refresh_from_db()
    assert should_followup(lead, now=NOW).reason == LOST


def test_a_withdrawal_in_the_consent_ledger_is_an_opt_out_and_outranks_lost():
    lead = LeadFactory()
    lead = lead_opt_out(lead=lead, actor=None, reason="Telefonat", source=ConsentRecord.Source.API)
    Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.LOST)
    lead.refresh_from_db()
    decision = should_followup(lead)
    assert (decision.ok, decision.reason, decision.detail["source"]) == (False, OPTED_OUT, "consent")


def test_the_lead_cache_opted_out_at_is_an_opt_out_too():
    lead = LeadFactory(opted_out_at=_ago(days=3))
    assert should_followup(lead, now=NOW).detail["source"] == "lead"


@pytest.mark.parametrize(
    "text",
    ["Keine weiteren Nachrichten bitte", "Bitte streichen Sie mich aus Ihrer Liste", "Stop", "unsubscribe me"],
)
def test_a_stop_request_in_an_instagram_reply_is_an_opt_out_without_a_stored_verdict(text):
    lead = LeadFactory()
    _dm(lead, Message.Direction.OUTBOUND, "Hallo! Hast du kurz Zeit?", _ago(days=5))
    _dm(lead, Message.Direction.INBOUND, text, _ago(days=4))  # stored before the analyser knew the wording
    decision = should_followup(lead, now=NOW)
    assert (decision.reason, decision.detail["source"]) == (OPTED_OUT, "instagram")
    assert decision.detail["cues"] and text not in str(decision.detail)


def test_a_dm_analysed_by_the_current_rules_is_not_read_again():
    lead = LeadFactory()
    current = {"version": ANALYSER_VERSION, "opt_out": False, "intent": "small_talk"}
    _dm(lead, Message.Direction.INBOUND, "Stop", _ago(days=4), analysis=current)  # e.g. an LLM verdict
    assert should_followup(lead, now=NOW).ok is True
    _dm(lead, Message.Direction.INBOUND, "Danke!", _ago(days=3), analysis={**current, "opt_out": True})
    assert should_followup(lead, now=NOW).reason == OPTED_OUT


@pytest.mark.parametrize(
    ("activity_type", "detail", "opted_out"),
    [
        ("email_replied", {"text": "Hört auf mich zu belästigen!!!"}, True),
        ("message_received", {"body": "Please take me off your list."}, True),
        ("email_replied", {"text": "Stoppen Sie nicht, ich bin interessiert"}, False),
        ("contact_logged", {"outcome": "not_interested", "note": "Will nicht mehr angerufen werden."}, True),
    ],
)
def test_replies_and_call_notes_recorded_as_activities_are_read(activity_type, detail, opted_out):
    lead = LeadFactory()
    LeadActivity.objects.create(lead=lead, activity_type=activity_type, detail=detail, occurred_at=_ago(days=2))
    assert (should_followup(lead, now=NOW).reason == OPTED_OUT) is opted_out


def test_a_consent_given_after_the_stop_request_stands():
    lead = LeadFactory()
    _dm(lead, Message.Direction.INBOUND, "Bitte nicht mehr anschreiben", _ago(days=30))
    lead_marketing_consent_grant(
        lead=lead, actor=None, source=ConsentRecord.Source.API, version="t", recorded_at=_ago(days=2)
    )
    lead.refresh_from_db()
    assert should_followup(lead, now=NOW).ok is True


def test_more_than_five_unanswered_touches_on_any_channel_are_too_many():
    lead = LeadFactory()
    _dm(lead, Message.Direction.INBOUND, "Klingt spannend, erzähl mal mehr!", _ago(days=20))
    for day in (19, 17):
        _dm(lead, Message.Direction.OUTBOUND, "Hier die Infos", _ago(days=day))
    _contact(lead, _ago(days=15))
    _email(lead, _ago(days=12))
    FollowupTaskFactory(lead=lead, status=FollowupTask.Status.DONE, completed_at=_ago(days=9))
    assert should_followup(lead, now=NOW).ok is True  # five unanswered
    _email(lead, _ago(days=6), purpose=EmailMessage.Purpose.PERSONAL)
    _email(lead, _ago(days=5), status=EmailMessage.Status.BOUNCED)  # never arrived: no touch
    decision = should_followup(lead, now=NOW)
    assert (decision.reason, decision.detail["unanswered"]) == (TOO_MANY_UNANSWERED, 6)


def test_an_answer_resets_the_count_a_reached_call_and_an_email_reply_included():
    lead = LeadFactory()
    for day in range(20, 14, -1):
        _contact(lead, _ago(days=day))
    assert should_followup(lead, now=NOW).reason == TOO_MANY_UNANSWERED
    _contact(lead, _ago(days=10), outcome="reached")  # the call was taken: an answer
    _contact(lead, _ago(days=9))
    assert should_followup(lead, now=NOW).detail["unanswered"] == 1
    _email(lead, _ago(days=8), replied_at=_ago(days=7))
    assert should_followup(lead, now=NOW).detail["unanswered"] == 0


def test_a_task_done_and_the_contact_logged_for_it_are_one_touch():
    lead = LeadFactory()
    FollowupTaskFactory(lead=lead, status=FollowupTask.Status.DONE, completed_at=_ago(days=3))
    _contact(lead, _ago(days=3) + dt.timedelta(minutes=2))
    assert should_followup(lead, now=NOW).detail["unanswered"] == 1


def test_a_contact_less_than_24_hours_ago_is_too_recent_and_says_when_it_is_not():
    lead = LeadFactory()
    last = _ago(hours=23)
    _contact(lead, last)
    decision = should_followup(lead, now=NOW)
    assert (decision.reason, decision.detail["next_allowed_at"]) == (CONTACTED_RECENTLY, last + dt.timedelta(hours=24))
    assert should_followup(lead, now=NOW + dt.timedelta(hours=2)).ok is True
    assert should_followup(lead, now=_ago(days=1)).ok is True  # the contact lies in that moment's future


def test_the_batch_form_answers_every_lead_in_a_constant_number_of_queries():
    def queries(count: int) -> int:
        leads = []
        for index in range(count):
            lead = LeadFactory()
            _dm(lead, Message.Direction.INBOUND, "Wann können wir telefonieren?", _ago(days=3))
            _contact(lead, _ago(hours=index + 1))
            _email(lead, _ago(days=2))
            leads.append(lead)
        with CaptureQueriesContext(connection) as captured:
            decisions = should_followup_many(leads, now=NOW)
        assert set(decisions) == {lead.pk for lead in leads}
        return len(captured.captured_queries)

    assert queries(2) == queries(12) <= 7
    assert should_followup_many([], now=NOW) == {}


def test_decisions_match_between_the_single_and_the_batch_form():
    stopped, fresh = LeadFactory(), LeadFactory()
    _dm(stopped, Message.Direction.INBOUND, "Ich habe kein Interesse mehr, bitte nicht mehr anschreiben", _ago(days=1))
    batch = should_followup_many([stopped, fresh], now=NOW)
    assert batch[stopped.pk] == should_followup(stopped, now=NOW)
    assert (batch[stopped.pk].reason, batch[fresh.pk].ok) == (OPTED_OUT, True)
    assert timezone.is_aware(batch[stopped.pk].detail["at"])
