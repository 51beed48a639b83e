"""``leads.bulk.bulk_update_sql``: the import's replacement for ``bulk_update`` writes what ``save()`` writes."""

from __future__ import annotations

import pytest

from compliance.crypto import decrypt
from core.db import bound_cursor
from leads.bulk import bulk_update_sql
from leads.models import Lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_every_kind_of_field_round_trips_and_other_rows_and_columns_stay():
    leads = [LeadFactory(first_name=f"Alt{n}", city="Köln") for n in range(3)]
    untouched = LeadFactory(first_name="Bleibt")
    for n, lead in enumerate(leads[:2]):
        lead.first_name = f"Neu {n} «ß»"  # encrypted text
        lead.attributes = {"Budget": "200.000 €", "list": [1, None, "x"], "quote": 'a "b"'}  # JSON
        lead.employees = 250 + n  # integer
        lead.consent_marketing = True  # boolean
        lead.postcode = ""  # an empty string stays empty (not NULL)
    with bound_cursor(binary=True) as cursor:
        cursor.execute(
            *bulk_update_sql(leads[:2], ["first_name", "attributes", "employees", "consent_marketing", "postcode"])
        )

    for n, lead in enumerate(leads[:2]):
        stored = Lead.objects.get(pk=lead.pk)
        assert (stored.first_name, stored.employees, stored.consent_marketing, stored.postcode) == (
            f"Neu {n} «ß»",
            250 + n,
            True,
            "",
        )
        assert stored.attributes == {"Budget": "200.000 €", "list": [1, None, "x"], "quote": 'a "b"'}
        assert stored.city == "Köln"  # a column not named is left alone
    with bound_cursor() as cursor:
        cursor.execute("SELECT first_name FROM leads_lead WHERE id = %s", [leads[0].pk])
        ciphertext = cursor.fetchone()[0]
    assert ciphertext != "Neu 0 «ß»" and decrypt(ciphertext) == "Neu 0 «ß»"  # encrypted at rest
    assert Lead.objects.get(pk=leads[2].pk).first_name == "Alt2"
    assert Lead.objects.get(pk=untouched.pk).first_name == "Bleibt"
