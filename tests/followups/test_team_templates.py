"""Team templates: publish (validated), clone in one action, push to clones in sync, performance, visibility."""

from __future__ import annotations

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification, PartnerProfile, Team, User
from followups.models import MessageTemplate, Sequence, SequenceRun, TeamTemplateClone
from leads.models import Lead
from tests.accounts.factories import PartnerFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db
BASE = "/api/followups/team/templates/"
CONFIG = {
    "sequences": [
        {
            "code": "erstkontakt",
            "name": "Erstkontakt",
            "steps": [
                {"kind": "task", "channel": "whatsapp", "delay_hours": 0, "template_code": "hallo"},
                {"kind": "task", "channel": "call", "delay_hours": 48},
            ],
        }
    ],
    "message_templates": [{"code": "hallo", "name": "Hallo", "channel": "whatsapp", "body": "Hallo {{ first_name }}!"}],
    "daily_flow": {"morning": ["Heute-Liste"], "evening": ["Nachfassen"]},
    "objection_handlers": [{"objection": "Keine Zeit", "answer": "Verstehe – zehn Minuten reichen."}],
}


@pytest.fixture
def team():
    leader = PartnerFactory(first_name="Tina", role=User.Role.TEAM_LEADER)
    return Team.objects.create(name="Team Tina", organization=leader.organization, leader=leader)


def member_of(team, first_name="Max"):
    member = PartnerFactory(first_name=first_name)
    PartnerProfile.objects.filter(user=member).update(team=team)
    return member


def publish(client, team, config=None):
    client.force_authenticate(team.leader)
    answer = client.post(
        BASE, {"name": "Playbook", "description": "So arbeiten wir", "config": config or CONFIG}, format="json"
    )
    assert answer.status_code == 201, answer.json()
    return answer.json()["id"]


def test_publish_validates_the_config_shape_with_clear_paths(api_client, team):
    api_client.force_authenticate(team.leader)
    bad = copy.deepcopy(CONFIG)
    bad["sequences"][0]["steps"][1]["kind"] = "fax"
    bad["sequences"][0]["steps"][0]["template_code"] = "unknown"
    answer = api_client.post(BASE, {"name": "X", "config": bad}, format="json")
    assert answer.status_code == 400
    fields = answer.json()["error"]["fields"]
    assert {"config.sequences[0].steps[1].kind", "config.sequences[0].steps[0].template_code"} <= set(fields)
    wrong = api_client.post(BASE, {"name": "X", "config": {"sequences": {}, "extra": 1}}, format="json")
    assert wrong.status_code == 400
    api_client.force_authenticate(member_of(team))
    assert api_client.post(BASE, {"name": "X", "config": CONFIG}, format="json").status_code == 403


def test_visibility_leader_member_and_others(api_client, team):
    tid = publish(api_client, team)
    member = member_of(team)
    api_client.force_authenticate(member)
    assert [t["id"] for t in api_client.get(BASE).json()["results"]] == [tid]
    assert api_client.get(f"{BASE}{tid}/performance/").status_code == 404  # members: no performance
    api_client.force_authenticate(PartnerFactory())
    assert api_client.get(BASE).json()["results"] == []
    assert api_client.post(f"{BASE}{tid}/clone/").status_code == 404
    other = Team.objects.create(name="Andere", organization=team.organization, leader=PartnerFactory())
    api_client.force_authenticate(member_of(other))
    assert api_client.post(f"{BASE}{tid}/clone/").status_code == 404


def test_clone_copies_sequences_and_templates_once(api_client, team):
    tid = publish(api_client, team)
    member = member_of(team)
    MessageTemplate.objects.create(owner=member, code="hallo", name="Mein Hallo", body="Servus")  # own, kept
    api_client.force_authenticate(member)
    answer = api_client.post(f"{BASE}{tid}/clone/")
    assert answer.status_code == 201, answer.json()
    seq = Sequence.objects.get(owner=member)
    assert seq.code == f"erstkontakt--u{member.pk}" and seq.kind == "followup" and seq.origin.template_id == tid
    assert list(seq.steps.values_list("channel", flat=True)) == ["whatsapp", "call"]
    copy_tpl = MessageTemplate.objects.get(owner=member, origin__isnull=False)
    assert copy_tpl.code == f"hallo--t{tid}" and seq.steps.get(number=1).template_code == copy_tpl.code
    assert MessageTemplate.objects.get(owner=member, code="hallo").body == "Servus"
    again = api_client.post(f"{BASE}{tid}/clone")
    assert again.status_code == 200 and again.json()["id"] == answer.json()["id"]
    assert Sequence.objects.filter(owner=member).count() == 1


