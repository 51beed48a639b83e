"""Import throughput: ``import_leads`` on a generated CSV vs a raw ``COPY`` of the same file.

    .venv/bin/python benchmarks/import.py [--rows 100000] [--workers N] [--batch-size 1000] [--no-rerun]
    .venv/bin/python benchmarks/import.py --rows 1000000

Generates a German-Excel style CSV (";" separated, UTF-8 with BOM) in a temp dir with 5 % duplicates
(half exact copies, half bringing a new phone number or city) and 0.1 % bad rows, then in the same
run times ``import_leads`` into a scratch PostgreSQL database (``lp_bench_import``, or ``BENCH_DB``;
recreated each run) against two plain baselines: a raw psycopg ``COPY`` of the file's bytes into a
scratch table of text columns (the server parses the CSV), and a COPY fed from Python (``csv.reader`` ->
``write_row``, no validation: the guide's "COPY from Python" figure). Celery runs
on a real broker (Redis database ``BENCH_REDIS``, flushed each run), as in production: the import
queues one scoring batch per import batch, and once it has finished a Celery worker (prefork, one
process per core) drains them; the drain is timed separately. Prints rows/s of each, the ratios
(target ≥ 10 %), CPU seconds of the parent, the workers and the PostgreSQL server, wall time and
peak memory (parent and the largest worker process; target for 1,000,000 rows: < 3 min and
< 500 MB), and re-runs the import to show that a second run creates nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory comes first on sys.path and benchmarks/email.py would shadow the stdlib's email.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import csv
import logging
import os
import random
import resource
import subprocess
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("BENCH_DB", "lp_bench_import")
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/13")

HEADERS = [
    "E-Mail",
    "Vorname",
    "Nachname",
    "Telefon",
    "Firma",
    "Position",
    "PLZ",
    "Ort",
    "Interesse",
    "Budget",
    "Zeitrahmen",
    "Einwilligung",
    "Anfragedatum",
]
FIRST = ["Anna", "Max", "Lena", "Paul", "Sophie", "Jonas", "Marie", "Felix", "Emma", "Lukas", "Jürgen", "Özlem"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "von Hoff", "Groß"]
TITLES = ["Geschäftsführer", "Head of HR", "Sachbearbeiterin", "CFO", "Projektleiter", "", "Inhaberin"]
COMPANIES = [("mueller-bau.de", "Müller Bau GmbH"), ("kanzlei-klein.de", "Kanzlei Klein"), ("", "")]
FREE = ["gmail.com", "web.de", "gmx.de", "t-online.de", "gmx.at"]
CITIES = ["Berlin", "München", "Hamburg", "Köln", "Wien", "Zürich", "Leipzig"]
INTEREST = ["Kauf", "Finanzierung", "Beratung", "Kapitalanlage", ""]
BUDGET = ["200.000 €", "", "500.000 €", "keine Angabe"]
TIMEFRAME = ["sofort", "in 3 Monaten", "nächstes Jahr", ""]


def person(i: int) -> list[str]:
    """Row of person ``i``, the same every time (duplicates regenerate it instead of remembering it)."""
    rng = random.Random(i * 7919 + 17)
    domain, company = rng.choice(COMPANIES)
    if not domain:
        domain, company = rng.choice(FREE), ""
    phone = f"0151 {20000000 + i}" if rng.random() < 0.7 else ""
    return [
        f"{rng.choice(FIRST).lower()}.{i}@{domain}",
        rng.choice(FIRST),
        rng.choice(LAST),
        phone,
        company,
        rng.choice(TITLES),
        f"{rng.randint(1000, 99999):05d}",
        rng.choice(CITIES),
        rng.choice(INTEREST),
        rng.choice(BUDGET),
        rng.choice(TIMEFRAME),
        rng.choice(["ja", "nein", ""]),
        f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2025 {rng.randint(8, 19):02d}:{rng.randint(0, 59):02d}",
    ]


def generate(path: Path, rows: int, duplicates: float, bad: float, seed: int = 7) -> dict[str, int]:
    """Stream the CSV to disk; returns how many distinct people, duplicates and bad rows it holds."""
    rng = random.Random(seed)
    people = dup = broken = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADERS)
        for _ in range(rows):
            roll = rng.random()
            if roll < bad:
                row = person(10_000_000 + broken)
                row[0], row[3] = f"kein-at-zeichen-{broken}", "12"  # no usable email or phone
                if broken % 2:
                    row[0], row[3], row[12] = f"ok{broken}@beispiel.de", "", "31.02.2025"  # impossible date
                broken += 1
            elif roll < bad + duplicates and people > 0:
                row = person(rng.randrange(people))
                if dup % 2:
                    row[0] = " " + row[0].upper()  # same person, sloppier export
                elif not row[3]:
                    row[3] = f"0170 {30000000 + dup}"  # a new phone number: merged, journaled
                else:
                    row[7] = "Dresden"  # differing answer: kept as an alternative, nothing to write
                dup += 1
            else:
                row = person(people)
                people += 1
            writer.writerow(row)
    return {"people": people, "duplicates": dup, "bad": broken}


def _psql(sql: str) -> None:
    subprocess.run(["psql", f"{SERVER}/postgres", "-qc", sql], check=True, capture_output=True)


def _prepare_database() -> None:
    _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    _psql(f"CREATE DATABASE {DB_NAME}")


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["REDIS_URL"] = REDIS
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ.setdefault("DJANGO_DEBUG", "false")  # production settings
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 60)
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "bench:" + "A" * 43 + "=")
    os.environ.setdefault("BLIND_INDEX_KEY", "bench-blind-index-key")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django
    import redis

    redis.Redis.from_url(REDIS).flushdb()

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.disable(logging.INFO)


def _timed_copy(table: str, copy_sql: str, feed) -> float:
    """Time ``feed(copy)`` into a fresh scratch table of text columns, dropped afterwards."""
    import psycopg

    columns = ", ".join(f"c{n} text" for n in range(len(HEADERS)))
    with psycopg.connect(f"{SERVER}/{DB_NAME}", autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} ({columns})")
        start = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            feed(copy)
        elapsed = time.perf_counter() - start
        conn.execute(f"DROP TABLE {table}")
    return elapsed


def raw_copy(path: Path) -> float:
    """COPY the file as it is into a scratch table of text columns: the database's best case."""

    def feed(copy) -> None:
        with path.open("rb") as handle:
            handle.read(3)  # the BOM
            while data := handle.read(1 << 20):
                copy.write(data)

    sql = "COPY bench_raw_copy FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';', ENCODING 'UTF8')"
    return _timed_copy("bench_raw_copy", sql, feed)


