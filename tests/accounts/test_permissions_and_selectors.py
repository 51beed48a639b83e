"""Role and scope permission classes, and the account selectors later APIs build on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.authentication import ApiKeyPrincipal
from accounts.models import User
from accounts.selectors import partner_list_active, user_get_by_id_or_email
from accounts.services import api_key_create
from core.permissions import IsPartner, IsPlatformAdmin, IsStaffRole, require_scope
from tests.accounts.factories import PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db


def allowed(permission, user) -> bool:
    return permission().has_permission(SimpleNamespace(user=user), view=None)


def test_role_permissions(platform_org):
    admin, ops = UserFactory(role=User.Role.PLATFORM_ADMIN), UserFactory(role=User.Role.INTERNAL_OPS)
    partner, leader = PartnerFactory(), PartnerFactory(role=User.Role.TEAM_LEADER)
    key, _raw = api_key_create(organization=platform_org, name="site", scopes=["capture"], actor=None)
    principal = ApiKeyPrincipal(key)
    matrix = {
        IsStaffRole: {admin: True, ops: True, partner: False, leader: False, principal: False},
        IsPlatformAdmin: {admin: True, ops: False, partner: False, leader: False, principal: False},
        IsPartner: {admin: False, ops: False, partner: True, leader: True, principal: False},
        require_scope("capture"): {admin: False, partner: False, principal: True},
        require_scope("leads:write"): {principal: False},
    }
    for permission, expected in matrix.items():
        for user, result in expected.items():
            assert allowed(permission, user) is result, (permission.__name__, str(user))
        assert allowed(permission, AnonymousUser()) is False


def test_user_lookup_by_id_or_email():
    user = UserFactory(email="finde.mich@example.org")
    assert user_get_by_id_or_email(user.pk) == user
    assert user_get_by_id_or_email(str(user.pk)) == user
    assert user_get_by_id_or_email(" Finde.Mich@Example.org ") == user
    assert user_get_by_id_or_email("nobody@example.org") is None


def test_active_partner_list_skips_inactive(django_assert_num_queries):
    active = PartnerFactory()
    inactive = PartnerFactory()
    inactive.partner_profile.is_active = False
    inactive.partner_profile.save()
    with django_assert_num_queries(1):
        profiles = list(partner_list_active())
        emails = [p.user.email for p in profiles]
    assert emails == [active.email]
