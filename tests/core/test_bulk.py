"""``core.bulk``: the import's instances, ``COPY`` and ``UPDATE`` write what ``Model()`` and ``save()`` write."""

from __future__ import annotations

import pytest

from compliance.crypto import decrypt
from core.bulk import bulk_update_sql, copy_insert, instance_factory
from core.db import bound_cursor
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


def test_instances_from_the_factory_are_the_instances_the_model_builds(platform_org):
    values = {"tenant_id": platform_org.pk, "channel": "import", "email": "a@example.de", "attributes": {"x": 1}}
    built, plain = instance_factory(Lead)(**values), Lead(**values)
    generated = {"id", "public_id"}  # callable defaults: fresh per instance
    assert {k: v for k, v in vars(built).items() if k not in generated | {"_state"}} == {
        k: v for k, v in vars(plain).items() if k not in generated | {"_state"}
    }
    assert built.id != plain.id and built.public_id != plain.public_id and built._state.adding
    assert built.score_breakdown == {} and built.score_breakdown is not instance_factory(Lead)().score_breakdown
    with pytest.raises(TypeError, match="tenant"):
        instance_factory(Lead)(tenant=platform_org)  # attnames only, and nothing the model does not have


def test_copy_insert_stores_what_save_stores(platform_org):
    saved = LeadFactory(tenant=platform_org, first_name="Jürgen", attributes={"Budget": "1 €"}, employees=12)
    copied = instance_factory(Lead)(
        tenant_id=platform_org.pk, first_name="Jürgen", attributes={"Budget": "1 €"}, employees=12
    )
    copy_insert([copied])

    stored = Lead.objects.get(pk=copied.pk)
    assert (stored.first_name, stored.attributes, stored.employees) == ("Jürgen", {"Budget": "1 €"}, 12)
    assert stored.created_at is not None and stored.public_id == copied.public_id  # auto_now_add, default
    with bound_cursor() as cursor:
        cursor.execute("SELECT first_name FROM leads_lead WHERE id = ANY(%s)", [[saved.pk, copied.pk]])
        ciphertexts = [row[0] for row in cursor.fetchall()]
    assert all(text != "Jürgen" and decrypt(text) == "Jürgen" for text in ciphertexts)  # encrypted at rest
