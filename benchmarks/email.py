"""Sequence emails at scale: the tick sending 20,000 due steps through SMTP vs a bare smtplib loop.

    .venv/bin/python benchmarks/email.py [--leads 100000] [--due 20000] [--due-rows 1000000] [--batch 500]

``BENCH_EMAIL_SCALE`` (e.g. ``0.05``) scales every count down for a quick run. Runs against a scratch
PostgreSQL database (``lp_bench_email``, or ``BENCH_DB``; recreated each run) with an SMTP sink
(``aiosmtpd`` in a subprocess on 127.0.0.1: it accepts and drops every message), in one run:

1. loads ``--leads`` leads with a confirmed marketing consent (double opt-in) enrolled in a 13-step
   nurture sequence, with COPY (``core.bulk``), not through enrolment: one run and one due row each,
   ``--due`` of them due now, the rest next week;
2. the tick (``run_due_steps`` in batches of ``--batch``, wrapped in ``email_connection()`` as the
   beat task is) claims and sends the due steps: eligibility re-check, rendering with the lead's
   fields, tracking links, the recorded ``EmailMessage``, SMTP, the next step scheduled;
3. the baselines: a bare ``smtplib`` loop over one connection sending the same messages (rendered and
   serialized beforehand, not timed) to the same sink, and the same loop building each message's
   MIME bytes as it sends (what any sender pays); then the batch API
   (``email_steps_send``: one eligibility check, one insert, one update per batch) on the next
   ``--due`` steps, to a fresh sink;
4. adds due rows until there are ``--due-rows`` and times the due-row selection of one batch
   (``due_steps_claim``, rolled back) and prints its EXPLAIN: the partial index ``due_step_pending_due``.

Targets: the tick ≥ 200 emails/s and ≥ 50 % of the bare loop; selection < 50 ms per batch at 1M rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and its name would shadow the stdlib's email.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import datetime as dt
import logging
import os
import socket
import statistics
import subprocess
import time
import uuid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("BENCH_DB", "lp_bench_email")
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
SCALE = float(os.environ.get("BENCH_EMAIL_SCALE", "1"))
STEPS = 13
CHUNK = 20_000
SUBJECT = 'Ihre Rendite-Rechnung, {{ first_name|default:"Hallo" }}'
BODY = """<h1>Ihre Kapitalanlage in {{ city|default:"Ihrer Stadt" }}</h1>
<p>Hallo {{ first_name|default:"zusammen" }},</p>
<p>danke für Ihr Interesse. Mit unserem <a href="https://example.org/rechner?utm_source=nurture">Renditerechner</a>
sehen Sie in zwei Minuten, was eine vermietete Wohnung bringt. Lieber persönlich?
<a href="https://example.org/termin">Termin vereinbaren</a>.</p>
<ul><li>Mietrendite</li><li>Steuervorteile</li><li>Finanzierung</li></ul>"""


# --- The SMTP sink (``--sink PORT``, a subprocess) ------------------------------------------------


def sink(port: int) -> None:
    """Accept every message and drop it; print how many arrived when stopped."""
    import signal
    import threading

    from aiosmtpd.controller import Controller

    class Handler:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Handler.count += 1
            return "250 OK"

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop.wait()
    controller.stop()
    print(f"received {Handler.count}", flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink() -> tuple[subprocess.Popen, int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert process.stdout.readline().strip() == "ready"
    return process, port


def stop_sink(process: subprocess.Popen) -> int:
    process.terminate()
    out, _ = process.communicate(timeout=30)
    return int(out.strip().rsplit(" ", 1)[-1])


# --- Setup ----------------------------------------------------------------------------------------


def _psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{SERVER}/{db}", "-qc", sql], check=True, capture_output=True)


def setup_django(port: int) -> None:
    _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    _psql(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["DJANGO_SECRET_KEY"] = "bench-" + "x" * 50
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "bench:" + "A" * 43 + "=")
    os.environ.setdefault("BLIND_INDEX_KEY", "bench-blind-index-key")
    os.environ["DJANGO_ALLOWED_HOSTS"] = "localhost"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.pop("REDIS_URL", None)
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    os.environ["DEFAULT_FROM_EMAIL"] = "Lead-Plattform <info@mail.example.org>"
    os.environ["SITE_URL"] = "https://leads.example.org"
    os.environ["EMAIL_SEND_WINDOW"] = "Mon-Sun 00:00-24:00"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.disable(logging.WARNING)


def load(*, leads: int, due: int, now: dt.datetime) -> None:
    """Leads with confirmed consent, each in one run of the bench sequence with its first step due."""
    from accounts.models import Organization
    from compliance.blind_index import email_index
    from compliance.services.consent import consent_record_build
    from core.bulk import copy_insert
    from followups.models import DueStep, Sequence, SequenceRun, SequenceStep
    from leads.models import Lead

    platform = Organization.platform()
    sequence = Sequence.objects.create(code="bench-nurture", name="Bench nurture", organization=platform)
    steps = [
        SequenceStep.objects.create(
            sequence=sequence, number=n, delay_hours=24 * 7, subject=SUBJECT, body_html=BODY, body_text=""
        )
        for n in range(1, STEPS + 1)
    ]
    granted_at = now - dt.timedelta(days=3)
    later = now + dt.timedelta(days=7)
    for start in range(0, leads, CHUNK):
        numbers = range(start, min(start + CHUNK, leads))
        batch = []
        for i in numbers:
            address = f"bench{i}@example.org"
            batch.append(
                Lead(
                    id=uuid.uuid4(),
                    tenant=platform,
                    channel=Lead.Channel.WEBSITE,
                    email=address,
                    email_hash=email_index(address),
                    first_name="Erika" if i % 3 else "",
                    last_name="Muster",
                    city="München" if i % 2 else "",
                    consent_marketing=True,
                    consent_at=granted_at,
                )
            )
        copy_insert(batch)
        records = []
        for lead in batch:
            for action, offset in (("granted", 0), ("confirmed", 60)):
                records.append(
                    consent_record_build(
                        code="MARKETING_EMAIL",
                        action=action,
                        lead_id=lead.id,
                        tenant_id=platform.pk,
                        version="bench",
                        source="form",
                        recorded_at=granted_at + dt.timedelta(seconds=offset),
                    )
                )
        copy_insert(records)
        copy_insert(
            [
                SequenceRun(
                    sequence=sequence, lead_id=lead.id, tenant=platform, enrolled_at=granted_at, next_due_at=now
                )
                for lead in batch
            ]
        )
    run_ids = list(SequenceRun.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(run_ids), CHUNK):
        copy_insert(
            [
                DueStep(run_id=run_id, step=steps[0], due_at=now if start + k < due else later, created_at=granted_at)
                for k, run_id in enumerate(run_ids[start : start + CHUNK])
            ]
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- Measurements ---------------------------------------------------------------------------------


def _drain(now: dt.datetime, batch: int) -> None:
    """One worker: ticks until nothing is due (what Celery does when a full tick queues the next one)."""
    from django.db import connections

    from followups.services.email import email_connection
    from followups.services.engine import run_due_steps

    try:
        with email_connection():
            claimed = run_due_steps(now=now, batch=batch)
            while claimed:
                claimed = run_due_steps(now=now, batch=batch)
    finally:
        connections.close_all()


def tick_send(*, now: dt.datetime, batch: int, workers: int) -> tuple[int, float]:
    """Run ticks until nothing is due, in ``workers`` processes at once; returns (emails sent, seconds)."""
    import multiprocessing

    from django.db import connections

    from followups.models import EmailMessage

    connections.close_all()  # each worker opens its own connection
    start = time.perf_counter()
    if workers == 1:
        _drain(now, batch)
    else:
        context = multiprocessing.get_context("fork")
        processes = [context.Process(target=_drain, args=(now, batch)) for _ in range(workers)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
            assert process.exitcode == 0, process.exitcode
    elapsed = time.perf_counter() - start
    return EmailMessage.objects.filter(status=EmailMessage.Status.SENT).count(), elapsed


def batched_send(*, now: dt.datetime, batch: int, limit: int) -> tuple[int, float]:
    """The send path with the batch API: claim, ``email_steps_send`` for the whole batch, finish the rows.

    What the tick achieves once it hands its batch to ``email_steps_send`` and finishes rows in bulk
    (the per-row scheduling of the next step left out); returns (emails sent, seconds).
    """
    from core.leases import lease_owner
    from followups.models import DueStep, EmailMessage
    from followups.services.email import email_connection, email_steps_send
    from followups.services.engine import due_steps_claim

    before = EmailMessage.objects.filter(status=EmailMessage.Status.SENT).count()
    start = time.perf_counter()
    done = 0
    with email_connection():
        while done < limit:
            owner = lease_owner("")
            pks = due_steps_claim(owner=owner, now=now, limit=min(batch, limit - done))
            if not pks:
                break
            rows = list(DueStep.objects.filter(pk__in=pks).select_related("run__sequence", "run__lead", "step"))
            email_steps_send(dues=rows, owner=owner, now=now)
            DueStep.objects.filter(pk__in=pks, claimed_by=owner).update(
                status=DueStep.Status.DONE, executed_at=now, lease_expires_at=None
            )
            done += len(pks)
    elapsed = time.perf_counter() - start
    return EmailMessage.objects.filter(status=EmailMessage.Status.SENT).count() - before, elapsed


def baseline_messages(*, count: int) -> tuple[list[tuple[str, str, bytes]], list]:
    """The same messages as the tick sent (rendered for the same leads and step, same headers), as bytes."""
    from django.conf import settings
    from django.core.mail import EmailMultiAlternatives

    from followups.models import EmailMessage
    from followups.rendering import render_step_email
    from followups.services.email import ONE_CLICK_VALUE

    messages, mails = [], []
    rows = EmailMessage.objects.filter(status=EmailMessage.Status.SENT).select_related("step__sequence", "lead")
    for row in rows.order_by("id")[:count]:
        rendered = render_step_email(step=row.step, lead=row.lead, message=row)
        mail = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[row.lead.email],
            headers={
                "Message-ID": row.message_id,
                "List-Unsubscribe": f"<{rendered.unsubscribe_url}>",
                "List-Unsubscribe-Post": ONE_CLICK_VALUE,
            },
        )
        mail.attach_alternative(rendered.html, "text/html")
        messages.append(("info@mail.example.org", row.lead.email, mail.message().as_bytes(linesep="\r\n")))
        mails.append(mail)
    return messages, mails


def bare_loop_building(mails: list, port: int) -> float:
    """The same smtplib loop, building each message's MIME bytes as it sends (what any sender pays)."""
    import smtplib

    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for mail in mails:
            smtp.sendmail("info@mail.example.org", mail.to, mail.message().as_bytes(linesep="\r\n"))
    return time.perf_counter() - start


