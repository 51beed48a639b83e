"""``import_leads``: every input format, header mapping, dry run, error report, dedup, idempotent re-runs."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TestCase
from django.utils import timezone, translation
from openpyxl import Workbook

from accounts.models import Organization
from compliance.models import AuditEvent
from leads.imports import graph
from leads.imports.columns import ColumnMap
from leads.imports.files import lead_import_file
from leads.imports.plan import ImportContext
from leads.imports.readers import LeadFileReader
from leads.models import (
    Company,
    Lead,
    LeadEnrichment,
    LeadIdentity,
    LeadIntent,
    LeadMerge,
    LeadScoreHistory,
    LeadVerification,
)
from leads.services import lead_ingest, lead_unmerge
from leads.services.scoring_batch import lead_score_batch, lead_score_pending_sweep
from leads.tasks import lead_score_batch_task
from tests.accounts.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
GERMAN_HEADER = ["E-Mail", "Vorname", "Nachname", "Telefon", "Mobil", "Firma", "PLZ", "Ort", "Interesse", "Budget"]


@pytest.fixture(autouse=True)
def _english_messages(settings):
    """The commands speak the platform's language (German); these tests read the English source texts."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def run(path: Path, *args: str, score: bool = True) -> str:
    """The command, then (``score``) the scoring batches it queued, as the workers would run them."""
    out = io.StringIO()
    with TestCase.captureOnCommitCallbacks(execute=score):
        call_command("import_leads", str(path), *args, stdout=out)
    return out.getvalue()


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def lead_by_email(email: str) -> Lead:
    return next(lead for lead in Lead.objects.all() if lead.email == email)


# --- formats and mapping ------------------------------------------------------------------------


def test_german_excel_csv_in_cp1252_with_semicolons_is_mapped_and_imported(tmp_path, platform_org):
    # given: what German Excel writes for "CSV (Trennzeichen-getrennt)"
    path = write_csv(
        tmp_path / "messe.csv",
        [
            GERMAN_HEADER,
            [
                "jürgen.groß@müller-bau.de",
                "Jürgen",
                "Groß",
                "030 1234567",
                "0151 23456789",
                "Müller Bau GmbH",
                "10115",
                "Köln",
                "Kauf",
                "250.000 €",
            ],
            ["oezlem@web.de", "Özlem", "Schäfer", "", "0170 1234567", "", "80331", "München", "Finanzierung", ""],
        ],
        encoding="cp1252",
        delimiter=";",
    )
    # when
    output = run(path)
    # then
    assert "cp1252" in output and "';'" in output
    assert "E-Mail → email" in output and "Mobil → phone" in output and "Budget" in output
    assert Lead.objects.count() == 2
    juergen = lead_by_email("jürgen.groß@müller-bau.de")
    assert (juergen.first_name, juergen.last_name, juergen.city) == ("Jürgen", "Groß", "Köln")
    assert juergen.phone == "+49301234567"  # the first phone column; the second one is kept as an answer
    assert juergen.attributes == {"Mobil": "0151 23456789", "Budget": "250.000 €"}
    assert (juergen.channel, juergen.source, juergen.tenant_id) == ("import", "zone1_pool", platform_org.pk)
    assert juergen.interest_type == "buy" and juergen.score > 0 and juergen.score_breakdown["items"]
    oezlem = lead_by_email("oezlem@web.de")
    assert (oezlem.last_name, oezlem.phone, oezlem.interest_type) == ("Schäfer", "+491701234567", "finance")


def test_utf8_bom_semicolon_csv_reads_the_first_header_correctly(tmp_path, platform_org):
    path = write_csv(
        tmp_path / "bom.csv",
        [["E-Mail", "Name", "Vorname"], ["anna@beispiel.de", "Schmidt", "Anna"]],
        encoding="utf-8-sig",
        delimiter=";",
    )
    output = run(path)
    assert "utf-8-sig" in output
    lead = Lead.objects.get()
    # "Name" next to "Vorname" is the last name.
    assert (lead.email, lead.first_name, lead.last_name) == ("anna@beispiel.de", "Anna", "Schmidt")


