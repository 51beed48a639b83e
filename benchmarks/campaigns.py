"""Campaigns at scale: the insights sync of 500 campaigns and the stats selectors over 100,000 linked leads.

    .venv/bin/python benchmarks/campaigns.py [--campaigns 500] [--days 30] [--leads 100000] [--runs 30] [--reuse]

Runs against a scratch PostgreSQL database (``lp_bench_campaigns``, recreated each run) with a
local Graph stub: a threaded ``http.server`` on 127.0.0.1 answering ``/{campaign}/insights`` with
one row per day of the requested ``time_range`` (string numbers and an ``actions`` list, as Meta).

1. **Insights sync**: ``campaigns_insights_sync`` over ``--campaigns`` active campaigns of
   ``--days`` days each (first run: every day; second run: the restated last 3 days). Reports the
   time, the requests per campaign (target: at most one per campaign and range) and the upsert
   statements (one per campaign). Baseline in the same run: the same requests with a bare
   ``requests.Session`` and the same rows written with one plain ``executemany`` INSERT per campaign.
   Target: < 60 s.
2. **Selectors**: ``--leads`` leads linked to those campaigns (bulk-loaded: statuses, ~15 % with a
   deal, some won), then ``campaign_figures`` for a portal page (25), an admin page (100) and all, and
   ``campaign_stats`` of one campaign (its whole runtime); ``--reuse`` measures these again on the
   loaded database. p50/p95 and the query count of each;
   baseline: a plain ``SELECT campaign_id, count(*) … GROUP BY`` over the same links.
   Target: p95 < 200 ms with a constant query count.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory comes first on sys.path and benchmarks/email.py would shadow the stdlib's email.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import datetime as dt
import json
import logging
import os
import random
import statistics
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "lp_bench_campaigns"
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
SYNC_TARGET_S = 60
SELECTOR_TARGET_MS = 200
REQUESTS: Counter = Counter()


class GraphStub(BaseHTTPRequestHandler):
    """``GET /v25.0/{id}/insights``: one row per day of ``time_range``, deterministic figures."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY each response waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        query = parse_qs(url.query)
        if len(parts) != 3 or parts[2] != "insights":
            return self._send(404, {"error": {"message": "unknown path", "code": 100}})
        REQUESTS[parts[1]] += 1
        since_until = json.loads(query["time_range"][0])
        day = dt.date.fromisoformat(since_until["since"])
        until = dt.date.fromisoformat(since_until["until"])
        seed = int(parts[1]) % 97
        rows = []
        while day <= until:
            n = day.toordinal() + seed
            rows.append(
                {
                    "date_start": day.isoformat(),
                    "date_stop": day.isoformat(),
                    "spend": f"{20 + n % 30}.{n % 100:02d}",
                    "impressions": str(1000 + n % 500),
                    "clicks": str(10 + n % 40),
                    "actions": [
                        {"action_type": "link_click", "value": str(10 + n % 40)},
                        {"action_type": "lead", "value": str(1 + n % 4)},
                        {"action_type": "onsite_conversion.lead_grouped", "value": str(n % 4)},
                    ],
                }
            )
            day += dt.timedelta(days=1)
        self._send(200, {"data": rows, "paging": {"cursors": {"before": "A", "after": "B"}}})

    def _send(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-Business-Use-Case-Usage", json.dumps({"1": [{"type": "ads_insights", "call_count": 3}]}))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        """Quiet: 500 requests a run would flood the benchmark's output."""


def _psql(sql: str, db: str = "postgres") -> str:
    result = subprocess.run(["psql", f"{SERVER}/{db}", "-tAqc", sql], check=True, capture_output=True, text=True)
    return result.stdout.strip()


def _start_stub() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GraphStub)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v25.0"


def _setup_django(graph_url: str, *, fresh: bool = True) -> None:
    if fresh:
        _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        _psql(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 60)
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "bench:" + "A" * 43 + "=")
    os.environ.setdefault("BLIND_INDEX_KEY", "bench-blind-index-key")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")
    os.environ["META_GRAPH_API_URL"] = graph_url
    os.environ["META_ADS_ACCESS_TOKEN"] = "EAABenchSystemUser"  # noqa: S105 - the stub accepts any token
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.disable(logging.WARNING)