def bare_loop(messages: list[tuple[str, str, bytes]], port: int) -> float:
    """A plain smtplib loop over one connection; returns seconds."""
    import smtplib

    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for sender, recipient, data in messages:
            smtp.sendmail(sender, [recipient], data)
    return time.perf_counter() - start


def add_due_rows(*, total: int, now: dt.datetime) -> int:
    """Due rows for the later steps of every run until there are ``total``; ~5 % of them overdue."""
    from core.bulk import copy_insert
    from followups.models import DueStep, SequenceStep

    have = DueStep.objects.count()
    run_ids = list(DueStep.objects.filter(step__number=1).order_by("run_id").values_list("run_id", flat=True))
    steps = list(SequenceStep.objects.filter(number__gte=3).order_by("number"))
    rows: list[DueStep] = []
    for step in steps:
        for index, run_id in enumerate(run_ids):
            if have >= total:
                break
            overdue = index % 20 == 0
            due_at = now - dt.timedelta(minutes=index % 600) if overdue else now + dt.timedelta(hours=1 + index % 700)
            rows.append(DueStep(run_id=run_id, step=step, due_at=due_at, created_at=now))
            have += 1
            if len(rows) >= CHUNK * 5:
                copy_insert(rows)
                rows = []
    copy_insert(rows)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE followups_duestep")
    return DueStep.objects.count()


