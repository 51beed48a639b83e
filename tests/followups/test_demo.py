"""Demo data of the sequence engine (``followups.demo``): alive pages, every email state, idempotent."""

from __future__ import annotations

import io

import pytest

from accounts.models import Organization
from followups.demo import SCENARIOS, seed_followups_demo
from followups.models import EmailEvent, EmailMessage, EmailSuppression, FollowupTask, Sequence, SequenceRun
from followups.selectors.figures import sequence_figures
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import own_lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(platform_org, django_capture_on_commit_callbacks):
    partner = PartnerFactory()
    for i in range(8):
        own_lead(partner, first_name=f"Demo{i}")
    for _ in range(len(SCENARIOS) - 8):
        LeadFactory()
    out = io.StringIO()
    with django_capture_on_commit_callbacks() as callbacks:
        created = seed_followups_demo(platform=Organization.platform(), partners=[partner], stdout=out)
    assert not Sequence.objects.filter(kind="nurture", is_active=True).exists()  # the demo leads' events come first
    for callback in callbacks:
        callback()
    assert Sequence.objects.filter(kind="nurture", is_active=True).count() == 2
    return partner, created, out.getvalue()


def test_the_demo_has_two_sequences_with_german_steps_and_emails_in_every_state(seeded):
    partner, created, out = seeded
    assert created == len(SCENARIOS) and "2 sequences" in out
    welcome = Sequence.objects.get(code="willkommen-kapitalanlage")
    calc = Sequence.objects.get(code="rechner-nachfass")
    assert (welcome.trigger, calc.trigger) == ("lead_created", "calculator_used")
    for sequence in (welcome, calc):
        kinds = list(sequence.steps.order_by("number").values_list("kind", flat=True))
        assert kinds.count("email") == 3 and kinds.count("task") == 1
    statuses = set(EmailMessage.objects.values_list("status", flat=True))
    assert {"queued", "sent", "delivered", "bounced", "complained", "suppressed"} <= statuses
    assert EmailMessage.objects.filter(opened_at__isnull=False).exists()
    assert EmailMessage.objects.filter(clicked_at__isnull=False).exists()
    assert SequenceRun.objects.filter(exit_reason="unsubscribed", status="cancelled").exists()
    assert set(SequenceRun.objects.values_list("status", flat=True)) == {"active", "paused", "completed", "cancelled"}
    assert EmailSuppression.objects.filter(reason="manual").exists()
    assert EmailEvent.objects.filter(is_bot=True).exists()
    assert FollowupTask.objects.filter(status="open", assignee=partner).exists()
    assert SequenceRun.objects.filter(partner=partner).count() == 8  # the partner's leads first: the portal is alive
    mail = EmailMessage.objects.filter(lead__first_name__isnull=False, sequence=welcome, step__number=1).first()
    assert mail.subject.startswith("Willkommen, Demo")
    figures = sequence_figures([welcome.pk, calc.pk])
    assert figures[welcome.pk].sent > figures[welcome.pk].opened >= figures[welcome.pk].clicked > 0


def test_the_demo_is_idempotent(seeded, platform_org):
    partner, _created, _out = seeded
    counts = (SequenceRun.objects.count(), EmailMessage.objects.count(), EmailEvent.objects.count())
    assert seed_followups_demo(platform=platform_org, partners=[partner]) == 0
    assert (SequenceRun.objects.count(), EmailMessage.objects.count(), EmailEvent.objects.count()) == counts
    assert Sequence.objects.filter(kind="nurture").count() == 2


def test_the_demo_pages_render(seeded, client, admin_user, portal_client):
    client.force_login(admin_user)
    welcome = Sequence.objects.get(code="willkommen-kapitalanlage")
    for url in (
        "/admin/followups/sequence/",
        f"/admin/followups/sequence/{welcome.pk}/change/",
        f"/admin/followups/sequence/{welcome.pk}/preview/",
        "/admin/followups/sequencerun/",
        "/admin/followups/emailmessage/",
        "/admin/followups/emailevent/",
        "/admin/followups/emailsuppression/",
    ):
        assert client.get(url).status_code == 200, url
