"""ESP tracking webhooks through anymail's real URLs: recorded Postmark, Mailgun and SES payloads
(``tests/fixtures/<esp>/``, protocols §2.3–§2.5) with real basic auth and Mailgun's HMAC test vector."""

from __future__ import annotations

import base64
import copy
import json
import pathlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.blind_index import email_index
from compliance.models import ConsentRecord
from followups.models import EmailEvent, EmailMessage, EmailSuppression, SequenceRun
from followups.services.suppression import email_suppressed, suppression_add, suppression_remove
from leads.models import Lead, LeadActivity
from tests.followups.factories import SequenceRunFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
SECRET = "esp-hook:s3cret-pass"
ADDRESS = "max@example.de"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}


def fixture(path: str) -> dict:
    return json.loads((FIXTURES / path).read_text())


@pytest.fixture(autouse=True)
def anymail_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": "test_mailgun_signing_key"}


@pytest.fixture
def lead(db) -> Lead:
    return LeadFactory(email=ADDRESS)


def email_for(lead: Lead, **fields) -> EmailMessage:
    token = uuid.uuid4().hex[:22]
    values = {
        "message_id": f"<{token}@example.de>",
        "lead": lead,
        "tenant": lead.tenant,
        "to_hash": email_index(lead.email),
        "to_email": lead.email,
        "subject": "Ihre Bewertung",
        "status": EmailMessage.Status.SENT,
        "sent_at": timezone.now() - timedelta(hours=1),
        **fields,
    }
    return EmailMessage.objects.create(**values)


def post(client, esp: str, payload, *, auth: bool = True, **headers):
    extra = {**(AUTH if auth else {}), **headers}
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(f"/anymail/{esp}/tracking/", data=body, content_type="application/json", **extra)


def score_rows(lead: Lead, code: str) -> int:
    return LeadActivity.objects.filter(lead=lead, activity_type=code).count()


# --- Postmark ---------------------------------------------------------------------------------


def test_postmark_hard_bounce_suppresses_exits_runs_and_scores(client, lead, django_capture_on_commit_callbacks):
    email = email_for(lead, esp_message_id="7e0c1a2b-0000-4000-8000-00000000abcd")
    run = SequenceRunFactory(lead=lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "postmark", fixture("postmark/bounce.json"))
    assert response.status_code == 200
    event = EmailEvent.objects.get()
    assert (event.esp, event.event_id, event.event_type, event.message_id) == (
        "postmark",
        "4323372036",
        "bounced",
        email.pk,
    )
    assert event.recipient_hash == email_index(ADDRESS)
    assert event.detail["payload"]["Type"] == "HardBounce"
    email.refresh_from_db()
    assert email.status == EmailMessage.Status.BOUNCED and email.bounced_at is not None
    suppression = EmailSuppression.objects.get()
    assert (suppression.email_hash, suppression.reason, suppression.event_id) == (
        email_index(ADDRESS),
        "bounced",
        event.pk,
    )
    assert email_suppressed(email=ADDRESS)
    run.refresh_from_db()
    assert (run.status, run.exit_reason) == (SequenceRun.Status.CANCELLED, "bounced")
    assert score_rows(lead, "email_bounced") == 1
    assert LeadActivity.objects.get(lead=lead, activity_type="email_bounced").score_delta == -50


def test_postmark_retry_is_a_duplicate(client, lead, django_capture_on_commit_callbacks):
    email_for(lead, esp_message_id="7e0c1a2b-0000-4000-8000-00000000abcd")
    payload = fixture("postmark/bounce.json")
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "postmark", payload).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "postmark", payload).status_code == 200
    assert EmailEvent.objects.count() == 1
    assert EmailSuppression.objects.count() == 1
    assert score_rows(lead, "email_bounced") == 1


def test_a_second_hard_bounce_of_the_same_email_scores_nothing_more(client, lead, django_capture_on_commit_callbacks):
    email_for(lead, esp_message_id="7e0c1a2b-0000-4000-8000-00000000abcd")
    payload = fixture("postmark/bounce.json")
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "postmark", payload)
        post(client, "postmark", {**payload, "ID": 4323372037, "BouncedAt": "2026-10-05T11:15:01Z"})
    assert EmailEvent.objects.count() == 2
    assert score_rows(lead, "email_bounced") == 1


