"""Blind indexes: stable across case and whitespace, kind-separated, keyed."""

from __future__ import annotations

import pytest

from compliance.blind_index import blind_index, email_index, normalize_phone, phone_index
from leads.models import Lead
from leads.selectors import lead_search_q
from tests.leads.factories import LeadFactory


def test_email_index_ignores_case_and_whitespace():
    assert email_index("  Max.Mustermann@Example.COM ") == email_index("max.mustermann@example.com")
    assert len(email_index("a@b.de")) == 64
    assert email_index("max@example.com") != email_index("maxi@example.com")


@pytest.mark.parametrize("raw", ["+49 151 2345678", "0151 2345678", "0049 151-2345678", "(0151) 234 56 78"])
def test_phone_index_is_stable_across_formats(raw):
    assert normalize_phone(raw) == "+491512345678"
    assert phone_index(raw) == phone_index("+491512345678")


def test_empty_values_have_no_index():
    assert email_index("") == email_index(None) == phone_index("   ") == ""


def test_kinds_are_separated_and_key_matters(settings):
    assert blind_index("email", "123") != blind_index("import_key", "123")
    before = email_index("max@example.com")
    settings.BLIND_INDEX_KEY = "another-key"
    assert email_index("max@example.com") != before


@pytest.mark.django_db
def test_lead_save_maintains_indexes_and_search_finds_it():
    lead = LeadFactory(email="Erika@Beispiel.DE", phone="0151 7654321")
    assert lead.email_hash == email_index("erika@beispiel.de")
    assert Lead.objects.get(lead_search_q(" ERIKA@beispiel.de")) == lead
    assert Lead.objects.get(lead_search_q("+49 151 7654321")) == lead
    assert Lead.objects.get(lead_search_q(lead.public_id.lower())) == lead
    assert lead_search_q("Erika") is None

    lead.email = "neu@beispiel.de"
    lead.save(update_fields=["email"])
    lead.refresh_from_db()
    assert lead.email_hash == email_index("neu@beispiel.de")