def selection(*, now: dt.datetime, batch: int, rounds: int = 15) -> tuple[list[float], list[float], str]:
    """Time the selection of one batch of due rows (the claim's ``SELECT … FOR UPDATE SKIP LOCKED``) and the
    whole claim (select + update), each rolled back; returns ms per round of each and the selection's plan."""
    from django.db import transaction
    from django.db.models import Q

    from core.leases import lease_owner
    from followups.models import DUE_STEP_LEASE, DueStep
    from followups.services.engine import due_steps_claim

    query = (
        DueStep.objects.filter(DUE_STEP_LEASE.claimable(now) & Q(status=DueStep.Status.PENDING, due_at__lte=now))
        .order_by("due_at")
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)
    )
    selects, claims = [], []
    for _ in range(rounds):
        with transaction.atomic():
            start = time.perf_counter()
            assert len(list(query[:batch])) == batch
            selects.append((time.perf_counter() - start) * 1000)
            transaction.set_rollback(True)
        with transaction.atomic():
            start = time.perf_counter()
            claimed = due_steps_claim(owner=lease_owner(""), now=now, limit=batch, duration=dt.timedelta(minutes=5))
            claims.append((time.perf_counter() - start) * 1000)
            assert len(claimed) == batch, len(claimed)
            transaction.set_rollback(True)
    with transaction.atomic():
        plan = query[:batch].explain(analyze=True, buffers=True)
        transaction.set_rollback(True)
    return selects, claims, plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=20_000)
    parser.add_argument("--due-rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1, help="tick processes at once (Celery concurrency)")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        sink(args.sink)
        return 0
    leads, due, due_rows = (max(10, int(n * SCALE)) for n in (args.leads, args.due, args.due_rows))
    process, port = start_sink()
    try:
        setup_django(port)
        from django.utils import timezone

        now = timezone.now()
        print(f"Loading {leads:,} enrolled leads ({due:,} steps due) into {DB_NAME} with COPY …", flush=True)
        started = time.perf_counter()
        load(leads=leads, due=due, now=now)
        print(f"  loaded in {time.perf_counter() - started:.1f} s", flush=True)

        sent, tick_seconds = tick_send(now=now, batch=args.batch, workers=args.workers)
        messages, mails = baseline_messages(count=sent)
        bare_seconds = bare_loop(messages, port)
        building_seconds = bare_loop_building(mails, port)
        received = stop_sink(process)
        tick_rate, bare_rate = sent / tick_seconds, len(messages) / bare_seconds
        label = f"tick ({args.workers} worker(s), batch {args.batch}):"
        print(f"\n{label:<34} {sent:8,} emails in {tick_seconds:6.1f} s = {tick_rate:7.0f}/s")
        print(f"{'bare smtplib loop:':<34} {len(messages):8,} emails in {bare_seconds:6.1f} s = {bare_rate:7.0f}/s")
        building_rate = len(messages) / building_seconds
        label = "bare loop, building each message:"
        print(f"{label:<34} {len(messages):8,} emails in {building_seconds:6.1f} s = {building_rate:7.0f}/s")
        print(f"{'ratio tick/bare:':<34} {tick_rate / bare_rate:8.1%}   (sink received {received:,})")
        print(f"{'ratio tick/bare, building:':<34} {tick_rate / building_rate:8.1%}")
        ok = sent == due and tick_rate >= 200 and tick_rate >= 0.5 * bare_rate
        # The batch API on the next steps (due a week later): another ``due`` emails, same sink.
        process, port = start_sink()
        from django.conf import settings

        settings.EMAIL_PORT = port
        batched, batched_seconds = batched_send(now=now + dt.timedelta(days=8), batch=args.batch, limit=due)
        stop_sink(process)
        label = f"batch API (email_steps_send, {args.batch}):"
        print(f"{label:<34} {batched:8,} emails in {batched_seconds:6.1f} s = {batched / batched_seconds:7.0f}/s")
        print(f"{'ratio batch API/bare:':<34} {batched / batched_seconds / bare_rate:8.1%}")
        print(f"{'ratio batch API/bare, building:':<34} {batched / batched_seconds / building_rate:8.1%}")

        total = add_due_rows(total=due_rows, now=now)
        selects, claims, plan = selection(now=now, batch=args.batch)
        p50 = statistics.median(selects)
        print(f"\n{total:,} due rows; one batch of {args.batch}:")
        print(f"  selection (SELECT … FOR UPDATE SKIP LOCKED): p50 {p50:6.1f} ms, max {max(selects):6.1f} ms")
        p50_claim = statistics.median(claims)
        print(f"  whole claim (select + UPDATE to claimed):    p50 {p50_claim:6.1f} ms, max {max(claims):6.1f} ms")
        print("EXPLAIN (ANALYZE, BUFFERS) of the selection:\n" + plan)
        ok = ok and p50 < 50 and "due_step_pending_due" in plan
        print("\nTargets met." if ok else "\nA target was missed.")
        return 0 if ok else 1
    finally:
        if process.poll() is None:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
