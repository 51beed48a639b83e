"""Offer races on real PostgreSQL: threads with their own connections hit the services at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import PartnerProfile, User
from compliance.models import ConsentRecord
from core.exceptions import ConflictError, NotFoundError
from leads.models import Lead, LeadAssignment
from leads.selectors.offers import offer_get_for_partner
from leads.services import offer_accept, offer_create, offer_expire_due
from tests.accounts.factories import PartnerFactory, UserFactory, ensure_platform_organization
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 4


@pytest.fixture(autouse=True)
def _platform_organization():
    ensure_platform_organization()


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Start every call at the same moment, each in its own thread and connection; return results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


def _partner(capacity: int = 25) -> User:
    partner = PartnerFactory()
    PartnerProfile.objects.filter(user=partner).update(capacity=capacity)
    return partner


def _accept(lead: Lead, partner: User) -> LeadAssignment:
    """What API-511 does: find the caller's offer of the lead (404 when none), then accept it."""
    return offer_accept(offer=offer_get_for_partner(lead_id=lead.pk, partner=partner), actor=partner)


def test_two_admins_offering_the_same_lead_at_once():
    admins = [UserFactory(role=User.Role.PLATFORM_ADMIN), UserFactory(role=User.Role.INTERNAL_OPS)]
    for _ in range(ROUNDS):
        lead = LeadFactory()
        partners = [_partner(), _partner()]
        results = run_together(
            *(partial(offer_create, lead=lead, partner=p, actor=a) for a, p in zip(admins, partners, strict=True))
        )
        offers = [r for r in results if isinstance(r, LeadAssignment)]
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(offers) == 1 and len(errors) == 1, results
        assert isinstance(errors[0], ConflictError) and errors[0].code == "offer_open"
        assert LeadAssignment.objects.filter(lead=lead, status=LeadAssignment.Status.OFFERED).count() == 1


def test_two_admins_filling_a_partners_last_slot_at_once():
    admin = UserFactory(role=User.Role.PLATFORM_ADMIN)
    for _ in range(ROUNDS):
        partner = _partner(capacity=1)
        leads = [LeadFactory(), LeadFactory()]
        results = run_together(*(partial(offer_create, lead=lead, partner=partner, actor=admin) for lead in leads))
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1 and errors[0].code == "partner_capacity_full", results
        assert LeadAssignment.objects.filter(partner=partner, status=LeadAssignment.Status.OFFERED).count() == 1


def test_accept_racing_expiry_has_exactly_one_winner():
    admin = UserFactory(role=User.Role.PLATFORM_ADMIN)
    outcomes = set()
    for _ in range(ROUNDS * 2):
        # given: an offer the partner may still accept, and a sweeper that already sees it as overdue
        partner = _partner()
        lead = LeadFactory()
        offer = offer_create(lead=lead, partner=partner, actor=admin)
        LeadAssignment.objects.filter(pk=offer.pk).update(expires_at=timezone.now() + timedelta(seconds=30))
        sweep_time = timezone.now() + timedelta(hours=1)

        # when
        accepted, expired = run_together(
            partial(offer_accept, offer=offer, actor=partner),
            partial(offer_expire_due, now=sweep_time),
        )

        # then: either the partner has the lead with its split agreement, or it is back in the pool
        offer.refresh_from_db()
        lead.refresh_from_db()
        consents = ConsentRecord.objects.filter(subject_lead=lead, code=ConsentRecord.Code.LEAD_SPLIT_AGREEMENT)
        if offer.status == LeadAssignment.Status.ACCEPTED:
            assert isinstance(accepted, LeadAssignment) and expired == 0
            assert lead.assigned_partner_id == partner.pk and lead.tenant_id == partner.organization_id
            assert consents.count() == 1
        else:
            assert offer.status == LeadAssignment.Status.EXPIRED
            assert isinstance(accepted, ConflictError) and expired == 1
            assert lead.assigned_partner_id is None and not consents.exists()
        outcomes.add(offer.status)
    assert outcomes  # both orders are legal; which one won each round is up to the scheduler


def test_two_partners_racing_for_one_lead():
    admin = UserFactory(role=User.Role.PLATFORM_ADMIN)
    for _ in range(ROUNDS):
        # given: the lead is offered to A; A double-submits while B tries to grab it
        a, b = _partner(), _partner()
        lead = LeadFactory()
        offer_create(lead=lead, partner=a, actor=admin)

        # when
        first, second, intruder = run_together(
            partial(_accept, lead, a), partial(_accept, lead, a), partial(_accept, lead, b)
        )

        # then
        assert isinstance(first, LeadAssignment) and isinstance(second, LeadAssignment), (first, second)
        assert first.status == second.status == LeadAssignment.Status.ACCEPTED
        assert isinstance(intruder, NotFoundError)
        lead = Lead.objects.get(pk=lead.pk)
        assert lead.assigned_partner_id == a.pk
        assert (
            ConsentRecord.objects.filter(subject_lead=lead, code=ConsentRecord.Code.LEAD_SPLIT_AGREEMENT).count() == 1
        )
