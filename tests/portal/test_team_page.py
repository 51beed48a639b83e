"""The portal's "Team" page: a leader publishes and sees clones, performance and escalations; a member takes a
template over with one click; another team's template is a 404."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import PartnerProfile
from accounts.services import team_for_leader
from followups.models import Escalation, MessageTemplate, TeamTemplate, TeamTemplateClone
from followups.services.team import template_clone, template_publish
from portal.team_views import CONFIG_EXAMPLE
from tests.accounts.factories import PartnerFactory
from tests.deals.factories import own_lead

pytestmark = pytest.mark.django_db

TEAM = "/portal/leads/team/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def team(platform_org):
    leader = PartnerFactory(first_name="Lea", last_name="Leiterin")
    team = team_for_leader(leader=leader, actor=None)
    member = PartnerFactory(first_name="Max", last_name="Mitglied")
    PartnerProfile.objects.filter(user=member).update(team=team)
    leader.refresh_from_db()
    return team, leader, member


def test_leader_publishes_through_the_form(team):
    _team, leader, _member = team

    response = _client(leader).post(
        TEAM + "vorlagen/neu/",
        {"name": "Mein Erstkontakt", "description": "So mache ich es", "config": json.dumps(CONFIG_EXAMPLE)},
    )

    assert response.status_code == 302 and response["Location"] == TEAM
    template = TeamTemplate.objects.get(leader=leader)
    assert template.name == "Mein Erstkontakt" and template.config["sequences"][0]["code"] == "erstkontakt"


def test_a_broken_config_shows_the_form_again(team):
    _team, leader, _member = team

    response = _client(leader).post(TEAM + "vorlagen/neu/", {"name": "Kaputt", "config": "{nope"})

    assert response.status_code == 200
    assert "JSON" in response.content.decode()
    assert not TeamTemplate.objects.exists()


def test_member_takes_a_template_over_with_one_click(team):
    _team, leader, member = team
    template = template_publish(leader=leader, name="Playbook", config=CONFIG_EXAMPLE, actor=leader)
    client = _client(member)

    page = client.get(TEAM).content.decode()
    response = client.post(f"{TEAM}vorlagen/{template.pk}/uebernehmen/")

    assert 'data-testid="take-over"' in page and "Playbook" in page
    assert response.status_code == 302
    assert TeamTemplateClone.objects.filter(template=template, user=member).exists()
    assert MessageTemplate.objects.filter(owner=member, code="erstkontakt").exists()
    assert 'data-testid="take-over"' not in client.get(TEAM).content.decode()


def test_leader_sees_clones_in_sync_or_edited_performance_and_escalations(team):
    team_obj, leader, member = team
    other = PartnerFactory(first_name="Eva", last_name="Editiert")
    PartnerProfile.objects.filter(user=other).update(team=team_obj)
    template = template_publish(leader=leader, name="Playbook", config=CONFIG_EXAMPLE, actor=leader)
    template_clone(template=template, user=member, actor=member)
    template_clone(template=template, user=other, actor=other)
    MessageTemplate.objects.filter(owner=other, code="erstkontakt").update(body="Mein eigener Text")
    lead = own_lead(member, first_name="Lisa", last_name="Lang")
    Escalation.objects.create(
        lead=lead, member=member, leader=leader, team=team_obj, week=timezone.localdate(), days_without_contact=8
    )

    html = _client(leader).get(TEAM).content.decode()

    assert html.count('data-testid="team-clone"') == 2
    assert "in sync" in html or "synchron" in html
    assert "edited" in html or "bearbeitet" in html
    assert 'data-testid="team-performance"' in html
    assert "Lisa Lang" in html and 'data-testid="team-escalations"' in html


def test_another_teams_template_is_404_and_invisible(team):
    _team, leader, member = team
    stranger_leader = PartnerFactory()
    team_for_leader(leader=stranger_leader, actor=None)
    foreign = template_publish(
        leader=stranger_leader, name="Fremdes Playbook", config=CONFIG_EXAMPLE, actor=stranger_leader
    )
    client = _client(member)

    assert client.post(f"{TEAM}vorlagen/{foreign.pk}/uebernehmen/").status_code == 404
    assert "Fremdes Playbook" not in client.get(TEAM).content.decode()
    assert "Fremdes Playbook" not in _client(leader).get(TEAM).content.decode()
    assert not TeamTemplateClone.objects.exists()


def test_member_without_team_is_told_so(platform_org):
    loner = PartnerFactory()

    html = _client(loner).get(TEAM).content.decode()

    assert 'data-testid="team-none"' in html
