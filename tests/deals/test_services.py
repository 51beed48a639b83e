"""Deal services: conversion with the right split, the stage transition table, history and audit."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import close_old_connections, connection

from accounts.models import User
from compliance.models import AuditEvent
from core.exceptions import ConflictError, DomainError, TransitionNotAllowed
from deals.models import DealStageChange, PartnerDeal
from deals.services import (
    DEAL_TRANSITIONS,
    deal_lose,
    deal_move_stage,
    deal_move_targets,
    deal_reopen,
    deal_update,
    deal_win,
    lead_convert,
)
from leads.models import Lead, LeadActivity
from leads.services import STATUS_TRANSITIONS, lead_contact_log, lead_mark_lost, lead_qualify, lead_status_transition
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.deals.factories import accepted_pool_lead, deal_for, own_lead

pytestmark = pytest.mark.django_db

STAGES = [s.value for s in PartnerDeal.Stage]
STATUSES = [s.value for s in Lead.Status]
STATUS_PATH = ["new", "contacted", "qualified"]


def _audits(obj, event_type: str) -> int:
    return AuditEvent.objects.filter(event_type=event_type, object_id=str(obj.pk)).count()


def test_converting_an_own_lead_opens_a_deal_with_everything_for_the_partner(partner_user):
    lead = own_lead(partner_user, company_name="Muster GmbH", first_name="Eva", last_name="Klein")
    lead_qualify(lead=lead, actor=partner_user)

    deal = lead_convert(lead=lead, actor=partner_user, deal_value="250000", expected_close_date=None)

    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONVERTED
    assert deal.commission_split == {"platform": "0", "partner": "1"}
    assert (deal.stage, deal.tenant_id, deal.owner_id) == ("lead", partner_user.organization_id, partner_user.pk)
    assert deal.deal_value == Decimal("250000.00")
    assert (deal.title, deal.contact_name, deal.contact_email) == ("Muster GmbH", "Eva Klein", lead.email)
    assert _audits(lead, "lead.converted") == 1
    assert DealStageChange.objects.get(deal=deal).to_stage == "lead"
    # Contact data of the deal is encrypted at rest like the lead's.
    with connection.cursor() as cursor:
        cursor.execute("SELECT contact_email FROM deals_partnerdeal WHERE id = %s", [deal.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("v1:") and lead.email not in raw


def test_an_accepted_pool_lead_carries_the_frozen_pool_split(partner_user):
    lead = accepted_pool_lead(partner_user)
    lead_qualify(lead=lead, actor=partner_user)

    deal = lead_convert(lead=lead, actor=partner_user, stage="qualified")

    assert deal.commission_split == {"platform": "0.3333", "partner": "0.6667"}
    assert deal.stage == "qualified"
    assert deal.partner_share + deal.platform_share == Decimal("1.0000")


def test_convert_needs_a_qualified_lead_and_is_idempotent(partner_user):
    lead = own_lead(partner_user)
    with pytest.raises(TransitionNotAllowed):
        lead_convert(lead=lead, actor=partner_user)
    assert not PartnerDeal.objects.exists()

    lead_qualify(lead=lead, actor=partner_user)
    first = lead_convert(lead=lead, actor=partner_user)
    again = lead_convert(lead=lead, actor=partner_user, deal_value=5)

    assert first.pk == again.pk and PartnerDeal.objects.count() == 1
    assert _audits(lead, "lead.converted") == 1


def test_convert_refuses_bad_values_and_start_stages(partner_user):
    lead = own_lead(partner_user)
    lead_qualify(lead=lead, actor=partner_user)
    with pytest.raises(DomainError) as negative:
        lead_convert(lead=lead, actor=partner_user, deal_value="-1")
    assert negative.value.code == "invalid_value"
    with pytest.raises(DomainError):
        lead_convert(lead=lead, actor=partner_user, stage="won")
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.QUALIFIED  # nothing half-done


@pytest.mark.parametrize("current", STAGES)
@pytest.mark.parametrize("target", STAGES)
def test_transition_table(partner_user, current, target):
    deal = deal_for(partner_user, stage=current)
    changes_before = DealStageChange.objects.filter(deal=deal).count()

    if current == target:
        assert deal_move_stage(deal=deal, to=target, actor=partner_user, reason="x").stage == current
        assert DealStageChange.objects.filter(deal=deal).count() == changes_before
    elif target in DEAL_TRANSITIONS[current]:
        moved = deal_move_stage(deal=deal, to=target, actor=partner_user, reason="Budget gestrichen")
        assert moved.stage == target
        change = DealStageChange.objects.filter(deal=deal).first()
        assert (change.from_stage, change.to_stage, change.actor_id) == (current, target, partner_user.pk)
    else:
        with pytest.raises(TransitionNotAllowed):
            deal_move_stage(deal=deal, to=target, actor=partner_user, reason="x")
        assert PartnerDeal.objects.get(pk=deal.pk).stage == current


def _lead_in_status(partner, status: str) -> Lead:
    lead = own_lead(partner)
    if status in ("converted", "lost"):
        path = [*STATUS_PATH[1:], status]
    else:
        path = STATUS_PATH[1 : STATUS_PATH.index(status) + 1]
    for step in path:
        lead = lead_status_transition(lead=lead, to=step, actor=partner, reason="Kein Bedarf")
    return lead


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_lead_status_table(partner_user, current, target):
    lead = _lead_in_status(partner_user, current)
    audits_before = AuditEvent.objects.filter(object_id=str(lead.pk)).count()

    if current == target:
        assert lead_status_transition(lead=lead, to=target, actor=partner_user).status == current
        assert AuditEvent.objects.filter(object_id=str(lead.pk)).count() == audits_before
    elif target in STATUS_TRANSITIONS[current]:
        assert lead_status_transition(lead=lead, to=target, actor=partner_user, reason="x").status == target
        assert _audits(lead, f"lead.{target}") == 1
    else:
        with pytest.raises(TransitionNotAllowed):
            lead_status_transition(lead=lead, to=target, actor=partner_user, reason="x")
        assert Lead.objects.get(pk=lead.pk).status == current
    # Converted and lost are final; nothing goes back to "new".
    assert not STATUS_TRANSITIONS["converted"] and not STATUS_TRANSITIONS["lost"]
    assert all("new" not in targets for targets in STATUS_TRANSITIONS.values())


def test_stage_moves_are_audited_by_kind(partner_user):
    deal = deal_for(partner_user, stage="closing")
    assert _audits(deal, "deal.stage_changed") == 4  # lead → qualified → proposal → negotiation → closing

    deal = deal_win(deal=deal, actor=partner_user, deal_value="312000.50")

    assert deal.stage == "won" and deal.closed_at is not None
    assert deal.deal_value == Decimal("312000.50")
    event = AuditEvent.objects.get(event_type="deal.won", object_id=str(deal.pk))
    assert event.payload["deal_value"] == "312000.50" and event.actor_id == partner_user.pk

    other = deal_for(partner_user, stage="proposal")
    with pytest.raises(DomainError) as missing:
        deal_lose(deal=other, actor=partner_user, reason="  ")
    assert missing.value.code == "reason_required"
    lost = deal_lose(deal=other, actor=partner_user, reason="Kunde kauft woanders")
    assert (lost.stage, lost.lost_reason) == ("lost", "Kunde kauft woanders")
    assert _audits(lost, "deal.lost") == 1


OPEN = ["lead", "qualified", "proposal", "negotiation", "closing"]


def test_the_table_is_spec_4_8_any_open_stage_to_any_other_and_closed_is_final():
    for stage in OPEN:
        assert DEAL_TRANSITIONS[stage] == set(STAGES) - {stage}
    assert DEAL_TRANSITIONS["won"] == set() and DEAL_TRANSITIONS["lost"] == set()
    assert deal_move_targets("proposal") == ["lead", "qualified", "negotiation", "closing", "won", "lost"]
    assert deal_move_targets("won") == []


def test_a_deal_moves_back_and_skips_ahead(partner_user):
    deal = deal_for(partner_user, stage="negotiation")

    deal = deal_move_stage(deal=deal, to="qualified", actor=partner_user)  # back two stages
    assert deal.stage == "qualified" and deal.closed_at is None
    deal = deal_move_stage(deal=deal, to="closing", actor=partner_user)  # skip ahead
    assert deal.stage == "closing"

    history = list(DealStageChange.objects.filter(deal=deal).values_list("from_stage", "to_stage")[:2])
    assert history == [("qualified", "closing"), ("negotiation", "qualified")]
    assert _audits(deal, "deal.stage_changed") == 3 + 2


def test_win_straight_from_qualified_and_lose_straight_from_lead(partner_user):
    deal = deal_for(partner_user, stage="qualified")
    won = deal_win(deal=deal, actor=partner_user, deal_value="5000")
    assert (won.stage, won.deal_value) == ("won", Decimal("5000.00")) and won.closed_at is not None
    assert AuditEvent.objects.get(event_type="deal.won", object_id=str(deal.pk)).payload["from"] == "qualified"

    skip = deal_move_stage(deal=deal_for(partner_user, stage="lead"), to="won", actor=partner_user)
    assert skip.stage == "won"

    fresh = deal_for(partner_user, stage="lead")
    with pytest.raises(DomainError) as missing:
        deal_move_stage(deal=fresh, to="lost", actor=partner_user)  # lost still needs a reason
    assert missing.value.code == "reason_required"
    assert PartnerDeal.objects.get(pk=fresh.pk).stage == "lead"
    lost = deal_lose(deal=fresh, actor=partner_user, reason="Kein Budget")
    assert (lost.stage, lost.lost_reason) == ("lost", "Kein Budget")


@pytest.mark.parametrize("closed", ["won", "lost"])
def test_won_and_lost_are_final_for_a_partner(partner_user, closed):
    deal = deal_for(partner_user, stage=closed)
    for target in [s for s in STAGES if s != closed]:
        with pytest.raises(TransitionNotAllowed):
            deal_move_stage(deal=deal, to=target, actor=partner_user, reason="doch nicht")
    with pytest.raises(TransitionNotAllowed):  # the other way to close
        if closed == "won":
            deal_lose(deal=deal, actor=partner_user, reason="doch nicht")
        else:
            deal_win(deal=deal, actor=partner_user)
    with pytest.raises(ConflictError):
        deal_update(deal=deal, actor=partner_user, deal_value=1)
    with pytest.raises(PermissionDenied):
        deal_reopen(deal=deal, to="closing", actor=partner_user)
    assert PartnerDeal.objects.get(pk=deal.pk).stage == closed


def test_a_platform_admin_reopens_a_closed_deal_audited(partner_user, django_capture_on_commit_callbacks):
    admin = UserFactory(role=User.Role.PLATFORM_ADMIN)
    lost = deal_for(partner_user, stage="lost")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deal = deal_reopen(deal=lost, to="negotiation", actor=admin, reason="Kunde meldet sich wieder")

    assert (deal.stage, deal.closed_at, deal.lost_reason) == ("negotiation", None, "")
    fresh = PartnerDeal.objects.get(pk=lost.pk)
    assert (fresh.stage, fresh.closed_at, fresh.lost_reason) == ("negotiation", None, "")
    change = DealStageChange.objects.filter(deal=deal).first()
    assert (change.from_stage, change.to_stage, change.actor_id) == ("lost", "negotiation", admin.pk)
    assert change.reason == "Kunde meldet sich wieder"
    event = AuditEvent.objects.get(event_type="deal.reopened", object_id=str(deal.pk))
    assert event.actor_id == admin.pk
    assert event.payload == {"from": "lost", "to": "negotiation", "reason_given": True}
    assert len(callbacks) == 1  # deal_stage_changed, after commit
    # Open again: the partner works it as usual.
    assert deal_win(deal=deal, actor=partner_user).stage == "won"


def test_reopen_refuses_open_deals_closed_targets_and_ops(partner_user):
    admin = UserFactory(role=User.Role.PLATFORM_ADMIN)
    with pytest.raises(ConflictError) as still_open:
        deal_reopen(deal=deal_for(partner_user, stage="proposal"), to="lead", actor=admin)
    assert still_open.value.code == "deal_open"
    won = deal_for(partner_user, stage="won")
    with pytest.raises(DomainError) as closed_target:
        deal_reopen(deal=won, to="lost", actor=admin)
    assert closed_target.value.code == "invalid_stage"
    with pytest.raises(PermissionDenied):
        deal_reopen(deal=won, to="lead", actor=UserFactory(role=User.Role.INTERNAL_OPS))
    assert PartnerDeal.objects.get(pk=won.pk).stage == "won"
    assert not AuditEvent.objects.filter(event_type="deal.reopened").exists()


def test_deal_update_changes_only_what_changed(partner_user):
    deal = deal_for(partner_user, value=100)
    deal = deal_update(deal=deal, actor=partner_user, deal_value="100.00", expected_close_date="")
    assert _audits(deal, "deal.updated") == 0
    deal = deal_update(deal=deal, actor=partner_user, deal_value=150, listing_id="OBJ-7")
    assert (deal.deal_value, deal.listing_id) == (Decimal("150.00"), "OBJ-7")
    assert AuditEvent.objects.get(event_type="deal.updated").payload["fields"] == ["deal_value", "listing_id"]


def test_lead_work_moves_status_and_fills_the_timeline(partner_user):
    lead = own_lead(partner_user)

    lead_contact_log(lead=lead, actor=partner_user, channel="phone", outcome="reached", note="Ruft zurück")
    lead_contact_log(lead=lead, actor=partner_user, channel="email", outcome="no_answer")
    lead_qualify(lead=lead, actor=partner_user)
    lead_qualify(lead=lead, actor=partner_user)  # no-op

    lead.refresh_from_db()
    assert lead.status == Lead.Status.QUALIFIED and lead.last_activity_at is not None
    kinds = list(LeadActivity.objects.filter(lead=lead).order_by("id").values_list("activity_type", flat=True))
    assert kinds == ["contact_logged", "status_changed", "contact_logged", "status_changed"]
    assert _audits(lead, "lead.contacted") == 1 and _audits(lead, "lead.qualified") == 1

    lost = own_lead(partner_user)
    with pytest.raises(DomainError):
        lead_contact_log(lead=lost, actor=partner_user, channel="fax", outcome="reached")
    lead_mark_lost(lead=lost, actor=partner_user, reason="Falsche Nummer")
    with pytest.raises(TransitionNotAllowed):
        lead_qualify(lead=lost, actor=partner_user)


@pytest.mark.django_db(transaction=True)
def test_two_partners_closing_the_same_deal_at_once_end_with_one_outcome(platform_org):
    # given: a deal in "closing" that two people of the same organization close at the same moment
    partner = PartnerFactory()
    deal = deal_for(partner, stage="closing")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def close(action):
        try:
            barrier.wait(timeout=5)
            action()
            outcomes.append("ok")
        except TransitionNotAllowed:
            outcomes.append("refused")
        finally:
            close_old_connections()

    # when
    threads = [
        threading.Thread(target=close, args=(lambda: deal_win(deal=deal, actor=partner),)),
        threading.Thread(target=close, args=(lambda: deal_lose(deal=deal, actor=partner, reason="weg"),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    # then: the row lock serializes them; the second sees a terminal stage and is refused
    assert sorted(outcomes) == ["ok", "refused"]
    final = PartnerDeal.objects.get(pk=deal.pk)
    assert final.stage in {"won", "lost"}
    assert DealStageChange.objects.filter(deal=deal, to_stage__in=["won", "lost"]).count() == 1