def test_english_comma_csv_with_quoted_fields(tmp_path, platform_org):
    path = write_csv(
        tmp_path / "crm.csv",
        [
            ["Email", "First Name", "Last Name", "Phone Number", "Company", "Job Title", "Zip", "Country", "Notes"],
            ["max@acme-gmbh.de", "Max", "Muster", "+49 89 1234567", "ACME, GmbH", "CEO", "80331", "Germany", "a; b"],
        ],
    )
    run(path)
    lead = Lead.objects.get()
    assert (lead.company_name, lead.job_title, lead.country, lead.postcode) == ("ACME, GmbH", "CEO", "DE", "80331")
    assert lead.attributes == {"Notes": "a; b"}
    assert list(Company.objects.filter(leads=lead).values_list("domain", flat=True)) == ["acme-gmbh.de"]


def test_xlsx_is_streamed_with_numbers_and_dates_from_cells(tmp_path, platform_org):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Vorname", "Name", "E-Mail", "Telefon", "Mitarbeiter", "Anfragedatum", "Einwilligung", "Frage"])
    sheet.append(
        ["Lena", "Klein", "lena@kanzlei-klein.de", 4915112345678, 250, dt.datetime(2025, 3, 1, 9, 30), "ja", 12.5]
    )
    sheet.append([None, None, None, None, None, None, None, None])  # empty rows are skipped
    sheet.append(["Paul", "Berg", "paul@berg.de", None, None, None, None, None])
    path = tmp_path / "leads.xlsx"
    workbook.save(path)

    output = run(path)

    assert "XLSX" in output
    lena = lead_by_email("lena@kanzlei-klein.de")
    assert (lena.first_name, lena.last_name, lena.phone, lena.employees) == ("Lena", "Klein", "+4915112345678", 250)
    assert lena.consent_marketing is True
    # The enquiry date (Berlin time) is the consent time when no explicit one is given.
    assert lena.consent_at == dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)
    assert lena.attributes == {"Frage": 12.5}
    assert Lead.objects.count() == 2


def test_json_array_and_json_lines(tmp_path, platform_org):
    array = tmp_path / "leads.json"
    array.write_text(
        json.dumps(
            [
                {"email": "a@example.de", "first_name": "A", "attributes": {"quelle": "Messe"}, "budget": 5},
                {"E-Mail": "b@example.de", "Telefon": "+43 660 1234567", "tags": ["x", "y"]},
            ]
        ),
        encoding="utf-8",
    )
    lines = tmp_path / "leads.jsonl"
    lines.write_text(
        '{"email": "c@example.de", "Firma": "C GmbH"}\n\n{not json}\n["a list"]\n{"phone": "0151 20000001"}\n',
        encoding="utf-8",
    )

    run(array)
    output = run(lines, "--errors", str(tmp_path / "errors.csv"))

    a, b = lead_by_email("a@example.de"), lead_by_email("b@example.de")
    assert a.attributes == {"quelle": "Messe", "budget": 5}
    assert (b.phone, b.attributes) == ("+436601234567", {"tags": ["x", "y"]})
    assert lead_by_email("c@example.de").company_name == "C GmbH"
    assert Lead.objects.count() == 4
    assert "refused: 2" in output
    errors = report_rows(tmp_path / "errors.csv")
    assert [(e["row"], e["reason"]) for e in errors] == [("3", "not valid JSON"), ("4", "not a JSON object")]
    assert [e["original data"] for e in errors] == ["{not json}", '["a list"]']  # the lines as they were


def test_mapping_file_overrides_the_automatic_mapping(tmp_path, platform_org):
    path = write_csv(
        tmp_path / "export.csv",
        [["Kontakt", "Notiz", "Intern", "Interesse"], ["kontakt@firma.de", "Rückruf", "geheim", "Beratung"]],
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "columns:\n  Kontakt: email\n  Notiz: attributes.note\n  Intern: ignore\n  Interesse: ~\n", encoding="utf-8"
    )
    output = run(path, "--mapping", str(mapping))
    assert "Kontakt → email" in output and "Columns ignored: Intern, Interesse" in output
    lead = Lead.objects.get()
    assert lead.email == "kontakt@firma.de" and lead.attributes == {"note": "Rückruf"} and lead.interest_type == ""

    json_mapping = tmp_path / "mapping.json"
    json_mapping.write_text(json.dumps({"Kontakt": "mobile_phone"}), encoding="utf-8")
    with pytest.raises(CommandError, match="unknown field 'mobile_phone'"):
        run(path, "--mapping", str(json_mapping))


