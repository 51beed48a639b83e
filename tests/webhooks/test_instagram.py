"""Instagram DMs end to end: threads with encrypted text, rule/contact capture, merges, opt-out, auto-replies."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from leads.models import Lead, LeadIntent
from leads.services import lead_ingest
from tests.webhooks.conftest import GRAPH, fixture_bytes
from tests.webhooks.factories import InstagramRuleFactory, MetaPageConnectionFactory
from webhooks.models import Conversation, InstagramRule, Message, WebhookEvent

pytestmark = pytest.mark.django_db

ACCOUNT, IGSID = "17841405726653026", "1234567890123456"
SEND_URL = f"{GRAPH}/me/messages"


@pytest.fixture
def page(db):
    return MetaPageConnectionFactory(page_id="153125381133", instagram_account_id=ACCOUNT, access_token="EAAPage")


@pytest.fixture
def deliver(post_webhook, django_capture_on_commit_callbacks):
    def run(fixture: str, **replace):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook("instagram", fixture_bytes(fixture, **replace))
        assert response.status_code == 200, response.content
        return response

    return run


def send_ok(graph):
    graph.post(SEND_URL, body=fixture_bytes("instagram/send_api_ok.json"), content_type="application/json")


def test_default_rules_ship_with_the_spec_keywords():
    keywords = {k for rule in InstagramRule.objects.all() for k in rule.keywords}
    assert {"info", "preis", "kosten", "interesse", "termin", "besichtigung", "price", "interested"} <= keywords
    assert all(rule.auto_reply for rule in InstagramRule.objects.all())


def test_a_keyword_message_creates_a_lead_stores_the_thread_encrypted_and_replies(page, graph, deliver):
    send_ok(graph)
    deliver("instagram/message_price_de.json")

    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    lead = event.lead
    assert lead.channel == Lead.Channel.INSTAGRAM and lead.instagram_igsid == IGSID
    conversation = Conversation.objects.get()
    assert (conversation.account_id, conversation.igsid, conversation.lead) == (ACCOUNT, IGSID, lead)
    inbound = conversation.messages.get(direction=Message.Direction.INBOUND)
    assert inbound.text.startswith("Hallo! Was kostet")
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM webhooks_message WHERE id = %s", [inbound.pk])
        (stored,) = cursor.fetchone()
    assert "kostet" not in stored and stored.startswith("v1:")
    assert inbound.rule.name == "Preisanfrage"

    intent = LeadIntent.objects.get(lead=lead, source_type="instagram_message")
    assert intent.intent_level == "medium" and "kostet" in intent.keywords
    assert intent.source_type == "instagram_message"

    # The Preisanfrage auto-reply went out through the Send API, inside the window.
    (call,) = graph.calls
    assert json.loads(call.request.body)["recipient"] == {"id": IGSID}
    assert "access_token=EAAPage" in call.request.url
    reply = conversation.messages.get(direction=Message.Direction.OUTBOUND)
    assert (reply.status, reply.mid) == (Message.Status.SENT, "m_reply_0001")
    conversation.refresh_from_db()
    assert conversation.last_outbound_at is not None


def test_the_echo_of_our_reply_is_ignored_and_not_stored_twice(page, graph, deliver):
    send_ok(graph)
    deliver("instagram/message_price_de.json")
    response = deliver("instagram/echo.json")
    assert response.json()["ignored"] == 1
    assert Message.objects.count() == 2  # the inbound message and our reply, no third copy from the echo
    assert WebhookEvent.objects.get(event_type="echo").status == WebhookEvent.Status.IGNORED


def test_the_auto_reply_is_sent_once_per_rule_and_conversation(page, graph, deliver):
    send_ok(graph)
    deliver("instagram/message_price_de.json")
    deliver("instagram/message_price_de.json", **{"MDAwMDAwMDAwMgZDZD": "MDAwMDAwMDAwNwZDZD"})  # a new mid
    assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 1
    assert len(graph.calls) == 1


def test_a_message_without_rule_or_contact_is_stored_but_makes_no_lead(page, graph, deliver):
    deliver("instagram/message_hello.json")
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert not Lead.objects.exists()
    assert Message.objects.get().text == "Hello!"
    assert len(graph.calls) == 0


def test_an_email_in_a_later_message_merges_with_the_existing_lead_of_that_email(page, graph, deliver):
    send_ok(graph)
    existing = lead_ingest(
        payload={"email": "Anna.Berger@beispiel.de", "full_name": "Anna Berger"}, channel=Lead.Channel.WEBSITE
    ).lead
    deliver("instagram/message_price_de.json")
    ig_lead = Conversation.objects.get().lead
    assert ig_lead.pk != existing.pk

    deliver("instagram/message_with_email.json")

    conversation = Conversation.objects.get()
    survivor = conversation.lead
    assert survivor.merged_into_id is None
    assert Lead.objects.filter(merged_into__isnull=True).count() == 1
    assert survivor.email == "anna.berger@beispiel.de" and survivor.instagram_igsid == IGSID
    latest = LeadIntent.objects.filter(lead=survivor, source_type="instagram_message").order_by("-created_at").first()
    assert latest.intent_level == "high"


def test_an_opt_out_phrase_opts_the_lead_out_and_stops_replies(page, graph, deliver):
    send_ok(graph)
    deliver("instagram/message_price_de.json")
    deliver("instagram/message_opt_out.json")
    lead = Conversation.objects.get().lead
    lead.refresh_from_db()
    assert lead.opted_out_at is not None
    assert LeadIntent.objects.filter(lead=lead, opt_out_detected=True).exists()
    # A later message matching another rule with an auto-reply ("termin") gets no reply any more.
    deliver(
        "instagram/message_price_de.json",
        **{"MDAwMDAwMDAwMgZDZD": "MDAwMDAwMDAwOAZDZD", "Was kostet die 3-Zimmer-Wohnung": "Termin am Montag"},
    )
    assert Message.objects.filter(direction=Message.Direction.INBOUND).count() == 3
    assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 1
    assert len(graph.calls) == 1


def test_an_opt_out_from_a_stranger_creates_no_lead(page, deliver):
    deliver("instagram/message_opt_out.json")
    assert not Lead.objects.exists()
    assert Message.objects.get().analysis["opt_out"] is True


def test_no_auto_reply_outside_the_24_hour_window(page, graph, deliver):
    # A message processed late (e.g. after an outage): the person wrote 25 hours ago.
    old = int((time.time() - 25 * 3600) * 1000)
    deliver("instagram/message_price_de.json", ts_ms=old)
    assert Lead.objects.count() == 1  # still captured
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
    assert len(graph.calls) == 0


def test_meta_closing_the_window_is_recorded_and_not_retried(page, graph, deliver):
    graph.post(SEND_URL, body=fixture_bytes("instagram/send_api_window_closed.json"), status=400)
    deliver("instagram/message_price_de.json")
    reply = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert reply.status == Message.Status.WINDOW_CLOSED
    assert "code 10/2018278" in reply.error
    assert len(graph.calls) == 1


def test_a_reply_whose_window_closed_while_queued_is_not_sent(page, graph):
    from webhooks.services import instagram_reply_send

    conversation = Conversation.objects.create(
        account_id=ACCOUNT,
        igsid=IGSID,
        connection=page,
        last_inbound_at=timezone.now() - timedelta(hours=24, minutes=1),
    )
    reply = Message.objects.create(
        conversation=conversation, direction=Message.Direction.OUTBOUND, text="Hallo", status=Message.Status.QUEUED
    )
    assert instagram_reply_send(message_id=reply.pk) == Message.Status.WINDOW_CLOSED
    assert instagram_reply_send(message_id=reply.pk) == ""  # claimed once: never sent twice
    assert len(graph.calls) == 0


def test_a_partner_pages_instagram_leads_go_to_the_partner(graph, deliver, partner_user):
    MetaPageConnectionFactory(
        instagram_account_id=ACCOUNT, partner=partner_user, organization=partner_user.organization
    )
    send_ok(graph)
    deliver("instagram/message_price_de.json")
    lead = Conversation.objects.get().lead
    assert lead.assigned_partner == partner_user and lead.source == Lead.Source.META_SELF


def test_a_rule_of_another_page_does_not_fire(graph, deliver):
    InstagramRule.objects.all().delete()
    other = MetaPageConnectionFactory(instagram_account_id="999")
    InstagramRuleFactory(keywords=["#wohnung"], connection=other)
    MetaPageConnectionFactory(instagram_account_id=ACCOUNT)
    deliver("instagram/message_hello.json", **{"Hello!": "Neue #wohnung?"})
    assert not Lead.objects.exists()


def test_a_phone_number_alone_captures_the_lead(page, deliver):
    InstagramRule.objects.all().delete()
    deliver("instagram/message_hello.json", **{"Hello!": "Ruft mich an: 0171 2345678"})
    lead = Lead.objects.get()
    assert lead.phone == "+491712345678" and lead.instagram_igsid == IGSID
