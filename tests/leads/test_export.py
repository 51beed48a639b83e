"""``export_leads``: decrypted CSV/XLSX in the import's columns, filtered, audited, and round trips."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from openpyxl import load_workbook

from compliance.models import AuditEvent
from leads.imports.export import EXPORT_COLUMNS
from leads.models import Lead, LeadMerge, LeadScoreHistory
from leads.services import lead_ingest
from tests.accounts.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_messages(settings):
    """The commands speak the platform's language (German); these tests read the English source texts."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def leads(platform_org) -> list[Lead]:
    return [
        lead_ingest(
            payload={
                "email": "anna@kanzlei-klein.de",
                "phone": "0151 20000010",
                "full_name": "Anna Klein",
                "job_title": "Geschäftsführerin",
                "consent_marketing": True,
                "attributes": {"Budget": "300.000 €", "Zeitraum": "sofort"},
            },
            channel="facebook",
        ).lead,
        lead_ingest(payload={"email": "bert@web.de", "opted_out": True, "postcode": "01067"}, channel="website").lead,
        lead_ingest(payload={"email": "test@fb.com"}, channel="facebook").lead,  # a test lead
    ]


def export(path, *args: str) -> str:
    out = io.StringIO()
    call_command("export_leads", str(path), *args, stdout=out)
    return out.getvalue()


def test_csv_export_is_decrypted_filtered_and_audited(tmp_path, leads, admin_user):
    path = tmp_path / "leads.csv"
    output = export(path, "--channel", "facebook", "--actor", admin_user.email)
    assert "1 leads written" in output
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    (row,) = rows  # the test lead is left out unless asked for
    assert (row["email"], row["phone"], row["first_name"], row["last_name"]) == (
        "anna@kanzlei-klein.de",
        "+4915120000010",
        "Anna",
        "Klein",
    )
    assert json.loads(row["attributes"]) == {"Budget": "300.000 €", "Zeitraum": "sofort"}
    assert row["public_id"] == leads[0].public_id and row["consent_marketing"] == "True"
    event = AuditEvent.objects.get(event_type="leads.exported")
    assert event.actor == admin_user
    assert event.payload == {"format": "csv", "count": 1, "filters": {"channel": "facebook"}, "file": "leads.csv"}
    assert "anna" not in json.dumps(event.payload)  # no personal data in the audit trail


def test_xlsx_export_with_test_leads_and_date_filters(tmp_path, leads):
    path = tmp_path / "leads.xlsx"
    export(path, "--include-test", "--since", "01.01.2020")
    sheet = load_workbook(path, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == EXPORT_COLUMNS and len(rows) == 4
    assert {r[1] for r in rows[1:]} == {"anna@kanzlei-klein.de", "bert@web.de", "test@fb.com"}
    export(tmp_path / "none.xlsx", "--until", "2020-01-01")
    assert len(list(load_workbook(tmp_path / "none.xlsx", read_only=True).active.iter_rows())) == 1
    with pytest.raises(CommandError, match="not a date"):
        export(tmp_path / "x.csv", "--since", "gestern")


def test_an_export_imported_again_creates_and_changes_nothing(tmp_path, leads):
    path = tmp_path / "roundtrip.csv"
    export(path)
    before = sorted((lead.pk, lead.updated_at) for lead in Lead.objects.all())
    merges, history = LeadMerge.objects.count(), LeadScoreHistory.objects.count()

    out = io.StringIO()
    call_command("import_leads", str(path), stdout=out)

    assert "created: 0" in out.getvalue() and "merged into existing leads: 2 (2 of them unchanged)" in out.getvalue()
    assert sorted((lead.pk, lead.updated_at) for lead in Lead.objects.all()) == before
    assert (LeadMerge.objects.count(), LeadScoreHistory.objects.count()) == (merges, history)


def test_an_export_imported_into_another_tenant_recreates_the_leads(tmp_path, leads):
    path = tmp_path / "move.xlsx"
    export(path)
    other = OrganizationFactory(slug="mandant-b")
    call_command("import_leads", str(path), "--tenant", "mandant-b", stdout=io.StringIO())
    copies = {lead.email: lead for lead in Lead.objects.filter(tenant=other)}
    assert set(copies) == {"anna@kanzlei-klein.de", "bert@web.de"}
    anna, bert = copies["anna@kanzlei-klein.de"], copies["bert@web.de"]
    assert (anna.first_name, anna.last_name, anna.phone, anna.job_title) == (
        "Anna",
        "Klein",
        "+4915120000010",
        "Geschäftsführerin",
    )
    assert anna.attributes == leads[0].attributes and anna.consent_marketing is True
    assert bert.opted_out_at is not None and bert.consent_marketing is False and bert.postcode == "01067"
