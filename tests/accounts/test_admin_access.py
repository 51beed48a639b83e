"""Only platform admins and internal ops get into Django Admin; ops cannot change configuration."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.models import User
from accounts.services import user_set_role
from leads.models import ScoringRule
from tests.accounts.factories import UserFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (User.Role.PLATFORM_ADMIN, True),
        (User.Role.INTERNAL_OPS, True),
        (User.Role.SALES_PARTNER, False),
        (User.Role.TEAM_LEADER, False),
    ],
)
def test_admin_index_by_role(client, role, allowed):
    client.force_login(UserFactory(role=role))
    response = client.get("/admin/")
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response.url.startswith("/admin/login/")


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_role_decides_staff_flag_and_group():
    user = UserFactory(role=User.Role.SALES_PARTNER)
    assert not user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["sales_partner"]
    user = user_set_role(user=user, role=User.Role.INTERNAL_OPS, actor=None)
    user.refresh_from_db()
    assert user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["internal_ops"]


def test_ops_views_but_cannot_change_configuration(client, ops_user):
    rule = ScoringRule.objects.get(code="phone_clicked", tenant=None)
    client.force_login(ops_user)
    assert client.get("/admin/leads/scoringrule/").status_code == 200
    change_url = f"/admin/leads/scoringrule/{rule.pk}/change/"
    response = client.get(change_url)
    assert response.status_code == 200
    assert b'name="points"' not in response.content  # read-only view
    response = client.post(change_url, {"points": 99, "code": rule.code, "component": "i", "description": "x"})
    assert response.status_code == 403
    assert client.get("/admin/leads/scoringrule/add/").status_code == 403
    rule.refresh_from_db()
    assert rule.points == 30


def test_ops_may_work_leads_and_admin_may_configure(client, ops_user, admin_user):
    lead = LeadFactory()
    client.force_login(ops_user)
    assert client.get(f"/admin/leads/lead/{lead.pk}/change/").status_code == 200
    assert ops_user.has_perm("leads.change_lead")
    assert not ops_user.has_perm("leads.delete_lead")
    assert not ops_user.has_perm("leads.change_scoringrule")
    assert admin_user.has_perm("leads.change_scoringrule")
    assert not admin_user.has_perm("compliance.change_auditevent")

    rule = ScoringRule.objects.get(code="phone_clicked", tenant=None)
    client.force_login(admin_user)
    response = client.post(
        f"/admin/leads/scoringrule/{rule.pk}/change/",
        {"code": rule.code, "component": "i", "points": 33, "description": rule.description, "active": "on"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.points == 33


def test_role_groups_exist_after_migrate():
    names = set(Group.objects.values_list("name", flat=True))
    assert {"platform_admin", "internal_ops", "sales_partner", "team_leader"} <= names
    assert Group.objects.get(name="sales_partner").permissions.count() == 0


def test_audit_log_is_read_only_in_admin(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/compliance/auditevent/").status_code == 200
    assert client.get("/admin/compliance/auditevent/add/").status_code == 403


def test_lead_admin_searches_through_blind_index(client, admin_user):
    lead = LeadFactory(email="gesucht@beispiel.de")
    other = LeadFactory(email="anders@beispiel.de")
    client.force_login(admin_user)
    response = client.get("/admin/leads/lead/", {"q": " GESUCHT@beispiel.de "})
    assert response.status_code == 200
    assert lead.public_id.encode() in response.content
    assert other.public_id.encode() not in response.content
    response = client.get("/admin/leads/lead/", {"q": "gesucht"})
    assert lead.public_id.encode() not in response.content


def _changelist_queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/admin/leads/lead/", "/admin/compliance/auditevent/", "/admin/accounts/user/"])
def test_changelists_use_a_constant_number_of_queries(client, admin_user, url):
    from tests.accounts.factories import PartnerFactory

    client.force_login(admin_user)
    for _ in range(3):
        LeadFactory(assigned_partner=PartnerFactory())
    few = _changelist_queries(client, url)
    for _ in range(30):
        LeadFactory(assigned_partner=PartnerFactory())
    many = _changelist_queries(client, url)
    assert many == few
