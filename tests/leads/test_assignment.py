"""Routing and automatic assignment: fairness, capacity cap, fit rules, stored decisions."""

from __future__ import annotations

from collections import Counter

import pytest

from accounts.models import PartnerProfile
from leads.models import AssignmentDecision, Lead, LeadAssignment, PipelineSettings
from leads.services import lead_auto_assign, lead_ingest
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _partner(capacity=1000, **profile):
    partner = PartnerFactory()
    PartnerProfile.objects.filter(user=partner).update(capacity=capacity, **profile)
    return partner


def _settings(platform_org, mode="round_robin", **kwargs):
    return PipelineSettings.objects.create(
        tenant=platform_org, auto_assign_enabled=True, auto_assign_mode=mode, **kwargs
    )


def test_off_by_default(platform_org):
    _partner()
    lead = LeadFactory()
    assert lead_auto_assign(lead=lead) is None
    assert not AssignmentDecision.objects.exists()


def test_round_robin_is_fair_over_400_leads(platform_org):
    # given
    _settings(platform_org)
    partners = [_partner() for _ in range(4)]
    leads = LeadFactory.create_batch(400)

    # when
    offers = [lead_auto_assign(lead=lead) for lead in leads]

    # then: every lead offered, each partner exactly a quarter, in strict rotation
    counts = Counter(offer.partner_id for offer in offers)
    assert sorted(counts.values()) == [100, 100, 100, 100]
    assert set(counts) == {p.pk for p in partners}
    first_round = [o.partner_id for o in offers[:4]]
    assert [o.partner_id for o in offers[4:8]] == first_round
    assert AssignmentDecision.objects.count() == 400
    decision = AssignmentDecision.objects.select_related("winner").first()
    assert decision.rule.startswith("round robin") and len(decision.candidates) == 4
    assert {"partner_id", "free", "capacity", "eligible", "reasons"} <= decision.candidates[0].keys()


def test_weighted_fills_by_free_capacity_and_never_above_it(platform_org):
    _settings(platform_org, mode="weighted")
    big, mid, small = _partner(200), _partner(120), _partner(80)
    leads = LeadFactory.create_batch(401)

    offers = [lead_auto_assign(lead=lead) for lead in leads]

    counts = Counter(o.partner_id for o in offers if o is not None)
    assert counts == {big.pk: 200, mid.pk: 120, small.pk: 80}
    assert offers[-1] is None  # everyone is full: the lead stays in the pool
    last = AssignmentDecision.objects.order_by("-id").first()
    assert last.winner is None and last.rule == "no eligible partner"
    assert all("no free capacity" in c["reasons"] for c in last.candidates)
    # early leads go to the partner with most room
    assert offers[0].partner_id == big.pk
    weighted = AssignmentDecision.objects.order_by("id").first()
    assert {c["partner_id"]: c["weight"] for c in weighted.candidates} == {big.pk: 0.5, mid.pk: 0.3, small.pk: 0.2}


def test_capacity_counts_open_leads_too(platform_org):
    _settings(platform_org)
    tiny = _partner(capacity=2)
    LeadFactory(assigned_partner=tiny)
    other = _partner()
    offers = [lead_auto_assign(lead=LeadFactory()) for _ in range(10)]
    assert Counter(o.partner_id for o in offers)[tiny.pk] == 1
    assert Counter(o.partner_id for o in offers)[other.pk] == 9


def test_fit_by_region_postcode_interest_and_rejections(platform_org):
    _settings(platform_org)
    bavaria = _partner(regions=["Bayern"], postcodes=["80", "81"], interest_types=["buy"])
    finance = _partner(interest_types=["finance"])
    lead = LeadFactory(postcode="80331", interest_type="buy")

    offer = lead_auto_assign(lead=lead)
    assert offer.partner_id == bavaria.pk
    decision = offer.decision
    by_partner = {c["partner_id"]: c for c in decision.candidates}
    assert by_partner[finance.pk]["eligible"] is False
    assert "interest buy not served" in by_partner[finance.pk]["reasons"]

    # the partner rejects: the next decision skips them
    LeadAssignment.objects.filter(pk=offer.pk).update(status="rejected")
    assert lead_auto_assign(lead=lead) is None
    rejected = AssignmentDecision.objects.order_by("-id").first()
    assert "rejected this lead" in {c["partner_id"]: c for c in rejected.candidates}[bavaria.pk]["reasons"]


def test_ingest_routes_partner_leads_and_auto_assigns_pool_leads(platform_org, django_capture_on_commit_callbacks):
    _settings(platform_org)
    partner = _partner()
    with django_capture_on_commit_callbacks(execute=True):
        own = lead_ingest(payload={"email": "own@x.de"}, channel="facebook", partner=partner).lead
        pool = lead_ingest(payload={"email": "pool@x.de"}, channel="facebook").lead
    assert not LeadAssignment.objects.filter(lead=own).exists()
    assert Lead.objects.get(pk=own.pk).source == "meta_self"
    assert LeadAssignment.objects.get(lead=pool).partner_id == partner.pk


def test_test_leads_and_low_scores_are_not_auto_assigned(platform_org):
    _settings(platform_org, auto_assign_min_score=50)
    _partner()
    assert lead_auto_assign(lead=LeadFactory(is_test=True)) is None
    assert lead_auto_assign(lead=LeadFactory()) is None  # score 0 < 50


def test_admins_can_read_every_automatic_decision_in_the_admin(client, admin_user, platform_org):
    # given: one automatic decision between two partners
    _settings(platform_org, mode="weighted")
    big, small = _partner(40), _partner(10)
    offer = lead_auto_assign(lead=LeadFactory())
    decision = AssignmentDecision.objects.get()
    client.force_login(admin_user)

    # when / then: listed with mode, winner and rule …
    listing = client.get("/admin/leads/assignmentdecision/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert decision.lead.public_id in page and decision.rule in page
    # … and the detail shows every candidate with its weight and free capacity, read-only
    detail = client.get(f"/admin/leads/assignmentdecision/{decision.pk}/change/")
    assert detail.status_code == 200
    page = detail.content.decode()
    for candidate in decision.candidates:
        assert str(candidate["partner_id"]) in page and str(candidate["free"]) in page
    assert {c["partner_id"] for c in decision.candidates} == {big.pk, small.pk}
    assert offer.partner_id in {big.pk, small.pk}
    assert 'name="rule"' not in page  # nothing to edit
    assert client.post(f"/admin/leads/assignmentdecision/{decision.pk}/delete/").status_code == 403
