"""Escalations: a member's lead not reached for 7 days is told to the team leader once per lead and week."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Notification, PartnerProfile, Team, User
from followups.models import Escalation
from followups.services.escalations import escalations_check
from leads.models import Lead, LeadActivity
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    leader = PartnerFactory(first_name="Tina", role=User.Role.TEAM_LEADER)
    team = Team.objects.create(name="Team Tina", organization=leader.organization, leader=leader)
    return team


def member_of(team, first_name="Max"):
    member = PartnerFactory(first_name=first_name)
    PartnerProfile.objects.filter(user=member).update(team=team)
    return member


def old_lead(member, *, days=10, **fields):
    lead = LeadFactory(tenant=member.organization, assigned_partner=member, **fields)
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - dt.timedelta(days=days))
    return lead


def test_unreached_lead_is_escalated_once_per_week_with_the_leaders_notice(team, caplog):
    max_ = member_of(team)
    lisa = old_lead(max_, first_name="Lisa")
    reached = old_lead(max_)
    LeadActivity.objects.create(
        lead=reached, activity_type="contact_logged", occurred_at=timezone.now() - dt.timedelta(days=2), detail={}
    )
    old_lead(max_, days=3)  # too young
    lost = old_lead(max_)
    Lead.objects.filter(pk=lost.pk).update(status=Lead.Status.LOST)
    outsider = PartnerFactory()
    old_lead(outsider)  # not in a team

    assert escalations_check() == 1
    escalation = Escalation.objects.get()
    assert (escalation.lead_id, escalation.member_id, escalation.leader_id) == (lisa.pk, max_.pk, team.leader_id)
    assert escalation.days_without_contact >= 7 and escalation.notified_at
    notice = Notification.objects.get(recipient=team.leader)
    # "Max hat L-… seit 7 Tagen nicht erreicht. Hilfe nötig?" (the lead's public id: notices are plain text).
    assert all(part in notice.title for part in ("Max", lisa.public_id, "7"))
    assert "Lisa" not in notice.title + notice.body + caplog.text  # notices are plain text: no lead names

    assert escalations_check() == 0  # the same week: nothing new
    assert Escalation.objects.count() == 1 and Notification.objects.filter(recipient=team.leader).count() == 1
    next_week = timezone.now() + dt.timedelta(days=7)
    # A week later Lisa is escalated again, and the two other leads are now unreached for 7 days too.
    assert escalations_check(now=next_week) == 3
    assert Escalation.objects.filter(lead=lisa).count() == 2


def test_queries_do_not_grow_with_the_leads(team):
    members = [member_of(team, name) for name in ("Max", "Moritz")]
    old_lead(members[0])
    with CaptureQueriesContext(connection) as few:
        escalations_check()
    Escalation.objects.all().delete()
    Notification.objects.all().delete()
    for member in members:
        for _ in range(3):
            old_lead(member)
    with CaptureQueriesContext(connection) as many:
        assert escalations_check() == 7
    # Finding them is one query per team; each notice costs the same few writes.
    finding = [q for q in many.captured_queries if 'FROM "leads_lead"' in q["sql"] and "EXISTS" in q["sql"]]
    assert len(finding) == 1
    assert (len(many) - len(few)) <= 6 * 8


def test_api_579_leader_sees_their_teams_escalations_only(api_client, team):
    lead = old_lead(member_of(team))
    escalations_check()
    api_client.force_authenticate(team.leader)
    answer = api_client.get("/api/followups/escalations/")
    assert answer.status_code == 200
    assert [row["lead"] for row in answer.json()["results"]] == [str(lead.pk)]
    api_client.force_authenticate(PartnerFactory())
    assert api_client.get("/api/followups/escalations").json()["results"] == []
