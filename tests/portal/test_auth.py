"""Signing in to the portal: login, logout, password reset by email."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db

PORTAL = "/portal/leads"


def test_partner_logs_in_and_out(partner_user):
    client = Client()
    assert client.get(PORTAL + "/pipeline/")["Location"] == f"{PORTAL}/login/?next={PORTAL}/pipeline/"

    response = client.post(
        PORTAL + "/login/",
        {"username": partner_user.email.upper(), "password": PASSWORD, "next": PORTAL + "/pipeline/"},
    )
    assert response.status_code == 302 and response["Location"] == PORTAL + "/pipeline/"
    assert client.get(PORTAL + "/").status_code == 200

    assert client.post(PORTAL + "/logout/")["Location"] == PORTAL + "/login/"
    assert client.get(PORTAL + "/").status_code == 302


def test_wrong_password_and_staff_login(partner_user, admin_user):
    client = Client()
    response = client.post(PORTAL + "/login/", {"username": partner_user.email, "password": "falsch"})
    assert response.status_code == 200 and 'class="error"' in response.content.decode()
    staff = client.post(PORTAL + "/login/", {"username": admin_user.email, "password": PASSWORD})
    assert staff["Location"] == "/admin/"


def test_password_reset_by_email(partner_user):
    client = Client()
    response = client.post(PORTAL + "/passwort-vergessen/", {"email": partner_user.email})
    assert response["Location"] == PORTAL + "/passwort-vergessen/gesendet/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [partner_user.email]
    link = re.search(r"https?://[^/\s]+(/portal/leads/passwort-neu/\S+/)", mail.outbox[0].body).group(1)

    form = client.get(link, follow=True)
    assert form.status_code == 200 and 'name="new_password1"' in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Neues-Sicheres-Passwort-7", "new_password2": "Neues-Sicheres-Passwort-7"},
    )
    assert done["Location"] == PORTAL + "/passwort-neu/fertig/"
    assert (
        client.post(
            PORTAL + "/login/", {"username": partner_user.email, "password": "Neues-Sicheres-Passwort-7"}
        ).status_code
        == 302
    )

    # Unknown addresses get the same answer and no email.
    client.post(PORTAL + "/passwort-vergessen/", {"email": "niemand@example.org"})
    assert len(mail.outbox) == 1
