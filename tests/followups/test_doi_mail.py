"""Double opt-in: a pending marketing grant gets one plain confirmation mail; its link confirms the consent."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from compliance.models import ConsentRecord
from compliance.selectors.consent import consent_state
from compliance.services import consent_doi_request
from compliance.services.consent import consent_record_build
from followups.models import EmailMessage, EmailSuppression
from followups.services.email import doi_message_id, email_doi_send
from leads.models import Lead
from leads.services.consent import lead_marketing_consent_grant, lead_marketing_consent_revoke
from leads.signals import lead_created, leads_imported
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db
LINK = re.compile(r"https://leads\.example\.org(/consent/confirm/[^/\s\"]+/)")


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = "https://leads.example.org"
    settings.DEFAULT_FROM_EMAIL = "Lead-Plattform <info@mail.example.org>"


def _grant(lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return lead_marketing_consent_grant(lead=lead, actor=None, source="form", version="web-2026")


def test_a_form_grant_gets_one_plain_confirmation_mail_and_its_link_confirms(
    smtp_server, django_capture_on_commit_callbacks
):
    # given a lead that ticked the marketing box on a form
    lead = LeadFactory(first_name="Erika")
    grant = _grant(lead, django_capture_on_commit_callbacks)
    # then the confirmation mail arrived: transactional, no one-click header, no tracking, no advertising
    (received,) = smtp_server
    message = EmailMessage.objects.get(purpose=EmailMessage.Purpose.DOI)
    assert received["Message-ID"] == message.message_id == doi_message_id(grant)
    assert received["To"] == lead.email and received["List-Unsubscribe-Post"] is None
    assert received["List-Unsubscribe"] is None
    assert message.kind == EmailMessage.Kind.TRANSACTIONAL and message.status == EmailMessage.Status.SENT
    html = received.get_body(("html",)).get_content()
    text = received.get_body(("plain",)).get_content()
    assert "/e/o/" not in html and "/e/c/" not in html and "Erika" not in text
    (path,) = set(LINK.findall(text))
    assert f"https://leads.example.org{path}" in html
    # and the token request names the grant and the mail (evidence chain)
    request = ConsentRecord.objects.exclude(doi_token_hash="").get(subject_lead=lead)
    assert request.evidence["requested_for"] == grant.pk and request.evidence["message_id"] == message.message_id
    assert request.version == "web-2026" and consent_state(lead, "MARKETING_EMAIL").status == "pending"
    # when the person opens the link and presses the button
    client = Client()
    assert client.get(path).status_code == 200
    assert consent_state(lead, "MARKETING_EMAIL").status == "pending"  # a GET (scanner) confirms nothing
    page = client.get(path)
    csrf = page.cookies["csrftoken"].value
    assert client.post(path, {"csrfmiddlewaretoken": csrf}).status_code == 200
    # then the consent is confirmed
    assert consent_state(lead, "MARKETING_EMAIL").allowed


def test_a_retried_task_does_not_send_twice(smtp_server, django_capture_on_commit_callbacks):
    grant = _grant(LeadFactory(), django_capture_on_commit_callbacks)
    first = EmailMessage.objects.get(purpose=EmailMessage.Purpose.DOI)
    assert email_doi_send(grant_id=grant.pk).pk == first.pk
    assert len(smtp_server) == 1 and EmailMessage.objects.count() == 1
    assert ConsentRecord.objects.exclude(doi_token_hash="").count() == 1  # no second token either


def test_a_mail_left_sending_is_resent_with_the_same_message_id_and_a_fresh_link(
    smtp_server, django_capture_on_commit_callbacks
):
    lead = LeadFactory()
    grant = _grant(lead, django_capture_on_commit_callbacks)
    EmailMessage.objects.update(status=EmailMessage.Status.SENDING)
    email_doi_send(grant_id=grant.pk)
    assert [m["Message-ID"] for m in smtp_server] == [doi_message_id(grant)] * 2
    newest = LINK.findall(smtp_server[1].get_body(("plain",)).get_content())[0]
    client = Client()
    csrf = client.get(newest).cookies["csrftoken"].value
    assert client.post(newest, {"csrfmiddlewaretoken": csrf}).status_code == 200
    assert consent_state(lead, "MARKETING_EMAIL").allowed


def test_no_mail_for_a_confirmed_withdrawn_or_suppressed_person(smtp_server, django_capture_on_commit_callbacks):
    confirmed = LeadFactory()
    _record, _token = consent_doi_request(actor=None, lead=confirmed, version="v1")  # its caller mails the link
    withdrawn = LeadFactory()
    suppressed = LeadFactory()
    EmailSuppression.objects.create(email_hash=suppressed.email_hash, reason=EmailSuppression.Reason.BOUNCED)
    grant = lead_marketing_consent_grant(lead=withdrawn, actor=None, source="form")
    lead_marketing_consent_revoke(lead=withdrawn, actor=None, source="unsubscribe")
    with django_capture_on_commit_callbacks(execute=True):
        _grant(suppressed, django_capture_on_commit_callbacks)
    assert email_doi_send(grant_id=grant.pk) is None
    assert not smtp_server and not EmailMessage.objects.exists()


def test_a_form_sent_again_and_again_sends_one_mail_a_day(smtp_server, django_capture_on_commit_callbacks):
    lead = LeadFactory()
    _grant(lead, django_capture_on_commit_callbacks)
    _grant(lead, django_capture_on_commit_callbacks)
    assert len(smtp_server) == 1


def test_a_new_lead_created_with_consent_gets_the_mail(smtp_server):
    # given a lead written together with its grant (ingest does that, unannounced), then announced
    lead = LeadFactory(consent_marketing=True, consent_at=timezone.now())
    consent_record_build(
        code="MARKETING_EMAIL", action="granted", lead=lead, version="lead-ad", source="webhook"
    ).save()
    lead_created.send(sender=Lead, lead=lead, channel=lead.channel, actor=None)
    (received,) = smtp_server
    assert received["To"] == lead.email and LINK.search(received.get_body(("plain",)).get_content())


def test_an_import_batch_mails_only_the_pending_leads(smtp_server):
    pending = LeadFactory(consent_marketing=True, consent_at=timezone.now())
    consent_record_build(code="MARKETING_EMAIL", action="granted", lead=pending, version="csv", source="import").save()
    without = LeadFactory()
    leads_imported.send(
        sender=Lead,
        lead_ids=[str(pending.pk), str(without.pk)],
        tenant_id=pending.tenant_id,
        channel="import",
        source="zone1_pool",
        actor=None,
    )
    assert [m["To"] for m in smtp_server] == [pending.email]


def test_the_doi_mail_does_not_count_as_marketing(smtp_server, django_capture_on_commit_callbacks):
    _grant(LeadFactory(), django_capture_on_commit_callbacks)
    since = timezone.now() - dt.timedelta(days=7)
    assert not EmailMessage.objects.filter(kind=EmailMessage.Kind.MARKETING, sent_at__gte=since).exists()
