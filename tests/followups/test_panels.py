"""The lead's runs and emails on the admin lead page (panel hook in ``leads``) and in the portal."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from followups.models import EmailMessage
from followups.selectors.lead_panels import lead_sequence_panel
from leads.panels import registered_lead_panels
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import own_lead
from tests.followups.factories import SequenceRunFactory, sequence_with_steps
from tests.leads.factories import LeadFactory


@pytest.fixture(autouse=True)
def _english(settings):
    """The assertions read the English source texts (the platform's language is German)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db


def _mail(lead, step, *, run=None, subject="Willkommen!", **fields) -> EmailMessage:
    return EmailMessage.objects.create(
        message_id=f"<{EmailMessage.objects.count()}-{lead.pk}@test>",
        lead=lead,
        tenant=lead.tenant,
        run=run,
        sequence=step.sequence,
        step=step,
        to_hash=lead.email_hash,
        to_email=lead.email,
        subject=subject,
        status=EmailMessage.Status.SENT,
        sent_at=timezone.now(),
        **fields,
    )


def _history(lead, *, emails: int, name: str = "Willkommen Kapitalanlage"):
    sequence = sequence_with_steps(steps=3, name=name)
    run = SequenceRunFactory(sequence=sequence, lead=lead, current_step=1, next_due_at=timezone.now())
    step = sequence.steps.first()
    for i in range(emails):
        _mail(lead, step, run=run, subject=f"Mail {i}", opened_at=timezone.now() if i == 0 else None)
    return run


def _queries(client, url: str) -> tuple[int, str]:
    client.get(url)  # warm the per-process caches (tenant scoring config, content types)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_followups_registers_the_emails_panel_with_leads():
    lead = LeadFactory()
    panels = registered_lead_panels(lead=lead)
    assert not panels["emails"].runs and not panels["emails"].emails


def test_the_panel_holds_the_leads_runs_and_emails_without_test_sends_or_other_tenants(django_assert_num_queries):
    lead = LeadFactory()
    run = _history(lead, emails=2)
    _mail(lead, run.sequence.steps.first(), purpose=EmailMessage.Purpose.TEST, subject="Test")
    other = PartnerFactory().organization
    stray = _mail(lead, run.sequence.steps.first(), subject="Fremd")
    EmailMessage.objects.filter(pk=stray.pk).update(tenant=other)
    with django_assert_num_queries(2):
        panel = lead_sequence_panel(lead=lead)
        assert [r.step_count for r in panel.runs] == [3]
        assert sorted(m.subject for m in panel.emails) == ["Mail 0", "Mail 1"]
        assert panel.emails[0].sequence.name == "Willkommen Kapitalanlage"


def test_the_admin_lead_page_shows_runs_and_emails_in_a_constant_number_of_queries(client, admin_user):
    client.force_login(admin_user)
    lead = LeadFactory()
    _history(lead, emails=1)
    url = f"/admin/leads/lead/{lead.pk}/change/"
    few, page = _queries(client, url)
    assert "Email sequences are not set up yet." not in page
    assert "Willkommen Kapitalanlage" in page and "Mail 0" in page and 'id="panel-emails"' in page
    _history(lead, emails=4, name="Rechner-Nachfass")
    more, page = _queries(client, url)
    assert more == few
    assert "Rechner-Nachfass" in page and "Mail 3" in page


def test_the_portal_lead_page_shows_the_partners_runs_and_emails(portal_client, portal_partner):
    lead = own_lead(portal_partner)
    url = f"/portal/leads/meine-leads/{lead.public_id}/"
    empty, page = _queries(portal_client, url)
    assert "This lead is not in any sequence." in page
    _history(lead, emails=1)
    few, page = _queries(portal_client, url)
    assert 'data-testid="lead-sequences"' in page and "Willkommen Kapitalanlage" in page and "Mail 0" in page
    _history(lead, emails=5, name="Rechner-Nachfass")
    more, page = _queries(portal_client, url)
    assert more == few == empty
    assert "Rechner-Nachfass" in page and "Mail 4" in page


def test_another_partners_lead_stays_hidden_in_the_portal(portal_client):
    stranger = own_lead(PartnerFactory())
    _history(stranger, emails=1)
    response = portal_client.get(f"/portal/leads/meine-leads/{stranger.public_id}/")
    assert response.status_code == 404
    assert b"Mail 0" not in response.content
