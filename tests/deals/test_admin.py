"""Deals in the admin: view-only, except a platform admin reopening a won or lost deal (audited)."""

from __future__ import annotations

import pytest

from compliance.models import AuditEvent
from deals.models import PartnerDeal
from tests.deals.factories import deal_for

pytestmark = pytest.mark.django_db


def _urls(deal: PartnerDeal) -> tuple[str, str]:
    change = f"/admin/deals/partnerdeal/{deal.pk}/change/"
    return change, f"/admin/deals/partnerdeal/{deal.pk}/reopen/"


def test_a_platform_admin_reopens_a_won_deal_from_its_admin_page(client, admin_user, partner_user):
    deal = deal_for(partner_user, stage="won")
    change, reopen = _urls(deal)
    client.force_login(admin_user)

    assert f'href="{reopen}"' in client.get(change).content.decode()
    form = client.get(reopen)
    assert form.status_code == 200 and 'name="stage"' in form.content.decode()

    response = client.post(reopen, {"stage": "closing", "reason": "Versehentlich geschlossen"})

    assert response.status_code == 302 and response["Location"] == change
    deal.refresh_from_db()
    assert (deal.stage, deal.closed_at) == ("closing", None)
    event = AuditEvent.objects.get(event_type="deal.reopened", object_id=str(deal.pk))
    assert event.actor_id == admin_user.pk and event.payload["to"] == "closing"
    # An open deal has nothing to reopen: no link, and a post is refused with a message.
    assert f'href="{reopen}"' not in client.get(change).content.decode()
    client.post(reopen, {"stage": "lead"})
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "closing"


def test_internal_ops_cannot_reopen(client, ops_user, partner_user):
    deal = deal_for(partner_user, stage="lost")
    client.force_login(ops_user)

    change = client.get(_urls(deal)[0])
    assert change.status_code == 200 and "/reopen/" not in change.content.decode()
    assert client.post(_urls(deal)[1], {"stage": "lead"}).status_code == 403
    assert PartnerDeal.objects.get(pk=deal.pk).stage == "lost"
    assert not AuditEvent.objects.filter(event_type="deal.reopened").exists()
