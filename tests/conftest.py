"""Shared fixtures. The suite runs on real PostgreSQL and Redis (see scripts/test.sh)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Organization, PartnerProfile, User
from core.ratelimit import rate_limit_forget
from tests.accounts.factories import PartnerFactory, UserFactory, ensure_platform_organization


@pytest.fixture(autouse=True, scope="session")
def _require_postgresql(django_db_setup, django_db_blocker):
    """Refuse to run on anything but PostgreSQL: dedup, constraints and triggers are tested for real."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.exit(
                "The test suite needs PostgreSQL and Redis: run `bash scripts/test.sh` "
                "(or set DATABASE_URL=postgres://… and REDIS_URL=redis://…).",
                returncode=2,
            )


@pytest.fixture(autouse=True)
def _fast_and_clean(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    rate_limit_forget()
    yield
    cache.clear()
    rate_limit_forget()


@pytest.fixture
def platform_org(db) -> Organization:
    return ensure_platform_organization()


@pytest.fixture
def admin_user(db) -> User:
    return UserFactory(role=User.Role.PLATFORM_ADMIN)


@pytest.fixture
def ops_user(db) -> User:
    return UserFactory(role=User.Role.INTERNAL_OPS)


@pytest.fixture
def partner_user(db) -> User:
    return PartnerFactory()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def portal_partner(platform_org) -> User:
    """A sales partner with room for 200 leads, as the portal pages' tests use."""
    user = PartnerFactory(first_name="Anna")
    PartnerProfile.objects.filter(user=user).update(capacity=200)
    return user


@pytest.fixture
def portal_client(portal_partner) -> Client:
    """A browser session signed in to the portal as ``portal_partner``."""
    client = Client()
    client.force_login(portal_partner)
    return client


@pytest.fixture
def wsgi_app(db):
    """The project's WSGI app for schemathesis, inside the test's transaction."""
    from config.wsgi import application

    # Like Django's test client: the WSGI app must not close the test's connection (its open transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