# --- dry run, error report, exit codes -----------------------------------------------------------


def test_dry_run_validates_and_counts_everything_and_writes_nothing(tmp_path, platform_org):
    lead_ingest(payload={"email": "known@example.de"}, channel="facebook")
    before = (Lead.objects.count(), LeadIdentity.objects.count(), AuditEvent.objects.count())
    path = write_csv(
        tmp_path / "dry.csv",
        [
            ["email", "phone"],
            ["new@example.de", ""],
            ["NEW@example.de", "0151 20000002"],
            ["known@example.de", ""],
            ["broken", "1"],
        ],
    )
    output = run(path, "--dry-run", "--batch-size", "2")
    assert "Dry run (nothing written)" in output
    assert "would be created: 1" in output and "would be merged into existing leads: 1" in output
    assert "duplicates within the file: 1" in output and "refused: 1" in output
    assert (Lead.objects.count(), LeadIdentity.objects.count(), AuditEvent.objects.count()) == before
    assert len(report_rows(tmp_path / "dry.errors.csv")) == 1


def test_error_report_lists_row_column_reason_and_the_original_values(tmp_path, platform_org):
    path = write_csv(
        tmp_path / "bad.csv",
        [
            ["E-Mail", "Telefon", "Vorname", "Anfragedatum"],
            ["ok@example.de", "", "Ok", "01.02.2025"],
            ["kein-at", "12", "Karl", ""],
            ["", "", "Leer", ""],
            ["datum@example.de", "", "Dora", "31.02.2025"],
            ["zu@viel.de", "", "Zoe", "", "überzählig"],
            ["kaputt", "", "Kai", "32.13.2025"],
        ],
        delimiter=";",
    )
    output = run(path, "--errors", str(tmp_path / "report.csv"))
    assert "refused: 5" in output and "created: 1" in output
    rows = report_rows(tmp_path / "report.csv")
    assert list(rows[0]) == ["row", "column", "reason", "E-Mail", "Telefon", "Vorname", "Anfragedatum"]
    by_row = {r["row"]: r for r in rows}
    assert set(by_row) == {"3", "4", "5", "6", "7"}
    # Every problem of a row in one line: the bad date and the bad email address.
    assert by_row["7"]["column"] == "Anfragedatum, E-Mail"
    assert by_row["7"]["reason"].startswith("not a date: 32.13.2025; no valid email address or phone number (email: ")
    assert (
        by_row["3"]["column"] == "E-Mail, Telefon" and "no valid email address or phone number" in by_row["3"]["reason"]
    )
    assert by_row["3"]["E-Mail"] == "kein-at" and by_row["3"]["Vorname"] == "Karl"
    assert by_row["4"]["reason"] == "no email address or phone number"
    assert (by_row["5"]["column"], by_row["5"]["reason"]) == ("Anfragedatum", "not a date: 31.02.2025")
    assert "more values than columns" in by_row["6"]["reason"]


def test_the_german_error_report_explains_bad_emails_and_phones_in_german(tmp_path, platform_org, settings):
    path = write_csv(
        tmp_path / "de.csv",
        [["E-Mail", "Telefon"], ["kein-at", "12"], ["a@localhost", "+999 123"], ["@x.de", "keine nummer"]],
        delimiter=";",
    )
    settings.LANGUAGE_CODE = "de"
    with translation.override("de"):
        run(path, "--errors", str(tmp_path / "de.errors.csv"))
    reasons = {r["row"]: r["reason"] for r in report_rows(tmp_path / "de.errors.csv")}
    assert reasons["2"] == (
        "keine gültige E-Mail-Adresse und keine gültige Telefonnummer "
        "(E-Mail: sie braucht genau ein @; Telefon: keine gültige Telefonnummer)"
    )
    assert "der Teil nach dem @ ist keine gültige Domain" in reasons["3"]
    assert "unbekannte Ländervorwahl" in reasons["3"]
    assert "der Teil vor dem @ fehlt" in reasons["4"] and "keine Telefonnummer" in reasons["4"]
    # The checkers' own English detail stays with the kept value, for support.
    assert not any(word in " ".join(reasons.values()) for word in ("must", "sign", "supplied"))