def test_push_updates_clones_in_sync_and_skips_edited_copies(api_client, team):
    tid = publish(api_client, team)
    synced, edited = member_of(team, "Max"), member_of(team, "Moritz")
    for member in (synced, edited):
        api_client.force_authenticate(member)
        assert api_client.post(f"{BASE}{tid}/clone/").status_code == 201
    step = Sequence.objects.get(owner=edited).steps.get(number=2)
    step.delay_hours = 72  # Moritz changed his copy
    step.save()

    new = copy.deepcopy(CONFIG)
    new["sequences"][0]["steps"].append({"kind": "task", "channel": "message", "delay_hours": 96})
    new["message_templates"][0]["body"] = "Hallo {{ first_name }}, kurze Frage:"
    api_client.force_authenticate(team.leader)
    answer = api_client.post(f"{BASE}{tid}/push/", {"config": new}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {"version": 2, "updated_users": [synced.pk], "skipped_users": [edited.pk]}
    assert Sequence.objects.get(owner=synced).steps.filter(is_active=True).count() == 3
    assert MessageTemplate.objects.get(owner=synced).body.endswith("kurze Frage:")
    assert Sequence.objects.get(owner=edited).steps.count() == 2
    assert TeamTemplateClone.objects.get(user=synced).version == 2
    assert Notification.objects.filter(recipient=edited).count() == 1
    assert not Notification.objects.filter(recipient=synced).exists()

    # Still in sync after the push: the next push reaches Max again.
    api_client.post(f"{BASE}{tid}/push/", {"config": CONFIG}, format="json")
    assert Sequence.objects.get(owner=synced).steps.filter(is_active=True).count() == 2
    api_client.force_authenticate(synced)
    assert api_client.post(f"{BASE}{tid}/push/", {"config": CONFIG}, format="json").status_code == 404


def test_performance_per_member_in_constant_queries(api_client, team):
    tid = publish(api_client, team)
    members = [member_of(team, name) for name in ("Max", "Moritz")]
    for member in members:
        api_client.force_authenticate(member)
        api_client.post(f"{BASE}{tid}/clone/")

    def runs(member, outcomes):
        seq = Sequence.objects.get(owner=member)
        for outcome, status in outcomes:
            lead = LeadFactory(tenant=member.organization, assigned_partner=member)
            Lead.objects.filter(pk=lead.pk).update(status=status)
            SequenceRun.objects.create(
                sequence=seq,
                lead=lead,
                tenant=member.organization,
                partner=member,
                outcome=outcome,
                status=SequenceRun.Status.COMPLETED,
            )

    runs(members[0], [("positive", "qualified"), ("negative", "new")])
    runs(members[1], [("", "new"), ("", "new")])
    api_client.force_authenticate(team.leader)
    with CaptureQueriesContext(connection) as few:
        body = api_client.get(f"{BASE}{tid}/performance/").json()
    assert body["clones"] == 2 and body["response_rate"] == 0.5 and body["conversion_rate"] == 0.25
    assert body["best_member"]["user"] == members[0].pk and body["worst_member"]["user"] == members[1].pk
    assert {m["user"]: m["response_rate"] for m in body["members"]} == {members[0].pk: 1.0, members[1].pk: 0.0}
    third = member_of(team, "Mia")
    api_client.force_authenticate(third)
    api_client.post(f"{BASE}{tid}/clone/")
    runs(third, [("positive", "converted")])
    api_client.force_authenticate(team.leader)
    with CaptureQueriesContext(connection) as more:
        assert api_client.get(f"{BASE}{tid}/performance").json()["clones"] == 3
    assert len(more) == len(few)