@pytest.mark.parametrize("auth", [None, "Basic " + base64.b64encode(b"esp-hook:wrong").decode()])
def test_postmark_without_valid_basic_auth_stores_nothing(client, lead, auth):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    response = post(client, "postmark", fixture("postmark/bounce.json"), auth=False, **headers)
    assert response.status_code in (400, 401, 403)
    assert not EmailEvent.objects.exists() and not EmailSuppression.objects.exists()


@pytest.mark.parametrize(("bounce_type", "stored_as"), [("SoftBounce", "soft_bounced"), ("Transient", "deferred")])
def test_postmark_soft_bounce_is_only_counted(client, lead, bounce_type, stored_as, django_capture_on_commit_callbacks):
    email = email_for(lead, esp_message_id="7e0c1a2b-0000-4000-8000-00000000abcd")
    run = SequenceRunFactory(lead=lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "postmark", {**fixture("postmark/bounce.json"), "Type": bounce_type, "Inactive": False})
    assert response.status_code == 200
    assert EmailEvent.objects.get().event_type == stored_as
    email.refresh_from_db()
    assert email.status == EmailMessage.Status.SENT and email.bounced_at is None
    assert not EmailSuppression.objects.exists()
    run.refresh_from_db()
    assert run.status == SequenceRun.Status.ACTIVE
    assert score_rows(lead, "email_bounced") == 0


def test_postmark_spam_complaint_suppresses_and_exits(client, lead, django_capture_on_commit_callbacks):
    email = email_for(lead, esp_message_id="7e0c1a2b-0000-4000-8000-00000000abcd")
    run = SequenceRunFactory(lead=lead)
    payload = {**fixture("postmark/bounce.json"), "RecordType": "SpamComplaint", "Type": "SpamComplaint"}
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "postmark", payload).status_code == 200
    email.refresh_from_db()
    assert email.status == EmailMessage.Status.COMPLAINED and email.complained_at is not None
    assert EmailSuppression.objects.get().reason == "complained"
    run.refresh_from_db()
    assert run.exit_reason == "complained"
    assert score_rows(lead, "email_bounced") == 0


def test_postmark_unsubscribe_is_the_one_click_opt_out(client, lead, django_capture_on_commit_callbacks):
    email = email_for(lead, esp_message_id="7e0c1a2b-0000-4000-8000-00000000abcd")
    run = SequenceRunFactory(lead=lead)
    payload = {
        "RecordType": "SubscriptionChange",
        "MessageID": "7e0c1a2b-0000-4000-8000-00000000abcd",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": "2026-10-05T10:20:00Z",
        "Recipient": ADDRESS,
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "nurture",
        "Metadata": {},
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "postmark", payload).status_code == 200
    assert EmailEvent.objects.get().event_type == "unsubscribed"
    email.refresh_from_db()
    assert email.unsubscribed_at is not None
    record = ConsentRecord.objects.filter(subject_lead=lead).order_by("-pk").first()
    assert (record.action, record.source) == (ConsentRecord.Action.REVOKED, ConsentRecord.Source.UNSUBSCRIBE)
    run.refresh_from_db()
    assert run.exit_reason == "unsubscribed"
    assert not EmailSuppression.objects.exists()  # an opt-out is consent, not a dead address


def test_postmark_delivery_then_late_bounce(client, lead, django_capture_on_commit_callbacks):
    email = email_for(lead, esp_message_id="7e0c1a2b-0000-4000-8000-00000000abcd")
    delivery = {
        "RecordType": "Delivery",
        "MessageID": "7e0c1a2b-0000-4000-8000-00000000abcd",
        "Recipient": ADDRESS,
        "DeliveredAt": "2026-10-05T10:14:01Z",
        "Details": "Test delivery webhook details",
        "ServerID": 23,
        "MessageStream": "outbound",
        "Metadata": {},
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "postmark", delivery).status_code == 200
        assert post(client, "postmark", delivery).status_code == 200  # a retry without an ESP event id
    email.refresh_from_db()
    assert email.status == EmailMessage.Status.DELIVERED and email.delivered_at.minute == 14
    assert EmailEvent.objects.filter(event_type="delivered").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "postmark", fixture("postmark/bounce.json"))
    email.refresh_from_db()
    assert email.status == EmailMessage.Status.BOUNCED and email.delivered_at is not None