def test_unusable_input_fails_with_a_clear_message(tmp_path, platform_org):
    with pytest.raises(CommandError, match="File not found"):
        run(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(CommandError, match="empty"):
        run(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("email;name\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no data rows"):
        run(tmp_path / "header.csv")
    write_csv(tmp_path / "noid.csv", [["Vorname", "Nachname"], ["Anna", "Muster"]])
    with pytest.raises(CommandError, match="No column holds an email address"):
        run(tmp_path / "noid.csv")
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(CommandError, match="Not a readable XLSX file"):
        run(tmp_path / "broken.xlsx")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(CommandError, match="xlsx"):
        run(tmp_path / "old.xls")
    (tmp_path / "cut.json").write_text('[{"email": "a@example.de"}, {"email": ', encoding="utf-8")
    with pytest.raises(CommandError, match="Invalid JSON in element 2"):
        run(tmp_path / "cut.json")
    assert Lead.objects.count() == 0  # a break in a JSON array stops the import before its batch


def test_refused_rows_are_not_fatal(tmp_path, platform_org):
    path = write_csv(tmp_path / "allbad.csv", [["email"], ["nope"], ["still nope"]])
    output = run(path)
    assert "refused: 2" in output and Lead.objects.count() == 0


@pytest.mark.slow
def test_exit_codes_of_the_command(tmp_path):
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    good = write_csv(tmp_path / "one.csv", [["email"], ["nope"]])
    missing = subprocess.run(
        [sys.executable, "manage.py", "import_leads", str(tmp_path / "missing.csv")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # A command run on its own speaks the platform's language.
    assert missing.returncode == 1 and "Datei nicht gefunden" in missing.stderr
    dry = subprocess.run(
        [sys.executable, "manage.py", "import_leads", str(good), "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stderr


# --- dedup -------------------------------------------------------------------------------------------


def test_duplicates_within_the_file_end_as_one_lead_and_new_data_is_journaled(tmp_path, platform_org):
    path = write_csv(
        tmp_path / "dups.csv",
        [
            ["email", "phone", "city", "first_name"],
            ["tom@example.de", "", "Berlin", "Tom"],
            [" TOM@example.de ", "", "Berlin", ""],  # the same, sloppier
            ["tom@example.de", "0151 20000003", "Potsdam", ""],  # brings a phone, another city
            ["0151 20000003", "", "", ""],  # no email column value: refused (not an email)
            ["other@example.de", "0151 20000003", "", ""],  # bridges via the phone: same person
        ],
    )
    output = run(path, "--batch-size", "2")
    assert "created: 1" in output and "duplicates within the file: 3" in output and "refused: 1" in output
    lead = Lead.objects.get()
    assert (lead.email, lead.phone, lead.city, lead.first_name) == ("tom@example.de", "+4915120000003", "Berlin", "Tom")
    assert set(LeadIdentity.objects.filter(lead=lead).values_list("kind", flat=True)) == {"email", "phone"}
    assert LeadIdentity.objects.filter(lead=lead, kind="email").count() == 2
    journal = LeadMerge.objects.filter(survivor=lead).order_by("id")
    assert journal.count() == 2
    phone_merge = journal[0].change_data
    assert phone_merge["fields"]["phone"] == ["", "+4915120000003"]
    assert {"field": "city", "value": "Potsdam"}.items() <= phone_merge["alternatives"][0].items()
    assert AuditEvent.objects.filter(event_type="lead.merged", object_id=str(lead.pk)).count() == 2


def test_rows_matching_leads_in_the_database_merge_into_them(tmp_path, platform_org):
    # given: a person the pool already knows from Facebook
    known = lead_ingest(payload={"email": "ina@web.de", "first_name": "Ina"}, channel="facebook").lead
    path = write_csv(
        tmp_path / "known.csv",
        [["E-Mail", "Telefon", "Firma", "Vorname"], ["ina@web.de", "0151 20000004", "Ina AG", "Ina-Maria"]],
    )
    # when
    output = run(path)
    # then
    assert "merged into existing leads: 1 (0 of them unchanged)" in output and "created: 0" in output
    known.refresh_from_db()
    assert (known.channel, known.phone, known.company_name, known.first_name) == (
        "facebook",
        "+4915120000004",
        "Ina AG",
        "Ina",  # the survivor's value stays, the new one is kept in the journal
    )
    entry = LeadMerge.objects.get(survivor=known)
    assert entry.kind == "ingest" and entry.channel == "import"
    assert entry.change_data["alternatives"][0]["value"] == "Ina-Maria"
    assert set(entry.moved_rows) == {"leads.leadverification", "leads.leadidentity"}
    rescored = LeadScoreHistory.objects.filter(lead=known).order_by("-id").first()
    assert rescored.new_score == known.score > rescored.old_score and "Telefon" in rescored.reason
    # and the import merge is undoable like any other
    split = lead_unmerge(merge=entry, actor=None)
    known.refresh_from_db()
    assert known.phone == "" and split.phone == "+4915120000004"


def test_running_the_same_file_again_creates_and_changes_nothing(tmp_path, platform_org):
    path = write_csv(
        tmp_path / "twice.csv",
        [
            ["E-Mail", "Telefon", "Vorname", "Interesse", "Budget"],
            ["a@example.de", "0151 20000005", "A", "Kauf", "100.000 €"],
            ["b@example.de", "", "B", "", ""],
            ["B@example.de", "0151 20000006", "", "", ""],
        ],
    )
    run(path)
    snapshot = sorted((lead.pk, lead.updated_at, lead.score) for lead in Lead.objects.all())
    counts = [m.objects.count() for m in (LeadIdentity, LeadMerge, LeadScoreHistory, LeadVerification)]

    output = run(path)

    assert "created: 0" in output and "merged into existing leads: 3 (3 of them unchanged)" in output
    assert sorted((lead.pk, lead.updated_at, lead.score) for lead in Lead.objects.all()) == snapshot
    assert [m.objects.count() for m in (LeadIdentity, LeadMerge, LeadScoreHistory, LeadVerification)] == counts


def test_the_one_lead_at_a_time_path_counts_unchanged_merges_too(tmp_path, platform_org, monkeypatch):
    # given: the path of the embedded SQLite default (and of rows the set-based path left over)
    original_init = ImportContext.__init__

    def without_postgres(self, plan):
        original_init(self, plan)
        self.postgres = False

    monkeypatch.setattr(ImportContext, "__init__", without_postgres)
    known = lead_ingest(payload={"email": "b@example.de"}, channel="facebook").lead
    path = write_csv(
        tmp_path / "slow.csv",
        [["E-Mail", "Vorname"], ["a@example.de", "A"], ["b@example.de", ""], ["c@example.de", "C"]],
    )
    # when
    first = run(path)
    second = run(path)
    # then: b brought nothing new the first time, and nobody did the second time
    assert "created: 2" in first and "merged into existing leads: 1 (1 of them unchanged)" in first
    assert "created: 0" in second and "merged into existing leads: 3 (3 of them unchanged)" in second
    assert not LeadMerge.objects.filter(survivor=known).exists()
    # a row that does bring something is counted as changed
    path.write_text("E-Mail;Vorname\nb@example.de;Berta\n", encoding="utf-8")
    assert "merged into existing leads: 1 (0 of them unchanged)" in run(path)


def test_a_bulk_created_lead_is_the_lead_lead_ingest_would_create(tmp_path, platform_org):
    """Same normalization, scoring, enrichment and rows as the per-lead path, just in bulk."""
    other = OrganizationFactory()
    row = {
        "email": "chefin@kanzlei-klein.de",
        "phone": "0151 20000007",
        "first_name": "Karin",
        "last_name": "Klein",
        "job_title": "Geschäftsführerin",
        "company_name": "Kanzlei Klein",
        "employees": "250",
        "interest_type": "Beratung",
        "postcode": "50667",
        "Budget": "500.000 €",
        "Zeitraum": "sofort",
    }
    path = write_csv(tmp_path / "one.csv", [list(row), list(row.values())])
    run(path)
    bulk = Lead.objects.get(tenant=platform_org)
    payload = {k: v for k, v in row.items() if k not in ("Budget", "Zeitraum")}
    payload["attributes"] = {"Budget": "500.000 €", "Zeitraum": "sofort"}
    single = lead_ingest(payload=payload, channel="import", tenant=other, activity=None).lead

    compared = [f.attname for f in Lead._meta.concrete_fields if f.attname not in ("id", "tenant_id", "public_id")]
    compared = [name for name in compared if name not in ("created_at", "updated_at")]
    assert {n: getattr(bulk, n) for n in compared} == {n: getattr(single, n) for n in compared}
    for model, fields in (
        (LeadVerification, ["email_valid", "email_free", "phone_valid", "phone_type", "phone_region", "method"]),
        (LeadEnrichment, ["provider", "company_data", "icp_match_score", "icp_reasons", "raw_response"]),
        (LeadIntent, ["source_type", "intent_level", "intent_score", "keywords", "analysis"]),
        (LeadScoreHistory, ["old_score", "new_score", "old_stage", "new_stage", "reason", "breakdown"]),
    ):
        assert list(model.objects.filter(lead=bulk).values(*fields)) == list(
            model.objects.filter(lead=single).values(*fields)
        ), model
    assert sorted(LeadIdentity.objects.filter(lead=bulk).values_list("kind", "value_hash")) == sorted(
        LeadIdentity.objects.filter(lead=single).values_list("kind", "value_hash")
    )
    assert Company.objects.get(tenant=platform_org).leads.get() == bulk
    created = AuditEvent.objects.get(event_type="lead.created", object_id=str(bulk.pk))
    assert created.payload["public_id"] == bulk.public_id and created.tenant_id == platform_org.pk
    imported = AuditEvent.objects.get(event_type="leads.imported")
    assert imported.payload["created"] == 1 and imported.payload["file"] == "one.csv"


def test_options_tenant_source_channel_and_actor(tmp_path, platform_org, admin_user):
    org = OrganizationFactory(slug="kunde-a")
    path = write_csv(tmp_path / "t.csv", [["email"], ["t@example.de"]])
    run(path, "--tenant", "kunde-a", "--source", "referral", "--channel", "referral", "--actor", admin_user.email)
    lead = Lead.objects.get()
    assert (lead.tenant, lead.source, lead.channel) == (org, "referral", "referral")
    assert AuditEvent.objects.get(event_type="lead.created").actor == admin_user
    with pytest.raises(CommandError, match="No organization"):
        run(path, "--tenant", "unbekannt")


def test_scoring_then_enrichment_are_queued_once_per_batch_not_per_row(tmp_path, platform_org, settings, monkeypatch):
    settings.ENRICHMENT_API_URL = "http://127.0.0.1:9/enrichment"
    scoring: list[list[str]] = []
    enrichment: list[list[str]] = []
    monkeypatch.setattr("leads.tasks.lead_score_batch_task.delay", lambda ids: scoring.append(ids))
    monkeypatch.setattr("leads.tasks.lead_enrich_batch_task.delay", lambda ids: enrichment.append(ids))
    monkeypatch.setitem(lead_score_batch_task.app.conf, "task_always_eager", False)  # a real broker
    path = write_csv(tmp_path / "q.csv", [["email", "Interesse"], *[[f"q{n}@example.de", "Kauf"] for n in range(5)]])

    output = run(path, "--batch-size", "2")

    # the import itself stores the leads unscored and queues one scoring batch per import batch
    assert "scoring and enrichment of 5 new leads queued in 3 batches" in output
    assert [len(ids) for ids in scoring] == [2, 2, 1] and enrichment == []
    assert sorted(i for ids in scoring for i in ids) == sorted(
        str(pk) for pk in Lead.objects.values_list("pk", flat=True)
    )
    assert all(lead.score_pending and lead.score == 0 and lead.score_breakdown == {} for lead in Lead.objects.all())
    assert not LeadEnrichment.objects.exists() and not LeadScoreHistory.objects.exists()

    # the scoring batches score, enrich offline and analyse, then queue remote enrichment per batch
    with TestCase.captureOnCommitCallbacks(execute=True):
        for ids in scoring:
            lead_score_batch(lead_ids=ids)
    assert [len(ids) for ids in enrichment] == [2, 2, 1]
    assert not Lead.objects.filter(score_pending=True).exists()
    assert Lead.objects.filter(score__gt=0).count() == 5
    assert LeadEnrichment.objects.count() == LeadIntent.objects.count() == LeadScoreHistory.objects.count() == 5


def test_a_scoring_batch_delivered_twice_scores_once(tmp_path, platform_org):
    path = write_csv(tmp_path / "twice.csv", [["email", "Budget", "Zeitrahmen"], ["t@example.de", "1 €", "sofort"]])
    run(path, score=False)
    lead = Lead.objects.get()
    assert lead.score_pending

    assert lead_score_batch(lead_ids=[lead.pk]) == 1
    assert lead_score_batch(lead_ids=[lead.pk]) == 0

    lead.refresh_from_db()
    assert not lead.score_pending and lead.score > 0 and lead.score_breakdown["items"]
    history = LeadScoreHistory.objects.get(lead=lead)
    assert history.old_score == 0 and history.new_score == lead.score and history.reason.startswith("Neuer Lead")
    assert LeadEnrichment.objects.filter(lead=lead).count() == LeadIntent.objects.filter(lead=lead).count() == 1


def test_a_lead_merged_before_its_batch_ran_is_scored_from_what_the_merge_made_of_it(tmp_path, platform_org):
    # given: imported, not scored yet, and then the same person writes in through a webhook
    path = write_csv(tmp_path / "m.csv", [["email", "Vorname"], ["m@example.de", "Mia"]])
    run(path, score=False)
    lead = Lead.objects.get()
    lead_ingest(
        payload={"email": "m@example.de", "phone": "0151 20000099", "job_title": "Geschäftsführerin"},
        channel="website",
        tenant=platform_org,
    )
    lead.refresh_from_db()
    moved_by_ingest = LeadScoreHistory.objects.filter(lead=lead).count()

    # when
    lead_score_batch(lead_ids=[lead.pk])

    # then: scored from the merged state; the rows of creation are there once
    lead.refresh_from_db()
    assert not lead.score_pending and "decision_maker_role" in {i["code"] for i in lead.score_breakdown["items"]}
    assert LeadEnrichment.objects.filter(lead=lead, provider="offline").count() == 1
    # lead_ingest already scored the merged lead; the batch found the same score and wrote no history
    assert moved_by_ingest == 1 and LeadScoreHistory.objects.filter(lead=lead).count() == 1


def test_the_sweep_requeues_pending_leads_whose_task_got_lost(tmp_path, platform_org, monkeypatch):
    queued: list[list[str]] = []
    path = write_csv(tmp_path / "lost.csv", [["email"], *[[f"l{n}@example.de"] for n in range(3)]])
    run(path, score=False)  # the import's tasks never arrive (Redis was down, say)
    old = Lead.objects.order_by("pk")[:2]
    Lead.objects.filter(pk__in=[lead.pk for lead in old]).update(created_at=timezone.now() - dt.timedelta(hours=1))
    monkeypatch.setattr("leads.tasks.lead_score_batch_task.delay", lambda ids: queued.append(ids))

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert lead_score_pending_sweep() == 2

    assert sorted(queued[0]) == sorted(str(lead.pk) for lead in old)  # the young one is still in the queue


def test_progress_lines_without_a_terminal(tmp_path, platform_org, monkeypatch):
    monkeypatch.setattr("leads.management.commands.import_leads.PROGRESS_EVERY_SECONDS", 0)
    path = write_csv(tmp_path / "p.csv", [["email"], *[[f"p{n}@example.de"] for n in range(3)]])
    output = run(path, "--batch-size", "1")
    assert output.count("… ") == 3 and "3 rows: 3 created" in output


@pytest.mark.django_db(transaction=True)
def test_worker_processes_write_disjoint_batches_and_the_same_person_still_ends_as_one_lead(tmp_path):
    # given: 40 people, each appearing three times spread over the file, small batches, two workers
    platform = Organization.objects.filter(is_platform=True).first() or Organization.objects.create(
        name="Lead-Plattform", slug="platform", kind="platform", is_platform=True
    )
    rows = [["email", "phone"]]
    for round_ in range(3):
        for n in range(40):
            rows.append([f"person{n}@example.de", f"0151 {30000000 + n}" if round_ == 2 else ""])
    path = write_csv(tmp_path / "par.csv", rows)
    # when
    output = run(path, "--workers", "2", "--batch-size", "7")
    # then
    assert "2 worker(s)" in output
    assert Lead.objects.filter(tenant=platform).count() == 40
    assert LeadIdentity.objects.filter(kind="phone").count() == 40
    assert "created: 40" in output and "duplicates within the file: 80" in output
    assert all(lead.phone for lead in Lead.objects.all())


@pytest.mark.django_db(transaction=True)
def test_company_upserts_do_not_wait_for_lead_links_held_by_another_import_worker(platform_org):
    """The 1M-row benchmark deadlocked here: a worker committing lead-company links holds
    ``FOR KEY SHARE`` on those companies (the deferred foreign key checks) while another worker's
    upsert of the same companies asked for ``FOR UPDATE``. The upsert now needs only ``FOR NO KEY
    UPDATE``, which does not wait for key-share locks."""
    import threading

    import psycopg
    from django.conf import settings as django_settings

    from leads.imports.create import companies_upsert, prepare
    from leads.imports.plan import ImportPlan, ImportRow, import_context
    from leads.models import Company
    from leads.normalize import normalize_payload

    company = Company.objects.create(tenant=platform_org, domain="mueller-bau.de", name="Müller Bau")
    db = django_settings.DATABASES["default"]
    holder = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=False
    )
    try:
        # given: another worker's transaction holds a key-share lock on the company, as an FK check does
        holder.execute("SELECT 1 FROM leads_company WHERE id = %s FOR KEY SHARE", [company.pk])
        plan = ImportPlan(
            tenant_id=platform_org.pk,
            channel="import",
            source="zone1_pool",
            actor_id=None,
            columns=ColumnMap(),
            dry_run=False,
            started_at=timezone.now(),
        )
        ctx = import_context(plan)
        payload = {"email": "info@mueller-bau.de", "company_name": "Müller Bau"}
        row = ImportRow(number=1, raw={}, payload=payload, norm=normalize_payload(payload, channel="import"))
        row.prepared = prepare(ctx, row)
        done = threading.Event()

        def upsert():
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SET lock_timeout = '3s'")
                companies_upsert(ctx, [row])
                done.set()
            finally:
                connection.close()

        worker = threading.Thread(target=upsert)
        worker.start()
        worker.join(timeout=10)
        # then: the upsert went through while the lock was held, and returned the existing company
        assert done.is_set(), "the company upsert waited for another worker's key-share lock"
        assert ctx.company_ids == {"mueller-bau.de": company.pk}
    finally:
        holder.rollback()
        holder.close()


def test_the_collector_settings_are_restored_after_an_import(tmp_path, platform_org):
    before = gc.get_threshold()
    path = write_csv(tmp_path / "gc.csv", [["email"], ["gc@example.de"]])
    run(path)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_row_that_lost_its_identity_to_a_concurrent_writer_is_merged_in_bulk_at_the_end(
    tmp_path, platform_org, monkeypatch
):
    # given: the lead exists, but the batch's lookup ran before its writer committed (seen as new)
    existing = lead_ingest(payload={"email": "race@example.de"}, channel="website", tenant=platform_org).lead
    original_lookup = graph.lookup
    lookups = []

    def stale_lookup(tenant_id, identities):
        lookups.append(1)
        return {} if len(lookups) == 1 else original_lookup(tenant_id, identities)

    monkeypatch.setattr(graph, "lookup", stale_lookup)
    path = write_csv(tmp_path / "race.csv", [["email", "Vorname"], ["race@example.de", "Rita"]])
    reader = LeadFileReader(path)

    # when
    summary = lead_import_file(reader=reader, columns=ColumnMap.for_headers(reader.headers))

    # then: the claim lost, the row came back after the other batches and merged set-based
    assert (summary.read, summary.created, summary.merged, summary.fallbacks) == (1, 0, 1, 0)
    assert Lead.objects.get() == existing and Lead.objects.get().first_name == "Rita"
    assert LeadMerge.objects.get(survivor=existing).channel == "import"
