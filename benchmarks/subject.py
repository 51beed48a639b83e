"""Data-subject requests: export (Art. 15) and erasure (Art. 17) of one busy person vs plain SQL.

    .venv/bin/python benchmarks/subject.py [--rounds 5] [--activities 2000] [--messages 50]

Runs against a scratch PostgreSQL database (``lp_bench_subject``, recreated each run) with
production settings (DEBUG off). Each round builds a fresh person: 5 leads in 2 tenants sharing one
email address, ``--activities`` activities (with free-text details), 100 email activities (sent,
opened, clicked: the sequence engine's own send rows arrive with its issue), and an Instagram thread
of ``--messages`` messages, each with its webhook delivery and ledger item. Then it measures
``subject_export`` (found by email) and ``subject_erase`` (the same query), and as the baseline, in
the same run, a plain ``SELECT *`` of the same rows and a plain ``UPDATE`` blanking the same columns.
Prints the median of each and the ratio. Target: < 2 s each on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory comes first on sys.path and benchmarks/email.py would shadow the stdlib's email.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import logging
import os
import statistics
import subprocess
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "lp_bench_subject"
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
EMAIL_ACTIVITIES = 100


def _prepare_database() -> None:
    for sql in (f"DROP DATABASE IF EXISTS {DB_NAME}", f"CREATE DATABASE {DB_NAME}"):
        subprocess.run(["psql", f"{SERVER}/postgres", "-qc", sql], check=True, capture_output=True)


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 60)
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "bench:" + "A" * 43 + "=")
    os.environ.setdefault("BLIND_INDEX_KEY", "bench-blind-index-key")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.disable(logging.INFO)


def build_person(round_no: int, activities: int, messages: int) -> dict:
    """One person with data in every app that registers some; returns the ids the baseline needs."""
    from django.utils import timezone

    from accounts.models import Organization
    from leads.models import Lead, LeadActivity
    from webhooks.models import Conversation, Message, Provider, WebhookDelivery, WebhookEvent

    email = f"bench.person{round_no}@beispiel.de"
    platform = Organization.platform()
    partner, _ = Organization.objects.get_or_create(slug="bench-partner", defaults={"name": "Bench Partner"})
    leads = []
    for i in range(5):
        lead = Lead(
            tenant=platform if i < 3 else partner,
            channel=Lead.Channel.INSTAGRAM if i == 0 else Lead.Channel.WEBSITE,
            email=email,
            phone=f"+49151{3000000 + round_no}",
            first_name="Bench",
            last_name=f"Person{round_no}",
            job_title="Geschäftsführer",
            attributes={"nachricht": "Bitte rufen Sie mich abends an", "budget": "300.000 €"},
        )
        lead.refresh_blind_indexes()
        lead.save()
        leads.append(lead)
    now = timezone.now()
    rows = [
        LeadActivity(
            lead=leads[i % 5],
            activity_type="note",
            channel="website",
            detail={"text": f"Notiz {i}: Rückruf vereinbart, sehr interessiert"},
            occurred_at=now,
        )
        for i in range(activities)
    ]
    rows += [
        LeadActivity(
            lead=leads[i % 5],
            activity_type=("email_sent", "email_opened", "email_clicked")[i % 3],
            channel="email",
            detail={"subject": "Ihre Kapitalanlage", "message_id": f"<bench-{round_no}-{i}@mail>"},
            occurred_at=now,
        )
        for i in range(EMAIL_ACTIVITIES)
    ]
    LeadActivity.objects.bulk_create(rows, batch_size=1000)
    conversation = Conversation.objects.create(
        account_id="1784", igsid=f"igsid-{round_no}", lead=leads[0], last_inbound_at=leads[0].created_at
    )
    for i in range(messages):
        mid = f"mid-{round_no}-{i}"
        Message.objects.create(conversation=conversation, direction="in", mid=mid, text=f"Hallo, Nachricht {i}")
        delivery = WebhookDelivery.objects.create(
            provider=Provider.INSTAGRAM, raw_body=f'{{"text": "Hallo, Nachricht {i}"}}', signature_valid=True
        )
        WebhookEvent.objects.create(
            provider=Provider.INSTAGRAM,
            event_type="message",
            dedup_key=f"message:{mid}",
            delivery=delivery,
            payload=f'{{"mid": "{mid}", "text": "Hallo, Nachricht {i}"}}',
            status="processed",
            lead=leads[0],
        )
    return {"email": email, "lead_ids": [str(lead.pk) for lead in leads], "conversation": conversation.pk}


def baseline_select(ids: dict) -> float:
    """Plain SQL: read the same rows (no decryption, no JSON document)."""
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        for sql, params in _tables(ids):
            cursor.execute(f"SELECT * FROM {sql}", params)  # noqa: S608 (constant table names)
            cursor.fetchall()
    return time.perf_counter() - start


def baseline_update(ids: dict) -> float:
    """Plain SQL: blank the same columns of the same rows, in one transaction (rolled back)."""
    from django.db import connection, transaction

    updates = {
        "leads_lead": "email = '', phone = '', first_name = '', last_name = '', attributes = ''",
        "leads_leadactivity": "detail = ''",
        "webhooks_message": "text = ''",
        "webhooks_webhookevent": "payload = NULL",
        "webhooks_webhookdelivery": "raw_body = NULL",
    }
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in _tables(ids):
            table = sql.split()[0]
            where = sql.split(" WHERE ", 1)[1]
            cursor.execute(f"UPDATE {table} SET {updates[table]} WHERE {where}", params)  # noqa: S608 (constants)
        transaction.set_rollback(True)
    return time.perf_counter() - start


def _tables(ids: dict) -> list[tuple[str, list]]:
    lead_ids = ids["lead_ids"]
    keys = [f"message:mid-{key}" for key in _mid_suffixes(ids)]
    return [
        ("leads_lead WHERE id = ANY(%s::uuid[])", [lead_ids]),
        ("leads_leadactivity WHERE lead_id = ANY(%s::uuid[])", [lead_ids]),
        ("webhooks_message WHERE conversation_id = %s", [ids["conversation"]]),
        ("webhooks_webhookevent WHERE provider = 'instagram' AND dedup_key = ANY(%s)", [keys]),
        (
            "webhooks_webhookdelivery WHERE id IN (SELECT delivery_id FROM webhooks_webhookevent "
            "WHERE provider = 'instagram' AND dedup_key = ANY(%s))",
            [keys],
        ),
    ]


def _mid_suffixes(ids: dict) -> list[str]:
    from webhooks.models import Message

    return [
        mid.removeprefix("mid-")
        for mid in Message.objects.filter(conversation=ids["conversation"]).values_list("mid", flat=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--activities", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    _prepare_database()
    _setup_django()
    from compliance.registry import SubjectQuery
    from compliance.services.subjects import subject_erase, subject_export
    from leads.models import Lead

    timings: dict[str, list[float]] = {"export": [], "select": [], "erase": [], "update": []}
    for round_no in range(args.rounds):
        ids = build_person(round_no, args.activities, args.messages)
        timings["select"].append(baseline_select(ids))
        start = time.perf_counter()
        document = subject_export(SubjectQuery("email", ids["email"]), actor=None, reason="benchmark")
        timings["export"].append(time.perf_counter() - start)
        assert len(document["leads"]) == 5, len(document["leads"])
        assert len(document["activities"]) == args.activities + EMAIL_ACTIVITIES, len(document["activities"])
        timings["update"].append(baseline_update(ids))
        start = time.perf_counter()
        outcome = subject_erase(SubjectQuery("email", ids["email"]), actor=None, reason="benchmark")
        timings["erase"].append(time.perf_counter() - start)
        assert outcome.lead_count == 5 and not outcome.already_erased, outcome
        assert not Lead.objects.filter(pk__in=ids["lead_ids"]).exclude(email_hash="").exists()

    def median(key: str) -> float:
        return statistics.median(timings[key])

    rows = args.activities + EMAIL_ACTIVITIES
    print(
        f"person: 5 leads in 2 tenants, {rows} activities ({EMAIL_ACTIVITIES} email),"
        f" {args.messages} DMs + webhook items"
    )
    print(f"rounds: {args.rounds} (median)")
    print(
        f"export   {median('export') * 1000:8.1f} ms   plain SELECT of the same rows {median('select') * 1000:7.1f} ms"
        f"   ratio {median('export') / median('select'):5.1f}x"
    )
    print(
        f"erase    {median('erase') * 1000:8.1f} ms   plain UPDATE of the same rows {median('update') * 1000:7.1f} ms"
        f"   ratio {median('erase') / median('update'):5.1f}x"
    )
    print(
        f"target < 2000 ms each: export {'ok' if median('export') < 2 else 'MISSED'}, "
        f"erase {'ok' if median('erase') < 2 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
