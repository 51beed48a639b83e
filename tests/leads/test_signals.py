"""Domain events of leads: each is received once, after commit, and never for a rolled-back change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.dispatch import Signal

from accounts.models import PartnerProfile, User
from leads.models import Lead, LeadAssignment
from leads.services import lead_ingest, lead_status_transition, offer_accept, offer_create
from leads.signals import lead_created, lead_status_changed, leads_imported, offer_accepted
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


def _listen(signal: Signal) -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(sender, **kwargs):
        kwargs.pop("signal")
        received.append({"sender": sender, **kwargs})

    signal.connect(receiver, weak=False, dispatch_uid="test-signals")
    yield received
    signal.disconnect(dispatch_uid="test-signals")


@pytest.fixture
def created() -> Iterator[list[dict[str, Any]]]:
    yield from _listen(lead_created)


@pytest.fixture
def status_changed() -> Iterator[list[dict[str, Any]]]:
    yield from _listen(lead_status_changed)


@pytest.fixture
def accepted() -> Iterator[list[dict[str, Any]]]:
    yield from _listen(offer_accepted)


def _partner() -> User:
    partner = PartnerFactory()
    PartnerProfile.objects.filter(user=partner).update(capacity=5)
    return partner


# --- lead_created -------------------------------------------------------------------------------


def test_lead_created_once_after_the_ingest_commits(platform_org, created, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = lead_ingest(payload={"email": "neu@beispiel.de"}, channel="website", actor="api_key:test")
        assert created == []  # nothing before commit
    assert created == [{"sender": Lead, "lead": result.lead, "channel": "website", "actor": "api_key:test"}]

    with django_capture_on_commit_callbacks(execute=True):
        again = lead_ingest(payload={"email": "neu@beispiel.de", "phone": "0171 7654321"}, channel="facebook")
    assert again.merged and len(created) == 1  # the same person again is no new lead


def test_lead_created_is_not_sent_when_the_ingest_rolls_back(platform_org, created, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Rollback), transaction.atomic():
        lead_ingest(payload={"email": "weg@beispiel.de"}, channel="website")
        raise Rollback
    assert created == [] and not Lead.objects.exists()


# --- lead_status_changed ------------------------------------------------------------------------


def test_lead_status_changed_once_after_commit(
    platform_org, admin_user, status_changed, django_capture_on_commit_callbacks
):
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_status_transition(lead=lead, to=Lead.Status.CONTACTED, actor=admin_user)
        lead_status_transition(lead=lead, to=Lead.Status.CONTACTED, actor=admin_user)  # no move, no event
        assert status_changed == []
    assert status_changed == [
        {"sender": Lead, "lead": lead, "from_status": "new", "to_status": "contacted", "actor": admin_user}
    ]


def test_lead_status_changed_is_not_sent_on_rollback(platform_org, status_changed, django_capture_on_commit_callbacks):
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Rollback), transaction.atomic():
        lead_status_transition(lead=lead, to=Lead.Status.LOST, actor=None, reason="Spam")
        raise Rollback
    lead.refresh_from_db()
    assert status_changed == [] and lead.status == Lead.Status.NEW


# --- offer_accepted -----------------------------------------------------------------------------


def test_offer_accepted_once_after_commit(platform_org, admin_user, accepted, django_capture_on_commit_callbacks):
    partner = _partner()
    offer = offer_create(lead=LeadFactory(), partner=partner, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        offer = offer_accept(offer=offer, actor=partner)
        offer_accept(offer=offer, actor=partner)  # accepting twice is a no-op
        assert accepted == []
    assert len(accepted) == 1
    event = accepted[0]
    assert (event["sender"], event["offer"], event["partner"], event["actor"]) == (
        LeadAssignment,
        offer,
        partner,
        partner,
    )
    assert event["lead"].pk == offer.lead_id and event["lead"].assigned_partner_id == partner.pk


def test_offer_accepted_is_not_sent_on_rollback(platform_org, admin_user, accepted, django_capture_on_commit_callbacks):
    partner = _partner()
    offer = offer_create(lead=LeadFactory(), partner=partner, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Rollback), transaction.atomic():
        offer_accept(offer=offer, actor=partner)
        raise Rollback
    offer.refresh_from_db()
    assert accepted == [] and offer.status == LeadAssignment.Status.OFFERED


def test_a_failing_receiver_undoes_nothing_and_the_others_still_hear_it(
    platform_org, admin_user, status_changed, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    lead_status_changed.connect(broken, weak=False, dispatch_uid="test-signals-broken")
    try:
        lead = LeadFactory()
        with django_capture_on_commit_callbacks(execute=True):
            lead_status_transition(lead=lead, to=Lead.Status.QUALIFIED, actor=admin_user)
    finally:
        lead_status_changed.disconnect(dispatch_uid="test-signals-broken")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.QUALIFIED and len(status_changed) == 1


# --- leads_imported -----------------------------------------------------------------------------


@pytest.fixture
def imported() -> Iterator[list[dict[str, Any]]]:
    yield from _listen(leads_imported)


def test_an_import_announces_its_new_leads_once_per_committed_batch(tmp_path, platform_org, imported, created):
    from tests.leads.test_import import run, write_csv

    # given: a file of five people, one of them twice, read in batches of two rows
    rows = [["E-Mail", "Vorname"]] + [[f"person{n}@example.de", f"P{n}"] for n in range(5)]
    rows.append(["person0@example.de", "P0"])
    path = write_csv(tmp_path / "leads.csv", rows)
    # when: it is imported
    run(path, "--batch-size", "2")
    # then: one signal per batch that created leads, naming each new lead once, and no lead_created per row
    announced = [lead_id for batch in imported for lead_id in batch["lead_ids"]]
    assert len(imported) == 3
    assert sorted(announced) == sorted(str(pk) for pk in Lead.objects.values_list("pk", flat=True))
    assert len(announced) == 5
    assert {(b["sender"], b["tenant_id"], b["channel"]) for b in imported} == {(Lead, platform_org.pk, "import")}
    assert created == []
    # when: the same file is imported again, then: nothing new, nothing announced
    run(path, "--batch-size", "2")
    assert len(imported) == 3
