"""Lead basics: public ids, stage bands, score arithmetic and the status transition table."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from compliance.models import AuditEvent
from core.exceptions import DomainError, TransitionNotAllowed
from leads.models import Lead, LeadScoreHistory, ScoringRule, generate_public_id
from leads.services import lead_score_set, lead_status_transition, weighted_score
from tests.leads.factories import LeadFactory


def test_public_id_format():
    ids = {generate_public_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"SOT-LEAD-[A-Z2-7]{8}", i) for i in ids)


@pytest.mark.parametrize(
    ("score", "stage"),
    [
        (0, "cold"),
        (30, "cold"),
        (31, "warm"),
        (60, "warm"),
        (61, "hot"),
        (80, "hot"),
        (81, "burning"),
        (100, "burning"),
    ],
)
def test_stage_bands(score, stage):
    assert Lead.Stage.for_score(score) == stage


def test_weighted_score_rounds_half_up_and_clamps():
    assert weighted_score(100, 100, 100) == 100
    assert weighted_score(0, 0, 0) == 0
    assert weighted_score(50, 20, 10) == 30  # 20 + 7 + 2.5 = 29.5, rounded half up
    assert weighted_score(10, 10, 10) == 10
    heavy = {"p": Decimal("1"), "i": Decimal("1"), "e": Decimal("1")}
    assert weighted_score(90, 90, 90, heavy) == 100


@pytest.mark.django_db
def test_default_scoring_rules_are_shipped():
    from leads.scoring_defaults import DEFAULT_RULES

    rules = dict(ScoringRule.objects.filter(tenant=None).values_list("code", "points"))
    assert len(rules) == len(DEFAULT_RULES) == 41
    spec_rules = {"budget_calculator_used", "phone_clicked", "no_activity_30_days", "linkedin_profile_premium"}
    assert spec_rules <= set(rules)
    assert rules["calendar_booking_started"] == 40
    assert rules["email_bounced"] == -50
    assert ScoringRule.objects.get(code="budget_calculator_used").description == "Budget Calculator verwendet"


@pytest.mark.django_db
def test_score_set_updates_stage_and_history():
    lead = LeadFactory()
    lead = lead_score_set(lead=lead, p=90, i=90, e=70, reason="Budget Calculator verwendet (+25)")
    assert (lead.score, lead.stage) == (85, "burning")
    entry = LeadScoreHistory.objects.get(lead=lead)
    assert (entry.old_score, entry.new_score, entry.delta, entry.new_stage) == (0, 85, 85, "burning")
    lead_score_set(lead=lead, p=90, i=90, e=70, reason="unverändert")
    assert LeadScoreHistory.objects.filter(lead=lead).count() == 1
    with pytest.raises(DomainError):
        lead_score_set(lead=lead, p=101, i=0, e=0, reason="x")


@pytest.mark.django_db
def test_score_range_is_a_database_constraint():
    lead = LeadFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(score=101)


@pytest.mark.django_db
def test_status_transitions_follow_the_table(partner_user):
    lead = LeadFactory()
    lead = lead_status_transition(lead=lead, to="contacted", actor=partner_user)
    assert lead_status_transition(lead=lead, to="contacted", actor=partner_user).status == "contacted"  # no-op
    lead = lead_status_transition(lead=lead, to="qualified", actor=partner_user)
    with pytest.raises(TransitionNotAllowed):
        lead_status_transition(lead=lead, to="new", actor=partner_user)
    lead = lead_status_transition(lead=lead, to="lost", actor=partner_user, reason="Kein Budget")
    assert lead.lost_reason == "Kein Budget"
    with pytest.raises(TransitionNotAllowed):
        lead_status_transition(lead=lead, to="converted", actor=partner_user)
    events = list(AuditEvent.objects.filter(object_id=str(lead.pk)).values_list("event_type", flat=True))
    assert sorted(events) == ["lead.contacted", "lead.lost", "lead.qualified"]


@pytest.mark.django_db
def test_activity_moves_last_activity_forward_only(partner_user):
    from datetime import timedelta

    from django.utils import timezone

    from leads.services import lead_activity_add

    lead = LeadFactory()
    now = timezone.now()
    lead_activity_add(lead=lead, activity_type="pricing_page_visited", score_delta=20, occurred_at=now, actor=None)
    late = lead_activity_add(
        lead=lead, activity_type="blog_post_read", occurred_at=now - timedelta(days=2), actor=partner_user
    )
    lead.refresh_from_db()
    assert lead.last_activity_at == now  # a late delivery does not move it back
    assert late.actor == partner_user
    assert list(lead.activities.values_list("activity_type", flat=True)) == ["pricing_page_visited", "blog_post_read"]
    with pytest.raises(DomainError):
        lead_activity_add(lead=lead, activity_type="", actor=None)


@pytest.mark.django_db
def test_live_lead_list_hides_merged_leads_and_scopes_by_tenant(platform_org):
    from leads.selectors import lead_list_live
    from tests.accounts.factories import OrganizationFactory

    survivor, other_tenant = LeadFactory(), LeadFactory(tenant=OrganizationFactory())
    merged = LeadFactory()
    Lead.objects.filter(pk=merged.pk).update(merged_into=survivor)
    assert set(lead_list_live(tenant=platform_org)) == {survivor}
    assert set(lead_list_live()) == {survivor, other_tenant}
