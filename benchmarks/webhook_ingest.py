"""Benchmark: signed ``/webhooks/facebook/`` POSTs against a bare HMAC-and-insert Django view.

    .venv/bin/python benchmarks/webhook_ingest.py [--seconds 12] [--concurrency 8] [--rate 100]

Starts gunicorn (2 sync workers) on 127.0.0.1 with production settings (DEBUG off) on a scratch
PostgreSQL database (dropped afterwards) and Redis (its own key prefix; the queued processing tasks
are removed afterwards), then, in the same run:

1. drives the bare view (verify ``X-Hub-Signature-256``, insert the raw body) and the real receiver
   (rate limit, allowlist, size/type/signature checks, parse, ledger insert with dedup, enqueue to
   Redis after commit) closed-loop, in alternating slices so outside load hits both alike;
2. drives the receiver (and the bare view) open-loop at ``--rate`` req/s (default 100) for the
   latency target.

Every measurement is bounded by ``--seconds`` (≤ 20). Each request carries a new ``leadgen_id`` so
every delivery is stored, not answered as a duplicate. Prints req/s, p50/p99 and the ratio
(targets: ≥ 80 % of the bare view; p99 < 100 ms at 100 req/s). The rate limit is raised for the run
(everything comes from one IP) but still evaluated on every request. Not collected by pytest.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory comes first on sys.path and benchmarks/email.py would shadow the stdlib's email.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field

ROOT = Path(__file__).resolve().parent.parent
APP_SECRET = "bench_app_secret"  # noqa: S105 (throwaway, this run only)
BARE_TABLE = "bench_raw_webhook"
BARE_PATH = "/bench/bare-webhook/"
WEBHOOK_PATH = "/webhooks/facebook/"
PAGE_ID = "138124712925158"
CACHE_PREFIX = "bench-webhooks"


# --- Server side: imported by gunicorn as ``benchmarks.webhook_ingest:wsgi_app()`` -------------


def bare_webhook(request):
    """The baseline: check the Meta signature over the raw body and insert the body; nothing else."""
    from django.db import connection
    from django.http import HttpResponse, JsonResponse

    body = request.body
    header = request.headers.get("X-Hub-Signature-256", "")
    expected = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(header, expected):
        return HttpResponse(status=401)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BARE_TABLE} (body) VALUES (%s)", [body.decode()])  # noqa: S608
    return JsonResponse({"status": "ok"})


def _urlpatterns():
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from config.urls import urlpatterns

    return [path(BARE_PATH.strip("/") + "/", csrf_exempt(bare_webhook)), *urlpatterns]


def __getattr__(name: str):
    # This module doubles as the benchmark's URLconf (the product's URLs plus the bare view).
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def wsgi_app():
    """Gunicorn entry point: the product's WSGI app with the bare view added to the URLconf."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.ROOT_URLCONF = "benchmarks.webhook_ingest"
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


# --- Load generator ------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


_ids = itertools.count(int(time.time() * 1000) * 1000)


def make_request(path: str) -> bytes:
    """A Lead Ads delivery as the Testing Tool sends it, with a fresh leadgen id and a real signature."""
    leadgen_id = str(next(_ids))
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": int(time.time()),
                    "changes": [
                        {
                            "value": {
                                "form_id": "172036835026334",
                                "leadgen_id": leadgen_id,
                                "created_time": int(time.time()),
                                "page_id": PAGE_ID,
                            },
                            "field": "leadgen",
                        }
                    ],
                }
            ],
        },
        separators=(",", ":"),
    ).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Hub-Signature-256: {signature}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def one(port: int, path: str, result: Result, started: float | None = None) -> None:
    payload = make_request(path)
    start = started if started is not None else time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        response = await reader.read()
        writer.close()
        status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0
    except OSError:
        status = -1
    result.latencies.append(time.perf_counter() - start)
    result.statuses[status] = result.statuses.get(status, 0) + 1


async def _drive(port: int, path: str, seconds: float, concurrency: int, result: Result) -> None:
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            await one(port, path, result)

    begin = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds += time.perf_counter() - begin


async def closed_loops(port: int, seconds: float, concurrency: int, rounds: int) -> tuple[Result, Result]:
    """Bare view and receiver, each with ``concurrency`` clients sending back to back.

    The two alternate in ``rounds`` slices so that load from elsewhere on the machine hits both
    alike; each gets ``seconds`` in total, after a one-second warm-up.
    """
    bare = Result(f"bare view, {concurrency} clients", 0.0)
    webhook = Result(f"/webhooks/facebook/, {concurrency} clients", 0.0)
    for path in (BARE_PATH, WEBHOOK_PATH):
        await _drive(port, path, 1.0, concurrency, Result("warm-up", 0.0))
    for _ in range(rounds):
        await _drive(port, BARE_PATH, seconds / rounds, concurrency, bare)
        await _drive(port, WEBHOOK_PATH, seconds / rounds, concurrency, webhook)
    return bare, webhook


