"""seed_demo (idempotent, covers every channel, stage and status) and create_partner."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organization, PartnerProfile, Team, User
from compliance.models import AuditEvent
from deals.models import PartnerDeal
from leads.models import Lead, LeadActivity, LeadIdentity, LeadScoreHistory

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "orgs": Organization.objects.count(),
        "teams": Team.objects.count(),
        "profiles": PartnerProfile.objects.count(),
        "leads": Lead.objects.count(),
        "activities": LeadActivity.objects.count(),
        "history": LeadScoreHistory.objects.count(),
        "audit": AuditEvent.objects.count(),
        "deals": PartnerDeal.objects.count(),
        "identities": LeadIdentity.objects.count(),
    }


def test_seed_demo_twice_gives_the_same_counts(settings):
    settings.DEBUG = True  # pytest-django runs with DEBUG off; seed_demo is a development command
    call_command("seed_demo", stdout=io.StringIO())
    first = counts()
    call_command("seed_demo", stdout=io.StringIO())
    assert counts() == first
    assert first["leads"] >= 40
    assert first["teams"] == 2 and first["profiles"] == 3
    assert set(Lead.objects.values_list("channel", flat=True)) == set(Lead.Channel.values)
    assert set(Lead.objects.values_list("stage", flat=True)) == set(Lead.Stage.values)
    assert set(Lead.objects.values_list("status", flat=True)) == set(Lead.Status.values)
    for lead in Lead.objects.all():
        assert lead.stage == Lead.Stage.for_score(lead.score)
        assert lead.score_breakdown.get("total") == lead.score  # explainable, not made up
    converted = Lead.objects.filter(status=Lead.Status.CONVERTED)
    assert PartnerDeal.objects.filter(lead__in=converted).count() == converted.count() > 0
    assert {"won", "lost"} <= set(PartnerDeal.objects.values_list("stage", flat=True))
    admin = User.objects.get(email="admin@demo.local")
    assert admin.role == User.Role.PLATFORM_ADMIN and admin.is_staff
    assert User.objects.filter(role=User.Role.TEAM_LEADER).count() == 2


def test_seed_demo_refuses_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo", stdout=io.StringIO())


def test_create_partner_with_team_leader():
    out = io.StringIO()
    call_command(
        "create_partner",
        "--email",
        "Leiterin@Example.org",
        "--password",
        "Sehr-Sicheres-Passwort-1",
        "--name",
        "Lea Leiterin",
        stdout=out,
    )
    call_command(
        "create_partner",
        "--email",
        "mitglied@example.org",
        "--password",
        "Sehr-Sicheres-Passwort-2",
        "--name",
        "Mo Mitglied",
        "--capacity",
        "12",
        "--team-leader",
        "leiterin@example.org",
        "--postcode",
        "80",
        "--interest",
        "buy",
        stdout=out,
    )
    leader = User.objects.get(email="leiterin@example.org")
    member = User.objects.get(email="mitglied@example.org")
    assert leader.role == User.Role.TEAM_LEADER
    assert member.role == User.Role.SALES_PARTNER and not member.is_staff
    assert member.check_password("Sehr-Sicheres-Passwort-2")
    assert member.organization.kind == Organization.Kind.PARTNER
    assert member.organization != leader.organization
    profile = member.partner_profile
    assert (profile.capacity, profile.postcodes, profile.interest_types) == (12, ["80"], ["buy"])
    assert profile.team == leader.partner_profile.team == Team.objects.get(leader=leader)
    assert "created" in out.getvalue()
    assert AuditEvent.objects.filter(event_type="partner.created").count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "dup@example.org", "--password", "Sehr-Sicheres-Passwort-3"], "already exists|existiert bereits"),
        (["--email", "kein-email", "--password", "Sehr-Sicheres-Passwort-3"], "valid|gültige"),
        (["--email", "x@example.org", "--password", "123"], "short|kurz"),
        (
            ["--email", "y@example.org", "--password", "Sehr-Sicheres-Passwort-3", "--team-leader", "no@example.org"],
            "does not exist|existiert nicht",
        ),
    ],
)
def test_create_partner_errors_are_clear_and_write_nothing(args, message):
    call_command(
        "create_partner", "--email", "dup@example.org", "--password", "Sehr-Sicheres-Passwort-3", stdout=io.StringIO()
    )
    before = counts()
    with pytest.raises(CommandError, match=message):
        call_command("create_partner", *args, stdout=io.StringIO())
    assert counts() == before