def python_copy(path: Path) -> float:
    """COPY the file's rows as Python reads them (``csv.reader`` -> ``write_row``), no validation.

    The plain baseline a Python import can be held against (the guide's "psycopg COPY ≈ 50k rows/s
    from Python"): the same parse and wire work, none of the normalization, encryption or dedup.
    """

    def feed(copy) -> None:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = csv.reader(handle, delimiter=";")
            next(rows)
            for row in rows:
                copy.write_row(row)

    return _timed_copy("bench_python_copy", "COPY bench_python_copy FROM STDIN", feed)


def _postgres_cpu() -> float | None:
    """CPU seconds of the local PostgreSQL server so far (its reaped backends included), if readable."""
    try:
        pid = int(subprocess.run(["pgrep", "-o", "-x", "postgres"], capture_output=True, text=True).stdout.split()[0])
        pids = [
            pid,
            *map(int, subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()),
        ]
        ticks = 0
        for n, one in enumerate(pids):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime (+ cutime, cstime of the postmaster: the backends that have exited)
            ticks += sum(int(v) for v in fields[11:13]) + (sum(int(v) for v in fields[13:15]) if n == 0 else 0)
    except (IndexError, ValueError, OSError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def run_import(path: Path, args: argparse.Namespace, label: str) -> float:
    from django.core.management import call_command

    options = ["--errors", str(path.with_suffix(".errors.csv")), "--batch-size", str(args.batch_size)]
    if args.workers:
        options += ["--workers", str(args.workers)]
    print(f"--- import_leads ({label})")
    start = time.perf_counter()
    call_command("import_leads", str(path), *options)
    return time.perf_counter() - start


def drain_scoring() -> tuple[float, int]:
    """Start a Celery worker, wait until no imported lead waits for scoring; seconds and tasks left."""
    import redis

    from leads.models import Lead

    queue = redis.Redis.from_url(REDIS)
    queued = queue.llen("celery")
    command = [sys.executable, "-m", "celery", "-A", "config", "--quiet", "worker", "-c", str(os.cpu_count() or 1)]
    worker = subprocess.Popen(
        [*command, "-l", "warning", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    start = time.perf_counter()
    try:
        while Lead.objects.filter(score_pending=True).exists() or queue.llen("celery"):
            if worker.poll() is not None:
                raise SystemExit("the Celery worker exited while draining")
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return elapsed, queued


def _children() -> resource.struct_rusage:
    return resource.getrusage(resource.RUSAGE_CHILDREN)


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _mb(kilobytes: int) -> float:
    return kilobytes / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--bad", type=float, default=0.001)
    parser.add_argument("--workers", type=int, default=None, help="default: import_leads decides (one per core)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--no-rerun", action="store_true", help="skip the second (idempotent) run")
    parser.add_argument("--no-drain", action="store_true", help="leave the queued scoring batches in Redis")
    args = parser.parse_args()

    _prepare_database()
    _setup_django()
    from leads.models import Lead, LeadEnrichment, LeadIdentity, LeadMerge

    with tempfile.TemporaryDirectory(prefix="lp-import-") as tmp:
        path = Path(tmp) / "leads.csv"
        started = time.perf_counter()
        made = generate(path, args.rows, args.duplicates, args.bad)
        size = path.stat().st_size / 1e6
        print(f"generated {args.rows} rows ({size:.0f} MB) in {time.perf_counter() - started:.1f} s: {made}")

        copy_seconds, python_copy_seconds = raw_copy(path), python_copy(path)
        before_self, before_children = resource.getrusage(resource.RUSAGE_SELF), _children()
        before_pg = _postgres_cpu()
        import_seconds = run_import(path, args, "first run")
        usage_self, usage_children = resource.getrusage(resource.RUSAGE_SELF), _children()
        after_pg = _postgres_cpu()
        self_peak, child_peak = usage_self.ru_maxrss, usage_children.ru_maxrss
        parent_cpu = _cpu(usage_self) - _cpu(before_self)
        worker_cpu = _cpu(usage_children) - _cpu(before_children)
        live = Lead.objects.filter(merged_into__isnull=True).count()
        identities, merges = LeadIdentity.objects.count(), LeadMerge.objects.count()
        drain_seconds, tasks = (0.0, 0) if args.no_drain else drain_scoring()
        scored = Lead.objects.filter(merged_into__isnull=True, score_pending=False).count()
        enriched = LeadEnrichment.objects.values("lead").distinct().count()
        rerun_seconds = None if args.no_rerun else run_import(path, args, "second run: nothing new")
        after = Lead.objects.count()

    copy_rate, import_rate = args.rows / copy_seconds, args.rows / import_seconds
    print("=== results")
    print(
        f"rows in file:          {args.rows} ({made['people']} people, {made['duplicates']} duplicates, "
        f"{made['bad']} bad rows)"
    )
    print(
        f"leads stored:          {live} live leads, {identities} identities, {merges} merge journal entries"
        f" (expected {made['people']} leads)"
    )
    python_copy_rate = args.rows / python_copy_seconds
    print(f"raw COPY (file bytes): {copy_rate:10,.0f} rows/s  ({copy_seconds:.2f} s, the server parses the CSV)")
    print(
        f"COPY from Python:      {python_copy_rate:10,.0f} rows/s  "
        f"({python_copy_seconds:.2f} s, csv.reader -> write_row)"
    )
    print(f"import_leads:          {import_rate:10,.0f} rows/s  ({import_seconds:.1f} s wall)")
    print(
        f"ratio import/COPY:     {import_rate / copy_rate:10.1%}  of the file-bytes COPY, "
        f"{import_rate / python_copy_rate:.1%} of the Python COPY (target >= 10 %)"
    )
    if not args.no_drain:
        print(
            f"queued scoring:        {tasks} batches drained in {drain_seconds:.1f} s by a {os.cpu_count()}-process "
            f"worker ({live / drain_seconds:,.0f} leads/s); {scored} of {live} live leads scored, {enriched} enriched"
        )
        print(f"import + scoring:      {import_seconds + drain_seconds:.1f} s until every lead is scored")
    print(
        f"CPU of the import:     parent {parent_cpu:.1f} s, workers {worker_cpu:.1f} s "
        f"({(parent_cpu + worker_cpu) / args.rows * 1e6:.0f} µs/row)"
        + (
            f", PostgreSQL {after_pg - before_pg:.1f} s ({(after_pg - before_pg) / args.rows * 1e6:.0f} µs/row)"
            if before_pg is not None and after_pg is not None
            else ", PostgreSQL not readable here"
        )
    )
    if rerun_seconds is not None:
        print(
            f"second run:            {args.rows / rerun_seconds:10,.0f} rows/s  ({rerun_seconds:.1f} s), "
            f"leads after: {after} ({'nothing new' if after == live else 'CREATED LEADS'})"
        )
    print(
        f"peak memory:           parent {_mb(self_peak):.0f} MB, largest worker {_mb(child_peak):.0f} MB, "
        f"bound {_mb(self_peak) + _mb(child_peak) * max(1, os.cpu_count() or 1):.0f} MB for all processes"
    )
    if args.rows >= 1_000_000:
        verdict = "met" if import_seconds < 180 else "NOT met"
        print(f"1M target (< 3 min):   {verdict} ({import_seconds / 60:.1f} min)")


if __name__ == "__main__":
    main()
