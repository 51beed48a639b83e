"""Pipeline throughput: N synthetic leads through ``lead_ingest`` vs a plain ``bulk_create``.

    .venv/bin/python benchmarks/pipeline.py [--leads 5000] [--duplicates 0.2]

Runs against a scratch PostgreSQL database (``lp_bench_pipeline``, recreated each run) with
production settings (DEBUG off) and Celery eager, so enrichment (offline provider and analyser) and
scoring run inside the measured time. ``lead_ingest`` is measured twice: one stream, and
``--workers`` (default 2) processes sharing the leads, as the web and Celery workers of a 2-core
node call it; duplicates then also race across processes. Prints leads/s for each, the plain
``bulk_create`` of the same rows and the ratio, and checks that dedup still ends with the right
number of live leads. Target: ≥ 300 leads/s end-to-end on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory comes first on sys.path and benchmarks/email.py would shadow the stdlib's email.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import logging
import multiprocessing
import os
import random
import statistics
import subprocess
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "lp_bench_pipeline"
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


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
    os.environ.pop("REDIS_URL", None)  # local-memory cache: measure the pipeline, not a shared cache
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.disable(logging.INFO)  # eager task logs would dominate the measurement


FIRST = ["Anna", "Max", "Lena", "Paul", "Sophie", "Jonas", "Marie", "Felix", "Emma", "Lukas"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "von Hoff"]
TITLES = ["Geschäftsführer", "Head of HR", "Sachbearbeiterin", "CFO", "Projektleiter", ""]
DOMAINS = ["gmail.com", "web.de", "mueller-bau.de", "kanzlei-klein.de", "techsolutions.de", "gmx.at"]


def payloads(n: int, duplicate_share: float, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    originals = int(n * (1 - duplicate_share))
    rows = []
    for i in range(originals):
        rows.append(
            {
                "email": f"lead{i}@{rng.choice(DOMAINS)}",
                "phone": f"+49151{2000000 + i}",
                "full_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "job_title": rng.choice(TITLES),
                "postcode": f"{rng.randint(10000, 99999)}",
                "attributes": {"budget": rng.choice(["200.000 €", "", "500.000 €"]), "wann": "in 3 Monaten"},
                "_key": f"fb-{i}",
            }
        )
    for j in range(n - originals):
        src = rows[rng.randrange(originals)]
        rows.append({**src, "city": "München", "_key": f"fb-dup-{j}"})  # same person, new delivery
    rng.shuffle(rows)
    return rows


def run_ingest(rows: list[dict]) -> float:
    from leads.services import lead_ingest

    start = time.perf_counter()
    for row in rows:
        data = {k: v for k, v in row.items() if k != "_key"}
        lead_ingest(payload=data, channel="facebook", idempotency_key=row["_key"])
    return time.perf_counter() - start


def _ingest_share(rows: list[dict]) -> float:
    from django.db import connections

    try:
        return run_ingest(rows)
    finally:
        connections.close_all()


def run_ingest_parallel(rows: list[dict], workers: int) -> float:
    """Wall time for ``workers`` forked processes, each ingesting every n-th lead."""
    from django.db import connections

    connections.close_all()  # a forked child must not share the parent's connection
    context = multiprocessing.get_context("fork")
    start = time.perf_counter()
    with context.Pool(workers) as pool:
        pool.map(_ingest_share, [rows[i::workers] for i in range(workers)])
    return time.perf_counter() - start


def run_bulk_create(rows: list[dict]) -> float:
    from accounts.models import Organization
    from leads.models import Lead

    platform = Organization.platform()
    start = time.perf_counter()
    objs = []
    for row in rows:
        first, _, last = row["full_name"].partition(" ")
        lead = Lead(
            tenant=platform,
            channel="facebook",
            email=row["email"],
            phone=row["phone"],
            first_name=first,
            last_name=last,
            job_title=row["job_title"],
            postcode=row["postcode"],
            attributes=row["attributes"],
        )
        lead.refresh_blind_indexes()
        objs.append(lead)
    Lead.objects.bulk_create(objs, batch_size=1000)
    return time.perf_counter() - start


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leads_lead, leads_leadidentity, leads_leadactivity, leads_leadenrichment, leads_leadintent,"
            " leads_leadverification, leads_leadscorehistory, leads_leadmerge, leads_company, compliance_auditevent"
            " CASCADE"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report the median")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel run")
    args = parser.parse_args()
    _prepare_database()
    _setup_django()
    from leads.models import Lead

    rows = payloads(args.leads, args.duplicates)
    expected = len({row["email"] for row in rows})
    single_times, parallel_times, bulk_times = [], [], []
    live = {}
    for _ in range(args.rounds):
        _reset()
        bulk_times.append(run_bulk_create(rows))
        _reset()
        single_times.append(run_ingest(rows))
        live["single"] = Lead.objects.filter(merged_into__isnull=True).count()
        _reset()
        parallel_times.append(run_ingest_parallel(rows, args.workers))
        live["parallel"] = Lead.objects.filter(merged_into__isnull=True).count()
    single, parallel = statistics.median(single_times), statistics.median(parallel_times)
    bulk = statistics.median(bulk_times)
    rate = args.leads / parallel
    print(f"leads pushed:           {args.leads} ({args.duplicates:.0%} duplicates), {expected} people")
    print(f"live leads after:       one stream {live['single']}, {args.workers} processes {live['parallel']}")
    print(f"lead_ingest, 1 stream:  {args.leads / single:8.0f} leads/s  ({single:.2f} s, enrichment + scoring)")
    print(f"lead_ingest, {args.workers} procs:   {rate:8.0f} leads/s  ({parallel:.2f} s, enrichment + scoring)")
    print(f"bulk_create baseline:   {args.leads / bulk:8.0f} rows/s   ({bulk:.2f} s, no dedup/scoring)")
    print(f"ratio ingest/bulk:      {bulk / parallel:8.1%} ({args.workers} processes), {bulk / single:.1%} (1 stream)")
    print(f"target >= 300 leads/s on 2 cores: {'met' if rate >= 300 else 'NOT met'}")
    if live["single"] != expected or live["parallel"] != expected:
        sys.exit(f"dedup broke: expected {expected} live leads, got {live}")


if __name__ == "__main__":
    main()
