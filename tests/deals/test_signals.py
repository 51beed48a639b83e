"""deals.signals.deal_stage_changed: sent once per move after commit, never for a move that is rolled back."""

from __future__ import annotations

import pytest
from django.db import transaction

from deals.models import PartnerDeal
from deals.services import deal_lose, deal_move_stage, deal_win
from deals.signals import deal_stage_changed
from tests.deals.factories import deal_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    calls: list[dict] = []

    def receiver(sender, **kwargs):
        calls.append({"sender": sender, **kwargs})

    deal_stage_changed.connect(receiver, dispatch_uid="test_deal_stage_changed")
    yield calls
    deal_stage_changed.disconnect(dispatch_uid="test_deal_stage_changed")


def test_a_move_is_announced_once_after_commit(received, partner_user, django_capture_on_commit_callbacks):
    partner = partner_user
    deal = deal_for(partner, stage="lead")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deal_move_stage(deal=deal, to="qualified", actor=partner)
        deal_move_stage(deal=deal, to="qualified", actor=partner)  # already there: no event
    assert received == []  # nothing before the commit
    for callback in callbacks:
        callback()

    assert len(received) == 1
    event = received[0]
    assert event["sender"] is PartnerDeal
    assert (event["deal"].pk, event["from_stage"], event["to_stage"], event["actor"]) == (
        deal.pk,
        "lead",
        "qualified",
        partner,
    )


def test_win_and_lose_are_announced(received, partner_user, django_capture_on_commit_callbacks):
    partner = partner_user
    closing, other = deal_for(partner, stage="closing"), deal_for(partner, stage="proposal")

    with django_capture_on_commit_callbacks(execute=True):
        deal_win(deal=closing, actor=partner, deal_value="10")
    with django_capture_on_commit_callbacks(execute=True):
        deal_lose(deal=other, actor=partner, reason="Zu teuer")

    assert [(e["deal"].pk, e["from_stage"], e["to_stage"]) for e in received] == [
        (closing.pk, "closing", "won"),
        (other.pk, "proposal", "lost"),
    ]


def test_a_rolled_back_move_is_not_announced(received, partner_user, django_capture_on_commit_callbacks):
    partner = partner_user
    deal = deal_for(partner, stage="lead")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        deal_move_stage(deal=deal, to="qualified", actor=partner)
        raise RuntimeError("rolled back")

    assert callbacks == [] and received == []
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "lead"
