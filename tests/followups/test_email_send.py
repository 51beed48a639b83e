"""Sequence emails leave once, through a real SMTP server, with the one-click headers and both parts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail as django_mail
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.utils import timezone

from compliance.blind_index import email_index
from compliance.services import consent_doi_confirm, consent_doi_request
from followups.models import DueStep, EmailMessage, SequenceRun
from followups.rendering import EmailRenderError, render_step_email, render_task_message
from followups.services.email import (
    EmailSendFailed,
    email_connection,
    email_step_send,
    email_steps_send,
    email_test_send,
)
from leads.services.consent import lead_marketing_consent_revoke
from tests.accounts.factories import PartnerFactory
from tests.followups.factories import DueStepFactory, SequenceRunFactory, SequenceStepFactory, TaskStepFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db
OWNER = "test-host:1:task:abcd"
NOW = timezone.now() + dt.timedelta(hours=1)  # after the consents the tests record


def consented_lead(**fields):
    """A lead whose marketing consent is confirmed by double opt-in (may receive marketing mail)."""
    lead = LeadFactory(**fields)
    _grant, token = consent_doi_request(actor=None, lead=lead, version="v1")
    consent_doi_confirm(token, ip="203.0.113.9", user_agent="pytest")
    return lead


def claimed_due(lead=None, **step_fields):
    """A due row of a fresh run, claimed by ``OWNER`` as the tick would."""
    lead = lead or consented_lead()
    run = SequenceRunFactory(lead=lead)
    step = SequenceStepFactory(sequence=run.sequence, number=1, **step_fields)
    return DueStepFactory(
        run=run,
        step=step,
        status=DueStep.Status.CLAIMED,
        claimed_by=OWNER,
        lease_expires_at=timezone.now() + dt.timedelta(minutes=5),
    )


@pytest.fixture
def site(settings):
    settings.SITE_URL = "https://leads.example.org"
    settings.DEFAULT_FROM_EMAIL = "Lead-Plattform <info@mail.example.org>"


def test_a_step_email_arrives_with_both_parts_one_click_headers_and_tracking(smtp_server, site):
    # given a consented lead and a step that links out
    due = claimed_due(
        lead=consented_lead(first_name="<b>Max</b>"),
        subject="Ihre Rendite, {{ first_name }}",
        body_html='<p>Hallo {{ first_name|default:"Hallo" }}, <a href="https://example.org/rechner?a=1&amp;b=2">Rechner</a></p>',
        body_text="Hallo {{ first_name }}: https://example.org/rechner",
    )
    # when
    message = email_step_send(due=due, owner=OWNER, now=NOW)
    # then one mail arrived with our Message-ID and the RFC 8058 headers
    (received,) = smtp_server
    assert received["Message-ID"] == message.message_id == f"<{message.token}@mail.example.org>"
    assert received["To"] == due.run.lead.email and received["Subject"] == "Ihre Rendite, <b>Max</b>"
    unsubscribe = received["List-Unsubscribe"].strip()  # a long URL sits on its own folded line
    assert unsubscribe.startswith("<https://leads.example.org/api/unsubscribe/") and unsubscribe.endswith("/>")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = received.get_body(("html",)).get_content()
    text = received.get_body(("plain",)).get_content()
    assert "Hallo &lt;b&gt;Max&lt;/b&gt;" in html and "<b>Max</b>" not in html  # autoescape
    assert f'href="https://leads.example.org/e/c/{message.token}/0/"' in html
    assert f"https://leads.example.org/e/o/{message.token}.gif" in html
    assert unsubscribe[1:-1] in html and unsubscribe[1:-1] in text  # visible unsubscribe link in both parts
    assert text.startswith("Hallo <b>Max</b>: https://example.org/rechner")
    # and the row says what left, personal data encrypted
    message.refresh_from_db()
    assert message.status == EmailMessage.Status.SENT and message.sent_at == NOW
    assert message.kind == EmailMessage.Kind.MARKETING and message.purpose == EmailMessage.Purpose.SEQUENCE
    assert message.links == ["https://example.org/rechner?a=1&b=2"]
    assert message.to_hash == email_index(due.run.lead.email) and message.to_email == due.run.lead.email
    assert (message.run_id, message.sequence_id, message.step_id) == (due.run_id, due.run.sequence_id, due.step_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_email, subject FROM followups_emailmessage WHERE id = %s", [message.pk])
        raw = cursor.fetchone()
    assert due.run.lead.email not in raw[0] and "Max" not in raw[1]  # ciphertext in the table


def test_the_row_is_recorded_before_the_message_leaves(smtp_server, site, monkeypatch):
    due = claimed_due()
    seen = []
    original = EmailMultiAlternatives.send

    def spy(self, *args, **kwargs):
        seen.append(EmailMessage.objects.values_list("status", "message_id").get(due_step=due))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", spy)
    message = email_step_send(due=due, owner=OWNER, now=NOW)
    assert seen == [(EmailMessage.Status.SENDING, message.message_id)] and len(smtp_server) == 1


def test_a_sent_step_is_not_sent_again(smtp_server, site):
    due = claimed_due()
    first = email_step_send(due=due, owner=OWNER, now=NOW)
    again = email_step_send(due=due, owner=OWNER, now=NOW)
    assert again.pk == first.pk and len(smtp_server) == 1


def test_a_row_left_sending_by_a_dead_worker_is_resent_with_the_same_message_id(smtp_server, site):
    # given a worker that recorded the row and died before marking it sent (the mail may have left)
    due = claimed_due()
    first = email_step_send(due=due, owner=OWNER, now=NOW)
    EmailMessage.objects.filter(pk=first.pk).update(status=EmailMessage.Status.SENDING, sent_at=None)
    # when the step is executed again
    again = email_step_send(due=due, owner=OWNER, now=NOW)
    # then the same Message-ID went out again (receivers drop the duplicate), one row
    assert [m["Message-ID"] for m in smtp_server] == [first.message_id, first.message_id]
    assert again.pk == first.pk and again.status == EmailMessage.Status.SENT
    assert EmailMessage.objects.filter(due_step=due).count() == 1


def test_a_worker_whose_lease_was_taken_over_does_not_resend(smtp_server, site):
    due = claimed_due()
    first = email_step_send(due=due, owner=OWNER, now=NOW)
    EmailMessage.objects.filter(pk=first.pk).update(status=EmailMessage.Status.SENDING)
    DueStep.objects.filter(pk=due.pk).update(claimed_by="another:2:task:ffff")
    assert email_step_send(due=due, owner=OWNER, now=NOW) is None and len(smtp_server) == 1


def test_a_lead_that_opted_out_since_the_tick_looked_gets_nothing(smtp_server, site):
    due = claimed_due()
    lead_marketing_consent_revoke(lead=due.run.lead, actor=None, source="unsubscribe")
    assert email_step_send(due=due, owner=OWNER, now=NOW) is None
    due.refresh_from_db()
    assert due.note == "opted_out" and not smtp_server and not EmailMessage.objects.exists()


def test_an_unconfirmed_consent_blocks_the_send(smtp_server, site):
    lead = LeadFactory()
    consent_doi_request(actor=None, lead=lead, version="v1")  # pending: the link was never clicked
    due = claimed_due(lead=lead)
    assert email_step_send(due=due, owner=OWNER, now=NOW) is None
    due.refresh_from_db()
    assert due.note == "consent_pending" and not smtp_server


def test_an_smtp_failure_marks_the_row_failed_and_a_retry_sends_the_same_message_id(smtp_server, site, settings):
    due = claimed_due()
    settings.EMAIL_PORT = 1  # nothing listens there
    with pytest.raises(EmailSendFailed):
        email_step_send(due=due, owner=OWNER, now=NOW)
    failed = EmailMessage.objects.get(due_step=due)
    assert failed.status == EmailMessage.Status.FAILED and "Error" in failed.error
    settings.EMAIL_PORT = smtp_server.port
    sent = email_step_send(due=due, owner=OWNER, now=NOW)
    assert sent.pk == failed.pk and smtp_server[0]["Message-ID"] == failed.message_id


def test_a_partner_lead_is_signed_by_its_partner_and_replies_go_to_them(smtp_server, site):
    partner = PartnerFactory(first_name="Lisa", last_name="Berater", email="lisa@berater.example")
    partner.partner_profile.display_name = "Lisa Berater"
    partner.partner_profile.save()
    lead = consented_lead(tenant=partner.organization, assigned_partner=partner)
    due = claimed_due(lead=lead, body_text="")
    email_step_send(due=due, owner=OWNER, now=NOW)
    (received,) = smtp_server
    assert received["Reply-To"] == "lisa@berater.example"
    text = received.get_body(("plain",)).get_content()
    assert "Lisa Berater" in text and partner.organization.name in text and "lisa@berater.example" in text
    assert "Lisa Berater" in received.get_body(("html",)).get_content()


def test_the_text_part_is_derived_from_the_html_when_the_step_has_none(site):
    step = SequenceStepFactory(
        body_html="<h1>Neu</h1><p>Hallo {{ first_name }},<br>hier <a href='https://example.org/x'>klicken</a>.</p>",
        body_text="",
    )
    rendered = render_step_email(step=step, lead=LeadFactory(first_name="Erika"))
    assert rendered.text.startswith("Neu\n\nHallo Erika,\nhier klicken (https://example.org/x).")
    assert rendered.links == [] and "/e/c/" not in rendered.html and "/e/o/" not in rendered.html  # preview


def test_a_broken_template_is_a_clear_error_and_nothing_is_sent(smtp_server, site):
    due = claimed_due(body_html="<p>{% if first_name %}Hallo</p>")
    with pytest.raises(EmailRenderError) as error:
        email_step_send(due=due, owner=OWNER, now=NOW)
    assert "body_html" in error.value.message and not smtp_server and not EmailMessage.objects.exists()


def test_the_task_message_uses_the_lead_fields_unescaped():
    step = TaskStepFactory(body_text='Hallo {{ first_name|default:"zusammen" }}, passt Dienstag & Mittwoch?')
    assert (
        render_task_message(step=step, lead=LeadFactory(first_name="")) == "Hallo zusammen, passt Dienstag & Mittwoch?"
    )


def test_a_test_send_is_transactional_without_one_click_and_audited(smtp_server, site, admin_user):
    step = SequenceStepFactory(subject="Hallo {{ first_name }}")
    message = email_test_send(
        step=step, lead=LeadFactory(first_name="Erika"), to_email="admin@example.org", actor=admin_user
    )
    (received,) = smtp_server
    assert received["To"] == "admin@example.org" and received["Subject"] == "[Test] Hallo Erika"
    assert received["List-Unsubscribe-Post"] is None and received["Message-ID"] == message.message_id
    assert message.kind == EmailMessage.Kind.TRANSACTIONAL and message.purpose == EmailMessage.Purpose.TEST
    assert message.status == EmailMessage.Status.SENT and message.links == []


def test_an_esp_message_id_from_anymail_is_kept(settings, site):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    due = claimed_due()
    message = email_step_send(due=due, owner=OWNER, now=NOW)
    assert message.esp_message_id and EmailMessage.objects.get(pk=message.pk).esp_message_id == message.esp_message_id
    (sent,) = django_mail.outbox
    assert sent.metadata == {"message_token": message.token, "purpose": "sequence"}


def test_one_connection_serves_a_whole_batch(smtp_server, site, monkeypatch):
    from django.core.mail.backends.smtp import EmailBackend

    opened = []
    original = EmailBackend.open

    def counting_open(self):
        created = original(self)
        if created:
            opened.append(self)
        return created

    monkeypatch.setattr(EmailBackend, "open", counting_open)
    dues = [claimed_due() for _ in range(3)]
    with email_connection():
        for due in dues:
            email_step_send(due=due, owner=OWNER, now=NOW)
    assert len(smtp_server) == 3 and len(opened) == 1


def test_the_tick_sends_a_due_email_step_through_smtp(smtp_server, site, settings):
    from followups.services.engine import run_due_steps, sequence_enrol

    settings.EMAIL_SEND_WINDOW = "Mon-Sun 00:00-24:00"
    lead = consented_lead(first_name="Erika")
    step = SequenceStepFactory(subject="Willkommen, {{ first_name }}")
    run = sequence_enrol(lead=lead, sequence=step.sequence, actor=None, now=NOW)
    assert run is not None and run.status == SequenceRun.Status.ACTIVE
    run_due_steps(now=NOW + dt.timedelta(minutes=1))
    (received,) = smtp_server
    assert received["Subject"] == "Willkommen, Erika"
    assert EmailMessage.objects.get(run=run).status == EmailMessage.Status.SENT


def test_a_connection_the_server_dropped_mid_batch_is_reopened(smtp_server, site):
    dues = [claimed_due() for _ in range(2)]
    with email_connection() as connection:
        email_step_send(due=dues[0], owner=OWNER, now=NOW)
        connection.connection.close()  # the server hung up after an idle timeout
        email_step_send(due=dues[1], owner=OWNER, now=NOW)
    assert len(smtp_server) == 2
    assert set(EmailMessage.objects.values_list("status", flat=True)) == {EmailMessage.Status.SENT}


def test_the_batch_form_sends_a_batch_with_a_few_queries_and_the_same_guarantees(
    smtp_server, site, django_assert_max_num_queries
):
    # given five claimed steps: three to send, one sent already, one whose lead opted out
    dues = [claimed_due() for _ in range(5)]
    done = email_step_send(due=dues[3], owner=OWNER, now=NOW)
    lead_marketing_consent_revoke(lead=dues[4].run.lead, actor=None, source="unsubscribe")
    smtp_server.clear()
    rows = DueStep.objects.filter(pk__in=[d.pk for d in dues]).select_related("run__sequence", "run__lead", "step")
    # when
    with email_connection(), django_assert_max_num_queries(10):
        results = email_steps_send(dues=list(rows), owner=OWNER, now=NOW)
    # then
    assert len(smtp_server) == 3 and results[dues[4].pk] is None and results[dues[3].pk].pk == done.pk
    sent = EmailMessage.objects.filter(status=EmailMessage.Status.SENT, sent_at=NOW)
    received = {m["Message-ID"] for m in smtp_server}
    assert sent.count() == 4 and received <= set(sent.values_list("message_id", flat=True))
    assert DueStep.objects.get(pk=dues[4].pk).note == "opted_out"