def test_malformed_payload_is_refused_and_stores_nothing(lead):
    from django.test import Client

    response = post(Client(raise_request_exception=False), "postmark", "{not json")
    assert response.status_code == 400  # anymail alone answers 500, and the ESP would retry it for days
    assert not EmailEvent.objects.exists()


def test_event_for_an_unknown_email_still_reaches_the_address_and_its_leads(
    client, lead, django_capture_on_commit_callbacks
):
    run = SequenceRunFactory(lead=lead)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "postmark", fixture("postmark/bounce.json")).status_code == 200
    event = EmailEvent.objects.get()
    assert event.message_id is None
    assert email_suppressed(email=ADDRESS)
    run.refresh_from_db()
    assert run.exit_reason == "bounced"  # matched through the address's blind index


# --- Mailgun ----------------------------------------------------------------------------------


def test_mailgun_permanent_failure_with_the_hmac_test_vector(client, lead, django_capture_on_commit_callbacks):
    email = email_for(lead, message_id="<20261005081500.1.ABC@mg.example.de>")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "mailgun", fixture("mailgun/failed_permanent.json"))
    assert response.status_code == 200
    event = EmailEvent.objects.get()
    assert (event.esp, event.event_id, event.event_type) == ("mailgun", "Ase7i2zsRYeDXztHGENqRA", "bounced")
    assert event.message_id == email.pk
    assert EmailSuppression.objects.filter(email_hash=email_index(ADDRESS), reason="bounced").exists()
    assert score_rows(lead, "email_bounced") == 1


def test_mailgun_bad_signature_stores_nothing(client, lead):
    payload = fixture("mailgun/failed_permanent.json")
    payload["signature"]["signature"] = "0" * 64
    response = post(client, "mailgun", payload)
    assert response.status_code == 400
    assert not EmailEvent.objects.exists() and not EmailSuppression.objects.exists()


def test_mailgun_temporary_failure_is_a_deferral(client, lead):
    email = email_for(lead, message_id="<20261005081500.1.ABC@mg.example.de>")
    payload = copy.deepcopy(fixture("mailgun/failed_permanent.json"))
    payload["event-data"]["severity"] = "temporary"
    assert post(client, "mailgun", payload).status_code == 200
    assert EmailEvent.objects.get().event_type == "deferred"
    email.refresh_from_db()
    assert email.status == EmailMessage.Status.SENT
    assert not EmailSuppression.objects.exists()


# --- Amazon SES through SNS -------------------------------------------------------------------


def ses_headers(payload: dict) -> dict:
    return {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": payload["Type"], "HTTP_X_AMZ_SNS_MESSAGE_ID": payload["MessageId"]}


def test_ses_bounce_notification_with_basic_auth(client, lead, django_capture_on_commit_callbacks):
    email = email_for(lead, esp_message_id="0102019a-msg")
    payload = fixture("amazon_ses/bounce_notification.json")
    challenge = post(client, "amazon_ses", payload, auth=False, **ses_headers(payload))
    assert challenge.status_code == 401 and "Basic" in challenge["WWW-Authenticate"]
    assert not EmailEvent.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "amazon_ses", payload, **ses_headers(payload))
        assert post(client, "amazon_ses", payload, **ses_headers(payload)).status_code == 200  # SNS retry
    assert response.status_code == 200
    event = EmailEvent.objects.get()
    assert (event.esp, event.event_type, event.message_id) == ("amazon_ses", "bounced", email.pk)
    assert event.event_id.startswith("0102019a-feedback:")
    assert email_suppressed(email=ADDRESS)
    assert score_rows(lead, "email_bounced") == 1