async def open_loop(port: int, path: str, seconds: float, rate: float, name: str) -> Result:
    """Requests started on a fixed schedule; latency counts from the scheduled time (no coordinated omission)."""
    result = Result(name, seconds)
    begin = time.perf_counter()
    tasks = []
    for i in range(int(seconds * rate)):
        scheduled = begin + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(port, path, result, started=scheduled)))
    await asyncio.gather(*tasks)
    result.seconds = seconds
    return result


# --- Orchestration -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "META_", "WEBHOOK_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-" + "x" * 60,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "FIELD_ENCRYPTION_KEYS": "bench:" + "A" * 43 + "=",
            "BLIND_INDEX_KEY": "bench-blind-index-key",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": CACHE_PREFIX,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "META_APP_SECRET": APP_SECRET,
            "META_VERIFY_TOKEN": "bench",
            # One IP sends everything: raise the limit, but every request is still counted in Redis.
            "WEBHOOK_RATE_LIMIT": "100000000/m",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "ERROR"),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _psql(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


def _wait_ready(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready")


def _clean_redis(client) -> None:
    """Remove only what the run wrote (its cache keys and queued tasks); other users of the database stay."""
    for key in client.scan_iter(f"{CACHE_PREFIX}:*", count=1000):
        client.delete(key)
    client.delete("celery", "_kombu.binding.celery", "_kombu.binding_permanent.celery")


def _report(results: list[Result], bare: Result, webhook: Result, paced: Result, rate: float) -> None:
    print()
    print(f"{'measurement':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for r in results:
        print(f"{r.name:44} {r.rps:8.1f} {r.pct(50):8.2f} {r.pct(99):8.2f}  {dict(sorted(r.statuses.items()))}")
    ratio = webhook.rps / bare.rps if bare.rps else float("nan")
    print()
    print(f"ratio webhook/bare throughput: {ratio:.1%} (target >= 80%)")
    print(f"p99 at {rate:.0f} req/s: {paced.pct(99):.1f} ms (target < 100 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="per measurement (max 20)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=4, help="alternating slices of the closed-loop runs")
    parser.add_argument("--database", default="lp_bench_webhooks")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()
    seconds = min(args.seconds, 20.0)

    database_url = f"{args.pg}/{args.database}"
    env = _env(database_url, args.redis)
    print(f"preparing database {args.database} and Redis {args.redis} …", flush=True)
    _psql(f"{args.pg}/postgres", f'DROP DATABASE IF EXISTS "{args.database}"')
    _psql(f"{args.pg}/postgres", f'CREATE DATABASE "{args.database}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    _psql(database_url, f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, body text NOT NULL)")

    import redis

    _clean_redis(redis.Redis.from_url(args.redis))
    port = _free_port()
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(ROOT),
            "--log-level",
            "warning",
            "benchmarks.webhook_ingest:wsgi_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        _wait_ready(port)
        print(f"gunicorn (2 workers) on 127.0.0.1:{port}; {seconds:.0f} s per measurement", flush=True)
        rate = args.rate
        bare, webhook = asyncio.run(closed_loops(port, seconds, args.concurrency, args.rounds))
        paced = asyncio.run(open_loop(port, WEBHOOK_PATH, seconds, rate, f"/webhooks/facebook/ at {rate:.0f} req/s"))
        bare_paced = asyncio.run(open_loop(port, BARE_PATH, seconds, rate, f"bare view at {rate:.0f} req/s"))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)

    import psycopg

    with psycopg.connect(database_url) as conn:
        events = conn.execute("SELECT count(*) FROM webhooks_webhookevent").fetchone()[0]
        bare_rows = conn.execute(f"SELECT count(*) FROM {BARE_TABLE}").fetchone()[0]  # noqa: S608
    queued = redis.Redis.from_url(args.redis).llen("celery")
    _report([bare, webhook, paced, bare_paced], bare, webhook, paced, args.rate)
    print(f"stored: {events} webhook events ({queued} processing tasks queued in Redis), {bare_rows} bare rows")
    print(f"(median of the bare closed loop: {statistics.median(bare.latencies) * 1000:.2f} ms)")
    _clean_redis(redis.Redis.from_url(args.redis))
    _psql(f"{args.pg}/postgres", f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