def load_campaigns(count: int, days: int) -> list[int]:
    from accounts.services import partner_create
    from campaigns.models import AdCampaign, CampaignTemplate

    template = CampaignTemplate.objects.order_by("pk").first()
    partners = [
        partner_create(email=f"bench-partner{i}@example.org", password=None, name=f"Partner {i}", actor=None)
        for i in range(10)
    ]
    from django.utils import timezone

    today = timezone.localdate()
    campaigns = [
        AdCampaign(
            partner=partners[i % len(partners)],
            tenant=partners[i % len(partners)].organization,
            template=template,
            name=f"Kampagne {i}",
            budget_cents=100000,
            start_date=today - dt.timedelta(days=days - 1),
            end_date=today + dt.timedelta(days=30),
            regions=["DE"],
            status=AdCampaign.Status.ACTIVE,
            meta_campaign_id=str(120000000000 + i),
            meta_form_id=str(130000000000 + i),
        )
        for i in range(count)
    ]
    AdCampaign.objects.bulk_create(campaigns, batch_size=1000)
    return [c.pk for c in campaigns]


def bench_sync(count: int) -> tuple[int, float]:
    """Both sync runs, then the baseline; returns (failures, seconds of the first run)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import AdCampaign, CampaignStats
    from campaigns.services.insights import campaigns_insights_sync

    failures = 0
    print(f"{'insights sync':<40} {'seconds':>8} {'requests':>9} {'max/camp':>9} {'upserts':>8} {'days':>7}")
    for label in ("first run (whole runtime)", "next day (restated last 3 days)"):
        REQUESTS.clear()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx:
            run = campaigns_insights_sync()
        seconds = time.perf_counter() - started
        upserts = sum(1 for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "campaigns_campaignstats"'))
        per_campaign = max(REQUESTS.values(), default=0)
        flag = ""
        if per_campaign > 1 or run.campaigns != count or run.stopped:
            flag, failures = "  MORE THAN ONE REQUEST PER CAMPAIGN OR INCOMPLETE", failures + 1
        if label.startswith("first"):
            first_seconds = seconds
            if seconds >= SYNC_TARGET_S:
                flag, failures = f"  over the {SYNC_TARGET_S} s target", failures + 1
        print(
            f"{label:<40} {seconds:8.2f} {sum(REQUESTS.values()):9d} {per_campaign:9d} {upserts:8d} {run.days:7d}{flag}"
        )
        # The next run is "tomorrow" only for the range logic: synced_through stays today.
        AdCampaign.objects.update(insights_synced_at=None)
    stored = CampaignStats.objects.count()

    # Baseline: the same requests with a bare session, the same rows with a plain executemany per campaign.
    import requests
    from django.conf import settings

    session = requests.Session()
    rows_by_campaign = []
    started = time.perf_counter()
    for pk, meta_id, since, until in AdCampaign.objects.values_list(
        "pk", "meta_campaign_id", "start_date", "insights_synced_through"
    ):
        body = session.get(
            f"{settings.META_GRAPH_API_URL}/{meta_id}/insights",
            params={"time_range": json.dumps({"since": str(since), "until": str(until)}), "access_token": "x"},
            timeout=10,
        ).json()
        rows_by_campaign.append((pk, body["data"]))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE baseline_stats (campaign_id int, date date, spend bigint, imp bigint)")
        for pk, rows in rows_by_campaign:
            cursor.executemany(
                "INSERT INTO baseline_stats VALUES (%s, %s, %s, %s)",
                [(pk, r["date_start"], int(float(r["spend"]) * 100), int(r["impressions"])) for r in rows],
            )
    baseline = time.perf_counter() - started
    print(
        f"{'baseline (bare HTTP + plain INSERTs)':<40} {baseline:8.2f}   → sync/baseline "
        f"{first_seconds / baseline:.1f}×; {stored:,} CampaignStats rows"
    )
    return failures, first_seconds


def load_leads(campaign_ids: list[int], total: int, seed: int = 11) -> None:
    """``total`` leads spread over the campaigns, linked, with statuses, deals and wins (bulk)."""
    from django.db import connection

    from campaigns.models import AdCampaign, AdCampaignLead
    from deals.models import PartnerDeal
    from leads.models import Lead

    rng = random.Random(seed)
    started = time.perf_counter()
    campaigns = {c.pk: c for c in AdCampaign.objects.filter(pk__in=campaign_ids)}
    statuses = ["new"] * 40 + ["contacted"] * 25 + ["qualified"] * 15 + ["converted"] * 15 + ["lost"] * 5
    for start in range(0, total, 10_000):
        leads, links, deals = [], [], []
        for i in range(start, min(total, start + 10_000)):
            campaign = campaigns[campaign_ids[i % len(campaign_ids)]]
            lead = Lead(
                tenant_id=campaign.tenant_id,
                assigned_partner_id=campaign.partner_id,
                channel="facebook",
                source="meta_self",
                status=rng.choice(statuses),
                facebook_lead_id=str(9_000_000_000_000 + i),
            )
            leads.append(lead)
            links.append(AdCampaignLead(campaign=campaign, lead=lead))
            if lead.status == "converted":
                deals.append(
                    PartnerDeal(
                        tenant_id=campaign.tenant_id,
                        owner_id=campaign.partner_id,
                        lead=lead,
                        title=lead.public_id,
                        stage=rng.choice(["lead", "qualified", "proposal", "won", "won", "lost"]),
                        deal_value=rng.randint(100, 900) * 1000,
                    )
                )
        Lead.objects.bulk_create(leads, batch_size=5000)
        AdCampaignLead.objects.bulk_create(links, batch_size=5000)
        PartnerDeal.objects.bulk_create(deals, batch_size=5000)
    # auto_now_add ignores a given value: spread the arrivals over the runtime in one statement
    # (a bulk_update of 100,000 rows is a CASE per row, quadratic).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE campaigns_adcampaignlead SET created_at = now() - ((id * 7919) %% %s) * interval '1 minute'",
            [29 * 1440],
        )
    for table in ("leads_lead", "campaigns_adcampaignlead", "deals_partnerdeal", "campaigns_campaignstats"):
        _psql(f"VACUUM ANALYZE {table}", DB_NAME)
    print(f"\nloaded {total:,} linked leads in {time.perf_counter() - started:.1f} s")


def _timed(func, runs: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        func()
    with CaptureQueriesContext(connection) as ctx:
        func()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)], len(ctx.captured_queries)


def bench_selectors(campaign_ids: list[int], runs: int) -> int:
    from django.db import connection

    from campaigns.models import AdCampaign
    from campaigns.selectors.stats import campaign_figures, campaign_stats

    page, admin_page = campaign_ids[:25], campaign_ids[:100]
    campaign = AdCampaign.objects.get(pk=campaign_ids[0])

    def baseline() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT campaign_id, count(*) FROM campaigns_adcampaignlead WHERE campaign_id = ANY(%s) "
                "GROUP BY campaign_id",
                [campaign_ids],
            )
            cursor.fetchall()

    cases = [
        ("campaign_figures, portal page (25)", lambda: campaign_figures(page), True),
        ("campaign_figures, admin page (100)", lambda: campaign_figures(admin_page), True),
        (f"campaign_figures, all ({len(campaign_ids)})", lambda: campaign_figures(campaign_ids), False),
        ("campaign_stats, one campaign (runtime)", lambda: campaign_stats(campaign=campaign), True),
        ("baseline: plain GROUP BY count, all", baseline, False),
    ]
    failures = 0
    print(f"{'selector':<40} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    results = {}
    for label, func, targeted in cases:
        p50, p95, queries = _timed(func, runs)
        results[label] = p50
        flag = ""
        if targeted and (p95 >= SELECTOR_TARGET_MS or queries > 2):
            flag, failures = f"  over the {SELECTOR_TARGET_MS} ms target or not constant", failures + 1
        print(f"{label:<40} {p50:8.1f} {p95:8.1f} {queries:8d}{flag}")
    all_label = f"campaign_figures, all ({len(campaign_ids)})"
    print(
        f"figures of all / plain GROUP BY: {results[all_label] / results['baseline: plain GROUP BY count, all']:.1f}×"
    )
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="keep a loaded database: measure the selectors only")
    args = parser.parse_args()
    reuse = args.reuse and _psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'") == "1"  # noqa: S608 - our constant
    _setup_django(_start_stub(), fresh=not reuse)
    failures = 0
    if reuse:
        from campaigns.models import AdCampaign

        ids = list(AdCampaign.objects.order_by("pk").values_list("pk", flat=True))
    else:
        ids = load_campaigns(args.campaigns, args.days)
        failures, _seconds = bench_sync(args.campaigns)
        load_leads(ids, args.leads)
    failures += bench_selectors(ids, args.runs)
    print("all targets met" if not failures else f"{failures} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
