"""P/I/E scoring arithmetic and breakdown, rule edits, decay claims and burning alerts."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import responses
from django.core import mail
from django.utils import timezone

from accounts.models import Notification
from leads.models import IcpProfile, Lead, LeadActivity, LeadAlert, LeadScoreHistory, PipelineSettings, ScoringRule
from leads.services import lead_decay_sweep, lead_ingest, lead_intent_add, lead_rescore, lead_track_activity
from leads.services.config import tenant_config
from leads.services.scoring import ScoreInput, compute_score, score_reason
from tests.accounts.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def _lead(payload=None, **kwargs):
    return lead_ingest(payload=payload or {"email": "s@example.com"}, channel="website", **kwargs).lead


def test_score_arithmetic_matches_the_spec_formula(platform_org):
    # given: a lead whose rules give P=45, I=60, E=20 (no activity counted for E but form_submitted)
    lead = Lead(tenant=platform_org, first_name="A", last_name="B", job_title="CEO", employees=500)
    config = tenant_config(platform_org.pk)
    data = ScoreInput(
        lead=lead,
        email_valid=True,
        phone_valid=False,
        activity_counts={"budget_calculator_used": 1, "calendar_booking_started": 1, "form_submitted": 1},
    )

    result = compute_score(data, config)

    # P: email_verified 10 + name_complete 5 + size 15 + decision maker 20 = 50; I: 25 + 40; E: 20
    assert (result.p, result.i, result.e) == (50, 65, 20)
    # 0.40·50 + 0.35·65 + 0.25·20 = 20 + 22.75 + 5 = 47.75 → 48 (half-up)
    assert result.total == 48
    items = {item["code"]: item["points"] for item in result.breakdown["items"]}
    assert items == {
        "email_verified": 10,
        "name_complete": 5,
        "company_size_large": 15,
        "decision_maker_role": 20,
        "calendar_booking_started": 40,
        "budget_calculator_used": 25,
        "form_submitted": 20,
    }
    assert result.breakdown["components"] == {"p": 50, "i": 65, "e": 20}


def test_sub_scores_clamp_and_repeats_are_capped(platform_org):
    lead = Lead(tenant=platform_org)
    data = ScoreInput(
        lead=lead, activity_counts={"phone_clicked": 10, "calendar_booking_started": 5, "email_bounced": 1}
    )
    result = compute_score(data, tenant_config(platform_org.pk))
    phone = next(i for i in result.breakdown["items"] if i["code"] == "phone_clicked")
    assert phone["points"] == 90 and phone["count"] == 10
    assert result.i == 100  # 90 + 120 clamps at 100
    assert result.e == 0  # −50 clamps at 0


def test_tenant_weights_and_edited_rules_apply_at_once(platform_org):
    lead = _lead({"email": "w@example.com"})
    PipelineSettings.objects.create(
        tenant=platform_org, weight_p=Decimal("0.10"), weight_i=Decimal("0.10"), weight_e=Decimal("0.80")
    )
    rule = ScoringRule.objects.get(tenant=None, code="form_submitted")
    rule.points = 50
    rule.save()

    lead = lead_rescore(lead=lead)

    assert lead.e_score == 50
    assert lead.score_breakdown["weights"] == {"p": "0.10", "i": "0.10", "e": "0.80"}
    assert lead.score == round(0.1 * lead.p_score + 0.1 * lead.i_score + 0.8 * 50)
    assert "Formular abgeschickt (+30)" in lead.score_history.first().reason


def test_inactive_rule_no_longer_counts(platform_org):
    ScoringRule.objects.filter(tenant=None, code="form_submitted").update(active=False)
    ScoringRule.objects.get(tenant=None, code="email_opened").save()  # bumps the config version
    lead = _lead()
    assert "form_submitted" not in {i["code"] for i in Lead.objects.get(pk=lead.pk).score_breakdown["items"]}


def test_icp_profile_matches_feed_the_p_score(platform_org):
    IcpProfile.objects.create(
        tenant=platform_org, industries=["immobilien"], roles=["geschäftsführer"], regions=["bayern"], size_bands=[]
    )
    lead = _lead({"email": "gf@bau.de", "job_title": "Geschäftsführer", "region": "Bayern", "industry": "Immobilien"})
    codes = {i["code"] for i in Lead.objects.get(pk=lead.pk).score_breakdown["items"]}
    assert {"icp_industry_match", "icp_role_match", "icp_region_match"} <= codes
    enrichment = lead.enrichments.get()
    assert enrichment.icp_match_score == 100
    assert "Branche passt (+30)" in enrichment.icp_reasons


def test_tracked_activity_rescores_with_a_german_reason(platform_org):
    lead = _lead()
    before = Lead.objects.get(pk=lead.pk).score

    activity, lead = lead_track_activity(lead=lead, activity_type="budget_calculator_used", actor=None)

    assert activity.score_delta == 25
    assert lead.i_score == 25
    history = LeadScoreHistory.objects.filter(lead=lead).first()
    assert history.reason == "Budget Calculator verwendet (+25)"
    assert history.old_score == before and history.new_score == lead.score


def test_reason_lists_removed_rules():
    old = {"items": [{"code": "x", "points": 10, "description": "X"}]}
    new = {"items": [{"code": "y", "points": 5, "description": "Y"}]}
    assert score_reason(old, new, "f") == "Y (+5); X entfällt (-10)"
    assert score_reason(new, new, "fallback") == "fallback"


def test_message_intent_feeds_the_i_score_and_opt_out_is_honoured(platform_org):
    lead = _lead()
    lead_intent_add(
        lead=lead, intent_level="high", intent_score=80, sentiment="positive", source_type="instagram_message"
    )
    assert Lead.objects.get(pk=lead.pk).i_score == 25
    lead_intent_add(
        lead=lead,
        intent_level="none",
        intent_score=0,
        sentiment="negative",
        opt_out=True,
        source_type="instagram_message",
    )
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.opted_out_at is not None and lead.i_score == 0


def _age(lead, days):
    past = timezone.now() - dt.timedelta(days=days)
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=past, created_at=past)


def test_decay_claims_each_step_once(platform_org):
    lead = _lead()
    e_before = Lead.objects.get(pk=lead.pk).e_score  # form_submitted 20
    _age(lead, 8)

    assert lead_decay_sweep() == 1
    assert lead_decay_sweep() == 0  # a second sweep finds nothing to claim
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.decay_level, lead.e_score) == (1, e_before - 10)
    assert LeadActivity.objects.filter(lead=lead, activity_type="no_activity_7_days").count() == 1

    _age(lead, 31)
    assert lead_decay_sweep() == 1
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.decay_level, lead.e_score) == (2, 0)  # 20 − 10 − 25 clamps at 0
    assert "30 Tage keine Aktivität (-25)" in lead.score_history.first().reason

    # new activity ends the decay
    lead_track_activity(lead=lead, activity_type="email_opened", actor=None)
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.decay_level == 0 and lead.e_score == 25


def test_decay_claim_is_conditional(platform_org):
    lead = _lead()
    _age(lead, 8)
    # a sweeper that read the row before another one claimed it updates nothing
    Lead.objects.filter(pk=lead.pk).update(decay_level=1)
    assert lead_decay_sweep() == 0


def _make_burning(lead):
    for code in ("calendar_booking_started", "phone_clicked", "budget_calculator_used"):
        lead_track_activity(lead=lead, activity_type=code, actor=None)
    for code in ("email_replied", "email_clicked", "email_clicked", "message_received"):
        lead_track_activity(lead=lead, activity_type=code, actor=None)


@responses.activate
def test_burning_crossing_alerts_once_per_crossing(
    settings, platform_org, ops_user, django_capture_on_commit_callbacks
):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/slack"
    slack = responses.post("http://127.0.0.1:9/slack", json={"ok": True})
    PipelineSettings.objects.create(
        tenant=platform_org, weight_p=Decimal("0.00"), weight_i=Decimal("0.50"), weight_e=Decimal("0.50")
    )
    partner = PartnerFactory()
    lead = _lead({"email": "hot@example.com"})
    Lead.objects.filter(pk=lead.pk).update(assigned_partner=partner)

    with django_capture_on_commit_callbacks(execute=True):
        _make_burning(lead)
        lead_track_activity(lead=lead, activity_type="video_watched", actor=None)  # stays burning

    lead = Lead.objects.get(pk=lead.pk)
    assert lead.stage == "burning"
    alert = LeadAlert.objects.get()
    assert alert.email_sent_at and alert.slack_sent_at and alert.notified_at
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [partner.email]
    assert lead.public_id in mail.outbox[0].subject and "hot@example.com" not in mail.outbox[0].body
    assert slack.call_count == 1 and lead.public_id in json.loads(slack.calls[0].request.body)["text"]
    assert Notification.objects.filter(recipient=partner, kind="hot_lead").count() == 1

    # leaving and re-entering burning is a new crossing → a second alert
    with django_capture_on_commit_callbacks(execute=True):
        Lead.objects.filter(pk=lead.pk).update(decay_level=2)
        lead_rescore(lead=lead)
        assert Lead.objects.get(pk=lead.pk).stage != "burning"
        lead_track_activity(lead=lead, activity_type="email_opened", actor=None)
    assert LeadAlert.objects.count() == 2
    assert len(mail.outbox) == 2


def test_alert_task_retry_does_not_resend(settings, platform_org, ops_user, django_capture_on_commit_callbacks):
    from leads.services.alerts import lead_burning_alert_send

    settings.SLACK_WEBHOOK_URL = ""
    PipelineSettings.objects.create(
        tenant=platform_org, weight_p=Decimal("0.00"), weight_i=Decimal("0.50"), weight_e=Decimal("0.50")
    )
    lead = _lead({"email": "pool@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        _make_burning(lead)
    alert = LeadAlert.objects.get()
    lead_burning_alert_send(alert_id=alert.pk)  # a redelivered task
    assert len(mail.outbox) == 1 and ops_user.email in mail.outbox[0].to
    assert Notification.objects.filter(recipient=ops_user).count() == 1


def test_test_leads_never_alert(platform_org, django_capture_on_commit_callbacks):
    PipelineSettings.objects.create(
        tenant=platform_org, weight_p=Decimal("0.00"), weight_i=Decimal("0.50"), weight_e=Decimal("0.50")
    )
    lead = lead_ingest(payload={"email": "test@fb.com"}, channel="facebook", idempotency_key="t").lead
    with django_capture_on_commit_callbacks(execute=True):
        _make_burning(lead)
    assert Lead.objects.get(pk=lead.pk).stage == "burning"
    assert not LeadAlert.objects.exists()
