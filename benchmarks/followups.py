"""Smart follow-ups at scale: API-560 and the "Heute" page for one partner with 10,000 leads and 2,000 reminders.

    .venv/bin/python benchmarks/followups.py [--leads 10000] [--reminders 2000] [--tasks 300] [--runs 30] [--reuse]

Loads a scratch PostgreSQL database (``lp_bench_followups``, or ``BENCH_DB``; never the test database) with
``bulk_create``: ``--leads`` leads of one partner over the last year (all statuses, PII encrypted and
blind-indexed as the product stores it), a logged contact for half of them and a reply for a tenth,
``--reminders`` open reminders spread from two days ago to a month ahead (about a tenth due today),
``--tasks`` open follow-up tasks. ``--reuse`` keeps an already loaded database.

In one run it times, through the Django test client as the logged-in partner (session, middleware,
DRF or templates: the whole stack, no network):

1. API-560 ``/api/followups/smart-suggestions/`` (20 suggestions: candidates, should_followup,
   optimal time, channel, rendered message);
2. the "Heute" page ``/portal/leads/heute/`` (reminders and tasks due today plus the suggestions);
3. the baseline: a plain ORM read of the same rows (today's reminders and tasks with their leads, the 20
   highest-scored open leads), no rules, no rendering.

Prints p50/p95, the query count per request, and each request's p95 as a multiple of the baseline's.
Target (the seed's requirement): API-560 and "Heute" p95 < 100 ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and benchmarks/email.py would shadow the stdlib's.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import logging
import os
import random
import statistics
import subprocess
import time
from datetime import timedelta

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("BENCH_DB", "lp_bench_followups")
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PARTNER_EMAIL = "bench-heute@example.org"
TARGET_MS = 100


def _psql(sql: str, db: str = "postgres") -> str:
    result = subprocess.run(["psql", f"{SERVER}/{db}", "-tAqc", sql], check=True, capture_output=True, text=True)
    return result.stdout.strip()


def _setup_django(fresh: bool) -> None:
    if fresh:
        _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        _psql(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,localhost"
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.disable(logging.WARNING)


def load(*, leads_n: int, reminders_n: int, tasks_n: int, seed: int = 11) -> None:
    """Bulk-load one partner's book with reminders and tasks (a few seconds for 10,000 leads)."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.services import partner_create
    from followups.models import FollowupTask, Reminder
    from leads.models import Lead, LeadActivity

    rng = random.Random(seed)
    started = time.perf_counter()
    partner = partner_create(email=PARTNER_EMAIL, password=None, name="Bench Heute", actor=None)
    org, now = partner.organization, timezone.now()
    statuses = ["new"] * 30 + ["contacted"] * 35 + ["qualified"] * 15 + ["converted"] * 10 + ["lost"] * 10
    first = ["Anna", "Max", "Lena", "Paul", "Sophie", "Jonas", "Marie", "Felix"]
    last = ["Müller", "Schmidt", "Weber", "Becker", "Wagner", "Hoffmann"]
    leads = []
    for i in range(leads_n):
        score = rng.randint(0, 100)
        lead = Lead(
            tenant=org,
            assigned_partner=partner,
            channel=rng.choice(["facebook", "instagram", "website", "manual", "linkedin"]),
            source="manual",
            email=f"kunde{i}@beispiel{i % 97}.de",
            phone=f"+4915{i:09d}",
            first_name=rng.choice(first),
            last_name=rng.choice(last),
            status=rng.choice(statuses),
            score=score,
            p_score=score,
            i_score=score,
            e_score=score,
            stage=Lead.Stage.for_score(score),
            last_activity_at=now - timedelta(days=rng.randint(0, 60)),
        )
        lead.refresh_blind_indexes()
        leads.append(lead)
    with transaction.atomic():
        Lead.objects.bulk_create(leads, batch_size=2000)
        activities = [
            LeadActivity(
                lead=lead,
                activity_type="contact_logged",
                channel="whatsapp",
                detail={"channel": "whatsapp", "outcome": "reached"},
                actor=partner,
                occurred_at=now - timedelta(hours=rng.randint(30, 24 * 40)),
            )
            for lead in leads[: leads_n // 2]
        ]
        activities += [
            LeadActivity(
                lead=lead,
                activity_type="message_received",
                channel="whatsapp",
                detail={"channel": "whatsapp"},
                occurred_at=now - timedelta(hours=rng.randint(30, 24 * 40)),
            )
            for lead in leads[: leads_n // 10]
        ]
        LeadActivity.objects.bulk_create(activities, batch_size=5000)
        open_leads = [lead for lead in leads if lead.status not in ("lost", "converted")]
        reminders = []
        for i in range(reminders_n):
            lead = open_leads[i % len(open_leads)]
            when = now + timedelta(hours=rng.uniform(-48, 24 * 30)) if i % 10 else now - timedelta(minutes=i % 600)
            reminders.append(
                Reminder(
                    lead=lead,
                    tenant=org,
                    user=partner,
                    action_type=rng.choice(["call", "whatsapp", "email", "message", "meeting"]),
                    priority=rng.choice(["urgent", "high", "normal", "low", "scheduled"]),
                    scheduled_for=when,
                    first_scheduled_for=when,
                    note="Rückruf",
                )
            )
        Reminder.objects.bulk_create(reminders, batch_size=2000)
        FollowupTask.objects.bulk_create(
            [
                FollowupTask(
                    lead=open_leads[-(i + 1)],
                    tenant=org,
                    assignee=partner,
                    channel=rng.choice(["whatsapp", "call", "auto"]),
                    message="Hallo, kurze Rückfrage zu Ihrem Interesse.",
                    due_at=now + timedelta(hours=rng.uniform(-24, 24 * 14)),
                )
                for i in range(tasks_n)
            ],
            batch_size=2000,
        )
    for table in ("leads_lead", "leads_leadactivity", "followups_reminder", "followups_followuptask"):
        _psql(f"VACUUM ANALYZE {table}", DB_NAME)
    print(
        f"loaded {leads_n:,} leads, {len(activities):,} activities, {reminders_n:,} open reminders, "
        f"{tasks_n:,} open tasks in {time.perf_counter() - started:.1f} s"
    )


def _timed(call, runs: int) -> tuple[float, float]:
    for _ in range(3):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)]


