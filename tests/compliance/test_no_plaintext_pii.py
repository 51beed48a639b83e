"""No personal data in plaintext anywhere (SPEC §12): one person's full journey, then a scan of the
database dump, every log line and every Celery task message for their email, phone, name and answer.

The person arrives through the website capture API (with consent), a Facebook lead webhook (signed,
Graph stubbed) and an import file, is merged by hand with a second lead of theirs, offered to a
partner, accepted, worked (a note, a follow-up, qualified), converted to a deal that moves on with a
reason, and the partner is notified. Transactional: the data is committed, so ``pg_dump`` (a separate
connection) sees exactly what the database holds.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
import responses
from celery.signals import before_task_publish, task_prerun
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Notification, PartnerProfile, User
from accounts.services import api_key_create
from compliance import crypto
from compliance.column_encryption import Column, Derived, decrypt_columns, encrypt_columns
from compliance.rotation import rotation_targets
from core.logging import JsonFormatter
from core.pii import scrub_pii, url_without_personal_query
from core.throttling import AnonIpRateThrottle
from deals.models import PartnerDeal
from leads.models import Lead, LeadActivity, LeadAssignment, LeadIntent, LeadMerge
from leads.normalize import normalize_payload
from leads.selectors.work import lead_next_follow_up, lead_rows
from leads.services.work import lead_contact_log, lead_follow_up_set
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.leads.factories import LeadFactory
from tests.webhooks.conftest import APP_SECRET, GRAPH, VERIFY_TOKEN, fixture_bytes, sign
from tests.webhooks.factories import MetaPageConnectionFactory
from webhooks.models import WebhookEvent

FIRST, LAST = "Quirinus", "Zwetschgenbaum"
EMAIL = "Quirinus.Zwetschgenbaum@web.de"  # free mail: no company guessed, the deal is titled with the name
PHONE = "+49 171 9876543"
ANSWER = "Rufen Sie mich nach 18 Uhr an, Quirinus"
NOTE = "Herr Zwetschgenbaum bittet um Rückruf unter 0171 9876543"
#: Every form the person's data could take: as given, lower-cased, E.164, national, bare digits.
NEEDLES = {
    "email as given": EMAIL,
    "email lower-cased": EMAIL.lower(),
    "phone as given": PHONE,
    "phone E.164": "+491719876543",
    "phone national": "0171 9876543",
    "phone national digits": "01719876543",
    "phone digits": "1719876543",
    "first name": FIRST,
    "last name": LAST,
    "free-text answer": ANSWER,
}
SITE = "https://www.immo-beispiel.de"
FB_PAGE, FB_LEAD = "153125381133", "123123123123"


def _found(text: str) -> list[str]:
    """The needles in ``text``, compared case-insensitively (an upper-cased name is still the name)."""
    lowered = text.lower()
    return [label for label, needle in NEEDLES.items() if needle.lower() in lowered]


@pytest.fixture
def published():
    """Every Celery task message: ``before_task_publish`` for the broker, ``task_prerun`` for eager runs."""
    messages: list[str] = []

    def on_publish(sender=None, body=None, headers=None, **kwargs):
        messages.append(f"{sender}: {json.dumps(body, default=str)} {json.dumps(headers or {}, default=str)}")

    def on_prerun(sender=None, task_id=None, task=None, args=None, kwargs=None, **extra):
        messages.append(f"{getattr(task, 'name', sender)}: {json.dumps([args, kwargs], default=str)}")

    before_task_publish.connect(on_publish, weak=False)
    task_prerun.connect(on_prerun, weak=False)
    try:
        yield messages
    finally:
        before_task_publish.disconnect(on_publish)
        task_prerun.disconnect(on_prerun)


@pytest.fixture
def meta(settings):
    settings.META_APP_SECRET = APP_SECRET
    settings.META_INSTAGRAM_APP_SECRET = ""
    settings.META_VERIFY_TOKEN = VERIFY_TOKEN
    settings.META_GRAPH_API_URL = GRAPH
    settings.WEBHOOK_RATE_LIMIT = "1000/m"
    settings.TRUSTED_PROXIES = []
    settings.WEBHOOK_IP_ALLOWLIST_FACEBOOK = []
    with responses.RequestsMock(assert_all_requests_are_fired=True) as graph:
        yield graph


def _database_dump() -> str:
    """``pg_dump --data-only`` of the test database (the client's major version matches the server's)."""
    db = connection.settings_dict
    command = ["pg_dump", "--data-only", "--no-owner", "-h", db["HOST"] or "127.0.0.1", "-U", db["USER"] or "postgres"]
    if db["PORT"]:
        command += ["-p", str(db["PORT"])]
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    result = subprocess.run([*command, db["NAME"]], capture_output=True, env=env, timeout=60, check=True)
    return result.stdout.decode("utf-8")


def _journey(tmp_path, meta, admin: User, partner: User) -> Lead:
    """The person's way through the product, through its real entry points; returns the surviving lead."""
    api = APIClient()
    # 1. Website form (API-580) with consent and a free-text answer.
    _key, secret = api_key_create(
        organization=admin.organization, name="Website", scopes=["capture"], actor=None, allowed_origins=[SITE + "/"]
    )
    response = api.post(
        "/api/capture/",
        {
            "email": EMAIL,
            "full_name": f"{FIRST} {LAST}",
            "phone": PHONE,
            "nachricht": ANSWER,
            "consent": True,
            "consent_text": "Ich möchte Angebote per E-Mail erhalten.",
            "consent_version": "2026-01",
        },
        format="json",
        HTTP_X_API_KEY=secret,
        HTTP_REFERER=f"{SITE}/kapitalanlage?utm_source=google&email={EMAIL}",  # a mailing's link
    )
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(public_id=response.json()["public_id"])

    # 2. Facebook Lead Ads: a signed leadgen webhook, the lead fetched from the (stubbed) Graph API.
    MetaPageConnectionFactory(page_id=FB_PAGE, access_token="EAAPageToken")
    meta.get(
        f"{GRAPH}/{FB_LEAD}",
        json={
            "id": FB_LEAD,
            "created_time": "2026-11-28T08:49:14+0000",
            "form_id": "12312312312",
            "field_data": [
                {"name": "full_name", "values": [f"{FIRST} {LAST}"]},
                {"name": "email", "values": [EMAIL.lower()]},
                {"name": "phone_number", "values": ["+491719876543"]},
                {"name": "wann_erreichbar", "values": [ANSWER]},
            ],
        },
    )
    body = fixture_bytes("facebook/leadgen_signature_vector.json")
    response = Client().generic(
        "POST", "/webhooks/facebook/", body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body)
    )
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(provider="facebook")
    assert event.status == WebhookEvent.Status.PROCESSED and event.lead_id == lead.pk, event.last_error

    # 3. An import file with the same person (German headers, national phone format).
    path = tmp_path / "messe-2026.csv"
    path.write_text(
        f"E-Mail;Vorname;Nachname;Telefon;Nachricht\n{EMAIL.upper()};{FIRST};{LAST};0171 9876543;{ANSWER}\n",
        encoding="utf-8",
    )
    call_command("import_leads", str(path), stdout=io.StringIO())
    assert Lead.objects.filter(merged_into__isnull=True, email_hash=lead.email_hash).count() == 1

    # 4. A second lead of the person (another address) merged by hand (API-505, API-507).
    api.force_authenticate(admin)
    response = api.post(
        "/api/leads/",
        {"channel": "manual", "email": "q.zwetschgenbaum@gmx.de", "first_name": FIRST, "last_name": LAST},
        format="json",
    )
    assert response.status_code == 201, response.content
    other = response.json()["lead"]["id"]
    response = api.post(f"/api/leads/{lead.pk}/merge/", {"leads": [other]}, format="json")
    assert response.status_code == 200, response.content
    assert LeadMerge.objects.filter(survivor=lead).count() >= 3  # the webhook, the import and the manual merge

    # 5. Offered to a partner (API-551), accepted (API-511): the partner is notified.
    response = api.post(f"/api/admin/leads/pool/{lead.pk}/assign/", {"partner": partner.email}, format="json")
    assert response.status_code in (200, 201), response.content
    api.force_authenticate(partner)
    response = api.post(f"/api/leads/inbox/{lead.pk}/accept/", {}, format="json")
    assert response.status_code == 200, response.content

    # 6. Worked: a contact with a note naming the person and a follow-up, qualified, converted, moved on.
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    response = api.post(
        f"/api/leads/{lead.pk}/contact/",
        {"channel": "phone", "outcome": "reached", "note": NOTE, "next_follow_up": tomorrow},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert api.post(f"/api/leads/{lead.pk}/qualify/", {"note": f"{FIRST} hat Budget"}, format="json").status_code == 200
    response = api.post(f"/api/leads/{lead.pk}/convert/", {"deal_value": "380000"}, format="json")
    assert response.status_code == 201, response.content
    deal_id = response.json()["id"]
    response = api.post(
        f"/api/leads/deals/{deal_id}/stage/", {"stage": "qualified", "reason": f"{LAST} hat zugesagt"}, format="json"
    )
    assert response.status_code == 200, response.content
    return Lead.objects.get(pk=lead.pk)


@pytest.mark.django_db(transaction=True)
def test_a_full_journey_leaves_no_personal_data_in_plaintext(tmp_path, meta, published, caplog, platform_org):
    admin = UserFactory(role=User.Role.PLATFORM_ADMIN)
    partner = PartnerFactory(first_name="Anna")
    PartnerProfile.objects.filter(user=partner).update(capacity=50)
    caplog.set_level(logging.DEBUG)

    lead = _journey(tmp_path, meta, admin, partner)

    # The journey really happened, and the application still reads everything back decrypted.
    assert (lead.email, lead.phone, lead.first_name, lead.last_name) == (EMAIL.lower(), "+491719876543", FIRST, LAST)
    assert ANSWER in lead.attributes.values() and lead.status == Lead.Status.CONVERTED
    assert lead.landing_page == f"{SITE}/kapitalanlage?utm_source=google" and lead.utm_source == "google"
    assert lead.assigned_partner_id == partner.pk
    note = LeadActivity.objects.get(lead=lead, activity_type="contact_logged")
    assert note.detail["note"] == NOTE and note.next_follow_up == timezone.localdate() + dt.timedelta(days=1)
    deal = PartnerDeal.objects.get(lead=lead)
    assert deal.title == f"{FIRST} {LAST}" and deal.contact_email == EMAIL.lower()
    assert LeadAssignment.objects.filter(lead=lead, status="accepted").exists()
    assert Notification.objects.filter(recipient=partner).exists() and mail.outbox
    assert published and caplog.records  # the scanners saw something

    leaks: dict[str, list[str]] = {}
    # The database: every table's data, as a backup would hold it.
    assert shutil.which("pg_dump"), "pg_dump is needed for this test"
    dump = _database_dump()
    assert "COPY public.leads_lead " in dump and lead.public_id in dump
    table = ""
    for line in dump.splitlines():
        if header := re.match(r"^COPY (\S+)", line):
            table = header.group(1)
        elif found := _found(line):
            leaks.setdefault("database", []).append(f"{table} {found}: {line[:300]}")
    # The logs, as the product writes them (the JSON formatter, at DEBUG).
    formatter = JsonFormatter()
    for record in caplog.records:
        line = formatter.format(record)
        if found := _found(line):
            leaks.setdefault("logs", []).append(f"{found}: {line[:300]}")
    # Every task message (ids only).
    for message in published:
        if found := _found(message):
            leaks.setdefault("tasks", []).append(f"{found}: {message[:300]}")
    # The notifications that left by email (to the partner: public id, no contact data before acceptance).
    for message in mail.outbox:
        if found := _found(f"{message.subject}\n{message.body}"):
            leaks.setdefault("emails", []).append(f"{found}: {message.subject}")
    assert not leaks, json.dumps(leaks, indent=1, ensure_ascii=False)


# --- The pieces the journey relies on --------------------------------------------------------


@pytest.mark.django_db
def test_free_text_columns_hold_ciphertext_and_read_back_in_clear(platform_org):
    lead = LeadFactory(attributes={"nachricht": ANSWER}, lost_reason=f"{LAST} will nicht")
    activity = LeadActivity.objects.create(
        lead=lead, activity_type="note_added", detail={"note": NOTE}, occurred_at=timezone.now()
    )
    intent = LeadIntent.objects.create(lead=lead, keywords=[f"{FIRST} nennt Budget"], analysis={"next": ANSWER})
    empty = LeadFactory()
    with connection.cursor() as cursor:
        cursor.execute("SELECT attributes, lost_reason FROM leads_lead WHERE id = %s", [lead.pk])
        attributes, lost_reason = cursor.fetchone()
        cursor.execute("SELECT detail FROM leads_leadactivity WHERE id = %s", [activity.pk])
        (detail,) = cursor.fetchone()
        cursor.execute("SELECT keywords, analysis FROM leads_leadintent WHERE id = %s", [intent.pk])
        keywords, analysis = cursor.fetchone()
        cursor.execute("SELECT attributes FROM leads_lead WHERE id = %s", [empty.pk])
        (empty_attributes,) = cursor.fetchone()
    for stored in (attributes, lost_reason, detail, keywords, analysis):
        assert stored.startswith("v1:") and not _found(stored)
    assert empty_attributes == ""  # no answers: nothing to hide, and no ciphertext to decrypt on every read
    lead.refresh_from_db()
    assert lead.attributes == {"nachricht": ANSWER} and lead.lost_reason == f"{LAST} will nicht"
    assert LeadIntent.objects.get(pk=intent.pk).keywords == [f"{FIRST} nennt Budget"]
    assert Lead.objects.get(pk=empty.pk).attributes == {}
    with pytest.raises(FieldError):  # not searchable: a key needed in SQL gets a clear column of its own
        list(Lead.objects.filter(attributes__nachricht=ANSWER))


@pytest.mark.django_db
def test_the_follow_up_date_lives_in_a_clear_column_and_the_latest_plan_wins(platform_org):
    lead = LeadFactory()
    in_three, in_five = timezone.localdate() + dt.timedelta(days=3), timezone.localdate() + dt.timedelta(days=5)
    lead_contact_log(lead=lead, actor=None, channel="phone", outcome="callback", note=NOTE, next_follow_up=in_three)
    assert lead_next_follow_up(lead=lead) == in_three
    assert lead_rows([lead.pk], with_follow_up=True)[0].next_follow_up == in_three.isoformat()
    lead_contact_log(lead=lead, actor=None, channel="email", outcome="reached")  # plans nothing: the plan stays
    assert lead_next_follow_up(lead=lead) == in_three
    lead_follow_up_set(lead=lead, actor=None, next_follow_up=in_five)
    assert lead_rows([lead.pk], with_follow_up=True)[0].next_follow_up == in_five.isoformat()
    lead_follow_up_set(lead=lead, actor=None, next_follow_up=None)  # cleared
    assert lead_next_follow_up(lead=lead) is None
    assert lead_rows([lead.pk], with_follow_up=True)[0].next_follow_up is None


@pytest.mark.django_db
def test_encrypting_a_column_in_a_migration_round_trips_and_is_idempotent():
    """``compliance.column_encryption`` on a scratch table shaped like a migrated one (jsonb cast to text)."""
    editor = SimpleNamespace(connection=connection)
    rows = [
        (1, {"note": NOTE, "next_follow_up": "2027-01-05"}, "Kein Interesse"),
        (2, {}, ""),
        (3, {"note": "ohne Datum", "next_follow_up": "bald"}, None),
        (4, [], "x"),
    ]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE scratch (id bigint PRIMARY KEY, detail jsonb, reason varchar(50), due date)")
        for pk, detail, reason in rows:
            cursor.execute("INSERT INTO scratch VALUES (%s, %s::jsonb, %s, NULL)", [pk, json.dumps(detail), reason])
        cursor.execute("ALTER TABLE scratch ALTER COLUMN detail TYPE text USING detail::text")
        cursor.execute("ALTER TABLE scratch ALTER COLUMN reason TYPE text")
    columns = [Column("detail", json=True), Column("reason")]
    derived = [Derived("due", "date", lambda plain: _planned(plain["detail"]))]
    seal = encrypt_columns("scratch", columns, derived=derived, batch_size=2)

    def table() -> dict:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, detail, reason, due FROM scratch ORDER BY id")
            return {row[0]: row[1:] for row in cursor.fetchall()}

    seal(None, editor)
    sealed = table()
    assert sealed[1][0].startswith("v1:") and sealed[1][1].startswith("v1:") and not _found(str(sealed))
    assert sealed[1][2] == dt.date(2027, 1, 5) and sealed[3][2] is None
    assert sealed[2] == ("", "", None) and sealed[4][0] == "" and sealed[3][1] is None
    assert json.loads(crypto.decrypt(sealed[1][0])) == rows[0][1]
    seal(None, editor)  # a re-run (after a crash, say) leaves sealed values alone
    assert table() == sealed
    decrypt_columns("scratch", [Column("detail", json=True), Column("reason")], batch_size=3)(None, editor)
    opened = table()
    assert json.loads(opened[1][0]) == rows[0][1] and opened[1][1] == "Kein Interesse"
    assert opened[2][:2] == ("{}", "") and opened[3][1] is None
    with connection.cursor() as cursor:  # the reverse migration's cast back to jsonb succeeds
        cursor.execute("ALTER TABLE scratch ALTER COLUMN detail TYPE jsonb USING detail::jsonb")


def _planned(detail) -> dt.date | None:
    try:
        return dt.date.fromisoformat(detail.get("next_follow_up")) if isinstance(detail, dict) else None
    except (TypeError, ValueError):
        return None


def test_key_rotation_covers_encrypted_json_columns():
    targets = {target.label: set(target.columns) for target in rotation_targets()}
    assert {"attributes", "lost_reason"} <= targets["leads.Lead"]
    assert {"detail"} <= targets["leads.LeadActivity"] and {"title", "lost_reason"} <= targets["deals.PartnerDeal"]


def test_log_lines_mask_emails_and_phone_numbers_but_keep_ids_and_dates():
    try:
        raise ValueError(f"Wert {EMAIL} / {PHONE} ist ungültig")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Kontakt %s", ("0171/9876543",), sys.exc_info())
    record.lead_id = "0c4e2d1a-1234-5678-9abc-def012345678"
    record.note = f"an {EMAIL.lower()}"
    line = JsonFormatter().format(record)
    assert not _found(line) and "<email>" in line and "<phone>" in line
    data = json.loads(line)
    assert data["lead_id"] == "0c4e2d1a-1234-5678-9abc-def012345678" and data["note"] == "an <email>"
    for kept in ("2026-12-03 15:26:00", "SOT-LEAD-ABCD2345", "page 153125381133", "took 0.0123456 s"):
        assert scrub_pii(kept) == kept


def test_a_request_id_that_could_be_a_name_or_a_number_is_replaced(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="0c4e2d1a-9abc")["X-Request-ID"] == "0c4e2d1a-9abc"
    for personal in ("quirinus.zwetschgenbaum", "01719876543"):
        assert client.get("/healthz", HTTP_X_REQUEST_ID=personal)["X-Request-ID"] != personal


def test_cache_keys_hold_no_ip_address_or_login_name(rf):
    request = rf.get("/api/schema/", REMOTE_ADDR="203.0.113.77")
    request.user = AnonymousUser()
    key = AnonIpRateThrottle().get_cache_key(request, None)
    assert "203.0.113.77" not in key and key.startswith("throttle_anon_")


def test_attribution_urls_lose_the_query_parameters_that_carry_contact_data():
    page = "https://www.immo-beispiel.de/expose?utm_source=newsletter&utm_campaign=herbst"
    assert url_without_personal_query(page) == page  # nothing personal: unchanged, character for character
    assert url_without_personal_query(f"{page}&email={EMAIL}&ref=42") == f"{page}&ref=42"
    assert url_without_personal_query(f"{page}&vorname={FIRST}&x=0171%209876543") == page
    lead = normalize_payload({"email": "a@b.de", "referrer": f"https://t.co/?u={EMAIL}"}, channel="website")
    assert lead.fields["referrer"] == "https://t.co/"