def test_ses_transient_bounce_and_delivery(client, lead):
    email = email_for(lead, esp_message_id="0102019a-msg")
    payload = fixture("amazon_ses/bounce_notification.json")
    message = json.loads(payload["Message"])
    message["bounce"]["bounceType"] = "Transient"
    soft = {**payload, "MessageId": "sns-2", "Message": json.dumps(message)}
    assert post(client, "amazon_ses", soft, **ses_headers(soft)).status_code == 200
    delivery = {
        "notificationType": "Delivery",
        "mail": message["mail"],
        "delivery": {"timestamp": "2026-10-05T08:15:00.000Z", "recipients": [ADDRESS], "smtpResponse": "250 ok"},
    }
    delivered = {**payload, "MessageId": "sns-3", "Message": json.dumps(delivery)}
    assert post(client, "amazon_ses", delivered, **ses_headers(delivered)).status_code == 200
    assert sorted(EmailEvent.objects.values_list("event_type", flat=True)) == ["delivered", "soft_bounced"]
    email.refresh_from_db()
    assert email.status == EmailMessage.Status.DELIVERED
    assert not EmailSuppression.objects.exists()


# --- Suppression services ---------------------------------------------------------------------


def test_suppression_add_and_remove_are_audited(admin_user):
    from compliance.models import AuditEvent

    entry, created = suppression_add(email="Someone@Example.de", reason="manual", actor=admin_user)
    again, created_again = suppression_add(email="someone@example.de", reason="bounced", actor=None)
    assert created and not created_again and again.pk == entry.pk and again.reason == "manual"
    assert email_suppressed(email="someone@example.de")
    assert suppression_remove(email="someone@example.de", actor=admin_user)
    assert not suppression_remove(email="someone@example.de", actor=admin_user)
    assert not email_suppressed(email="someone@example.de")
    kinds = list(
        AuditEvent.objects.filter(event_type__startswith="followups.suppression").values_list("event_type", flat=True)
    )
    assert sorted(kinds) == ["followups.suppression_added", "followups.suppression_removed"]


def test_ses_subscription_is_confirmed_without_boto3(client, db):
    import responses

    url = "https://sns.eu-central-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn&Token=abc"
    payload = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "sns-confirm-1",
        "Token": "abc",
        "TopicArn": "arn:aws:sns:eu-central-1:123456789012:ses-events",
        "Message": "You have chosen to subscribe to the topic …",
        "SubscribeURL": url,
        "Timestamp": "2026-10-05T08:00:00.000Z",
    }
    with responses.RequestsMock() as mocked:
        mocked.get(url, body="<ConfirmSubscriptionResponse/>")
        assert post(client, "amazon_ses", payload, **ses_headers(payload)).status_code == 200
        assert len(mocked.calls) == 1
    forged = {**payload, "MessageId": "sns-confirm-2", "SubscribeURL": "https://evil.example/confirm"}
    assert post(client, "amazon_ses", forged, **ses_headers(forged)).status_code == 400
    assert not EmailEvent.objects.exists()


def test_a_reply_to_our_email_marks_it_once_scores_and_ends_the_runs(lead, django_capture_on_commit_callbacks):
    from anymail.inbound import AnymailInboundMessage
    from anymail.signals import AnymailInboundEvent, inbound

    email = email_for(lead)
    run = SequenceRunFactory(lead=lead)
    raw = (
        f"From: {ADDRESS}\r\nTo: info@example.de\r\nSubject: Re: Ihre Bewertung\r\n"
        f"In-Reply-To: {email.message_id}\r\nDate: Thu, 03 Dec 2026 10:00:00 +0100\r\n\r\nJa, gern!\r\n"
    )
    event = AnymailInboundEvent(event_type="inbound", message=AnymailInboundMessage.parse_raw_mime(raw))
    with django_capture_on_commit_callbacks(execute=True):
        inbound.send(sender=object, event=event, esp_name="Postmark")
        inbound.send(sender=object, event=event, esp_name="Postmark")  # the ESP redelivered it
    email.refresh_from_db()
    run.refresh_from_db()
    assert email.replied_at is not None and email.replied_at.hour == 9  # 10:00 +01:00
    assert score_rows(lead, "email_replied") == 1
    assert (run.status, run.exit_reason) == ("cancelled", "replied")


def test_without_a_webhook_secret_esp_events_are_refused(client, lead, settings):
    settings.ANYMAIL = {}  # anymail alone would accept anyone's forged bounces (with a warning)
    response = post(client, "postmark", fixture("postmark/bounce.json"), auth=False)
    assert response.status_code == 403
    assert not EmailEvent.objects.exists() and not EmailSuppression.objects.exists()