def measure(runs: int) -> int:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    from accounts.models import User
    from followups.models import FollowupTask, Reminder
    from leads.models import Lead

    setup_test_environment()
    partner = User.objects.get(email=PARTNER_EMAIL)
    client = Client()
    client.force_login(partner)

    def baseline() -> None:
        """The same rows read plainly: today's reminders and tasks with their leads, the 20 best open leads."""
        end = timezone.localtime().replace(hour=23, minute=59, second=59)
        rows = list(
            Reminder.objects.filter(user=partner, status="open", scheduled_for__lte=end)
            .select_related("lead")
            .order_by("scheduled_for")[:100]
        )
        rows += list(
            FollowupTask.objects.filter(assignee=partner, status="open", due_at__lte=end)
            .select_related("lead")
            .order_by("due_at")[:100]
        )
        rows += list(
            Lead.objects.filter(assigned_partner=partner, status__in=("new", "contacted", "qualified")).order_by(
                "-score"
            )[:20]
        )
        for row in rows:
            getattr(row, "lead", row).first_name  # noqa: B018 - decrypt as the page does

    requests = [
        ("API-560 smart suggestions", "/api/followups/smart-suggestions/"),
        ("Heute page", "/portal/leads/heute/"),
    ]
    base_p50, base_p95 = _timed(baseline, runs)
    with CaptureQueriesContext(connection) as ctx:
        baseline()
    base_queries = len(ctx.captured_queries)
    failures = 0
    print(f"{'request':<28} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'× baseline':>11}")
    for label, url in requests:
        assert client.get(url).status_code == 200, url
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        p50, p95 = _timed(lambda url=url: client.get(url), runs)
        flag = ""
        if p95 >= TARGET_MS:
            flag, failures = f"  over the {TARGET_MS} ms target", failures + 1
        print(f"{label:<28} {p50:8.1f} {p95:8.1f} {len(ctx.captured_queries):8d} {p95 / base_p95:10.1f}×{flag}")
    print(f"{'baseline (plain ORM reads)':<28} {base_p50:8.1f} {base_p95:8.1f} {base_queries:8d} {1:10.1f}×")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--reminders", type=int, default=2_000)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    args = parser.parse_args()
    reuse = args.reuse and _psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'") == "1"  # noqa: S608 - our constant
    _setup_django(fresh=not reuse)
    if not reuse:
        load(leads_n=args.leads, reminders_n=args.reminders, tasks_n=args.tasks)
    failures = measure(args.runs)
    print("all targets met" if not failures else f"{failures} request(s) over the target")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
