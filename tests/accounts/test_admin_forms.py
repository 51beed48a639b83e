"""Admin forms that go through services: adding users (role → groups) and API keys (shown once)."""

from __future__ import annotations

import re

import pytest

from accounts.models import ApiKey, User
from compliance.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_admin_adds_an_ops_user_who_gets_admin_access(client, admin_user, platform_org):
    client.force_login(admin_user)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "Neu.Ops@Example.org",
            "role": User.Role.INTERNAL_OPS,
            "organization": platform_org.pk,
            "password1": "Ein-Sehr-Langes-Passwort-7",
            "password2": "Ein-Sehr-Langes-Passwort-7",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="neu.ops@example.org")
    assert user.is_staff and list(user.groups.values_list("name", flat=True)) == ["internal_ops"]
    assert AuditEvent.objects.filter(event_type="user.created", object_id=str(user.pk)).exists()


def test_admin_role_change_goes_through_the_service(client, admin_user, partner_user):
    client.force_login(admin_user)
    url = f"/admin/accounts/user/{partner_user.pk}/change/"
    response = client.post(
        url,
        {
            "email": partner_user.email,
            "role": User.Role.TEAM_LEADER,
            "organization": partner_user.organization_id,
            "is_active": "on",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    partner_user.refresh_from_db()
    assert partner_user.role == User.Role.TEAM_LEADER
    event = AuditEvent.objects.get(event_type="user.role_changed", object_id=str(partner_user.pk))
    assert event.payload == {"from": "sales_partner", "to": "team_leader"}
    assert list(partner_user.groups.values_list("name", flat=True)) == ["team_leader"]


def test_admin_creates_api_key_and_shows_it_once(client, admin_user, platform_org):
    client.force_login(admin_user)
    response = client.post(
        "/admin/accounts/apikey/add/",
        {
            "organization": platform_org.pk,
            "name": "Website Hamburg",
            "scopes": ["capture"],
            "allowed_origins": '["https://www.example.de"]',
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    match = re.search(r"lp_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}", page)
    assert match, page[:3000]
    api_key = ApiKey.objects.get(name="Website Hamburg")
    assert api_key.scopes == ["capture"] and api_key.allowed_origins == ["https://www.example.de"]
    assert match.group(0).startswith(f"lp_{api_key.prefix}_")
    assert match.group(0) not in client.get(f"/admin/accounts/apikey/{api_key.pk}/change/").content.decode()

    response = client.post("/admin/accounts/apikey/", {"action": "revoke_keys", "_selected_action": [api_key.pk]})
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_ops_cannot_create_api_keys(client, ops_user):
    client.force_login(ops_user)
    assert client.get("/admin/accounts/apikey/add/").status_code == 403
