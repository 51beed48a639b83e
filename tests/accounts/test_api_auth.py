"""JWT obtain/refresh and API-key authentication."""

from __future__ import annotations

import pytest

from accounts.models import ApiKey, User
from accounts.services import api_key_create, api_key_revoke
from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_jwt_obtain_refresh_and_use(api_client, partner_user):
    response = api_client.post(
        "/api/auth/token/", {"email": partner_user.email.upper(), "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api_client.get("/api/auth/me/")
    assert me.status_code == 200
    assert me.json()["email"] == partner_user.email
    assert me.json()["role"] == User.Role.SALES_PARTNER

    api_client.credentials()
    refreshed = api_client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert api_client.get("/api/auth/me").status_code == 200


def test_jwt_wrong_password_and_bad_token(api_client, partner_user):
    response = api_client.post("/api/auth/token/", {"email": partner_user.email, "password": "falsch"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"

    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api_client.get("/api/auth/me/")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message"}
    assert response.json()["error"]["code"] == "token_not_valid"

    response = api_client.post("/api/auth/token/refresh/", {"refresh": "nonsense"}, format="json")
    assert response.status_code == 401


def test_inactive_user_gets_no_token(api_client, partner_user):
    partner_user.is_active = False
    partner_user.save()
    response = api_client.post("/api/auth/token/", {"email": partner_user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 401


def test_api_key_is_shown_once_hashed_and_revocable(api_client, platform_org, admin_user):
    api_key, raw = api_key_create(organization=platform_org, name="Website", scopes=["capture"], actor=admin_user)
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert raw.startswith(f"lp_{stored.prefix}_")
    assert raw not in {stored.hashed_key, stored.prefix} and len(stored.hashed_key) == 64

    response = api_client.get("/api/auth/me/", HTTP_X_API_KEY=raw)
    assert response.status_code == 200
    assert response.json()["role"] == "api_key"
    assert response.json()["is_platform_organization"] is True
    stored.refresh_from_db()
    assert stored.last_used_at is not None

    assert api_client.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Api-Key {raw}").status_code == 200
    assert api_client.get("/api/auth/me/", HTTP_X_API_KEY=raw[:-2] + "xx").status_code == 401

    api_key_revoke(api_key=api_key, actor=admin_user)
    response = api_client.get("/api/auth/me/", HTTP_X_API_KEY=raw)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_api_key_scopes_are_validated(platform_org):
    from core.exceptions import DomainError

    with pytest.raises(DomainError):
        api_key_create(organization=platform_org, name="x", scopes=["root"], actor=None)
    with pytest.raises(DomainError):
        api_key_create(organization=platform_org, name="x", scopes=[], actor=None)
