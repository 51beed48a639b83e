"""Zone 1 pool reads: the pool list and its filters, statistics (SPEC §8); a partner's offers are in ``offers``.

The filters are plain ``Q`` builders so the admin changelist, API-550 and the statistics share one
meaning of "score band 31–60" or "8–14 days since the last activity".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
)
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization, User
from core.dates import DateRange
from core.exceptions import NotFoundError
from leads.models import Lead, LeadAssignment, LeadIntent, LeadMerge

#: Score bands of the pool filters (inclusive), the same cut points as the stages.
SCORE_BANDS: dict[str, tuple[int, int]] = {"0-30": (0, 30), "31-60": (31, 60), "61-80": (61, 80), "81-100": (81, 100)}
SCORE_BAND_CHOICES = [(key, f"{lo}–{hi}") for key, (lo, hi) in SCORE_BANDS.items()]

#: Whole days since the last activity (or creation, for leads without any), inclusive; None: open end.
ACTIVITY_BANDS: dict[str, tuple[int, int | None]] = {"0-3": (0, 3), "4-7": (4, 7), "8-14": (8, 14), "15+": (15, None)}
ACTIVITY_BAND_CHOICES = [
    ("0-3", _("0–3 days")),
    ("4-7", _("4–7 days")),
    ("8-14", _("8–14 days")),
    ("15+", _("15 days or more")),
]

#: Offer status filter: "none" means never offered; the others mean "has an offer in that status".
OFFER_STATUS_CHOICES = [("none", _("Never offered")), *LeadAssignment.Status.choices]

#: Lead statuses that count as waiting in the pool (finished leads are not).
OPEN_POOL_STATUSES = (Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED)

#: Pool age buckets for the statistics: (key, label, min days, max days or None).
AGE_BUCKETS: list[tuple[str, Any, int, int | None]] = [
    ("0-1", _("0–1 days"), 0, 1),
    ("2-3", _("2–3 days"), 2, 3),
    ("4-7", _("4–7 days"), 4, 7),
    ("8-14", _("8–14 days"), 8, 14),
    ("15-30", _("15–30 days"), 15, 30),
    ("31+", _("31 days or more"), 31, None),
]
MAX_STATS_DAYS = 366
STATS_CACHE_SECONDS = 120


def platform_id() -> int:
    """The id of the organization that owns the pool."""
    return Organization.platform().pk


def pool_q(platform_pk: int) -> Q:
    """Leads in the pool: owned by the platform, not merged away, not accepted by a partner."""
    return Q(tenant_id=platform_pk, merged_into__isnull=True, assigned_partner__isnull=True)


def score_band_q(band: str) -> Q:
    lo, hi = SCORE_BANDS[band]
    return Q(score__gte=lo, score__lte=hi)


def _days_range_q(field: str, lo: int, hi: int | None, now: datetime) -> Q:
    # "d whole days ago" for lo <= d <= hi  ⇔  now - (hi + 1) days < value <= now - lo days.
    q = Q(**{f"{field}__lte": now - timedelta(days=lo)})
    if hi is not None:
        q &= Q(**{f"{field}__gt": now - timedelta(days=hi + 1)})
    return q


def activity_band_q(band: str, now: datetime | None = None) -> Q:
    """Days since the last activity; a lead without activity counts from its creation."""
    lo, hi = ACTIVITY_BANDS[band]
    now = now or timezone.now()
    return _days_range_q("last_activity_at", lo, hi, now) | (
        Q(last_activity_at__isnull=True) & _days_range_q("created_at", lo, hi, now)
    )


def offer_status_q(value: str) -> Q:
    """``none``: never offered; otherwise: has an offer in that status (open offers use the partial index)."""
    if value == "none":
        return ~Exists(LeadAssignment.objects.filter(lead=OuterRef("pk")))
    return Q(Exists(LeadAssignment.objects.filter(lead=OuterRef("pk"), status=value)))


def offered_to_q(partner_id: int) -> Q:
    """Has an open offer to this partner."""
    return Q(
        Exists(
            LeadAssignment.objects.filter(
                lead=OuterRef("pk"), partner_id=partner_id, status=LeadAssignment.Status.OFFERED
            )
        )
    )


def offers_prefetch() -> Prefetch:
    """Every offer of the listed leads, newest first, with the partner: one query per page."""
    return Prefetch(
        "offers",
        queryset=LeadAssignment.objects.select_related("partner").order_by("-offered_at", "-id"),
        to_attr="offer_list",
    )


def lead_pool_list(
    *,
    stage: str = "",
    score_band: str = "",
    channel: str = "",
    source: str = "",
    status: str = "",
    activity: str = "",
    offer_status: str = "",
    partner: int | None = None,
    is_test: bool | None = None,
    search: Q | None = None,
) -> QuerySet[Lead]:
    """Pool leads with the admin's filters applied; unknown filter values are the caller's to reject."""
    qs = Lead.objects.filter(pool_q(platform_id())).prefetch_related(offers_prefetch())
    if stage:
        qs = qs.filter(stage=stage)
    if score_band:
        qs = qs.filter(score_band_q(score_band))
    if channel:
        qs = qs.filter(channel=channel)
    if source:
        qs = qs.filter(source=source)
    if status:
        qs = qs.filter(status=status)
    if activity:
        qs = qs.filter(activity_band_q(activity))
    if offer_status:
        qs = qs.filter(offer_status_q(offer_status))
    if partner is not None:
        qs = qs.filter(offered_to_q(partner))
    if is_test is not None:
        qs = qs.filter(is_test=is_test)
    if search is not None:
        qs = qs.filter(search)
    return qs


def lead_get_for_staff(*, lead_id) -> Lead:
    """Any live lead by id for admins and ops; 404 otherwise."""
    lead = Lead.objects.filter(pk=lead_id, merged_into__isnull=True).first()
    if lead is None:
        raise NotFoundError(str(_("No such lead.")))
    return lead


def lead_console_panels(*, lead: Lead) -> dict[str, Any]:
    """What the lead change view shows beside the form; every list is bounded, one query each."""
    from compliance.models import ConsentRecord
    from compliance.selectors import audit_events_for

    intents = list(LeadIntent.objects.filter(lead=lead).order_by("-created_at", "-id")[:20])
    return {
        "activities": list(lead.activities.select_related("actor").order_by("-occurred_at", "-id")[:50]),
        "score_history": list(lead.score_history.all()[:20]),
        "enrichments": list(lead.enrichments.order_by("-created_at", "-id")[:5]),
        "insights": [i for i in intents if i.source_type == "ai_analysis"][:3],
        "intents": [i for i in intents if i.source_type != "ai_analysis"][:10],
        "offers": list(
            lead.offers.select_related("partner", "offered_by", "decision").order_by("-offered_at", "-id")[:50]
        ),
        "decisions": list(lead.assignment_decisions.select_related("winner")[:5]),
        "merges": list(
            LeadMerge.objects.filter(Q(survivor=lead) | Q(merged_lead=lead))
            .select_related("survivor", "merged_lead", "actor", "undone_by", "split_lead")
            .order_by("-created_at", "-id")[:20]
        ),
        "split_agreements": list(
            ConsentRecord.objects.filter(
                subject_lead=lead, code=ConsentRecord.Code.LEAD_SPLIT_AGREEMENT, action=ConsentRecord.Action.GRANTED
            ).order_by("-recorded_at", "-id")[:5]
        ),
        "audit": list(audit_events_for(lead)[:50]),
    }


def partner_choices() -> QuerySet[User]:
    """Partners an operator may pick from (filters, offer form), in a stable order."""
    return (
        User.objects.filter(role__in=User.PARTNER_ROLES, partner_profile__isnull=False)
        .select_related("partner_profile")
        .order_by("email")
    )


# --- Statistics -------------------------------------------------------------------------------


class Median(Aggregate):
    """PostgreSQL's exact median of an interval or number."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False


def stats_range(date_from: date | None = None, date_to: date | None = None) -> DateRange:
    """Default to the last 30 days; clamp to a year so one request cannot scan everything."""
    return DateRange.bounded(
        date_from, date_to, default_from=lambda end: end - timedelta(days=29), max_days=MAX_STATS_DAYS
    )


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 1)


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def pool_volume(rng: DateRange, platform_pk: int) -> dict[str, Any]:
    """New pool leads per channel and day (leads that went to a partner straight away are not counted)."""
    accepted = LeadAssignment.objects.filter(lead=OuterRef("pk"), status=LeadAssignment.Status.ACCEPTED)
    rows = (
        Lead.objects.filter(created_at__gte=rng.start, created_at__lt=rng.end, merged_into__isnull=True, is_test=False)
        .filter(Q(tenant_id=platform_pk) | Q(Exists(accepted)))
        .annotate(day=TruncDate("created_at"))
        .values("day", "channel")
        .annotate(n=Count("id"))
        .order_by()
    )
    index = {day: i for i, day in enumerate(rng.days)}
    series: dict[str, list[int]] = {}
    for row in rows:
        counts = series.setdefault(row["channel"], [0] * len(index))
        if row["day"] in index:
            counts[index[row["day"]]] += row["n"]
    labels = dict(Lead.Channel.choices)
    channels = [
        {"channel": code, "label": str(labels.get(code, code)), "counts": series[code], "total": sum(series[code])}
        for code in Lead.Channel.values
        if code in series
    ]
    return {"days": [d.isoformat() for d in rng.days], "channels": channels, "total": sum(c["total"] for c in channels)}


def pool_snapshot(platform_pk: int, now: datetime) -> dict[str, Any]:
    """The pool as it stands: size, age distribution and leads per stage, in one pass."""
    aggregates: dict[str, Any] = {"total": Count("id")}
    for key, _label, lo, hi in AGE_BUCKETS:
        aggregates[f"age_{key}"] = Count("id", filter=_days_range_q("created_at", lo, hi, now))
    for stage in Lead.Stage.values:
        aggregates[f"stage_{stage}"] = Count("id", filter=Q(stage=stage))
    row = Lead.objects.filter(pool_q(platform_pk), status__in=OPEN_POOL_STATUSES, is_test=False).aggregate(**aggregates)
    return {
        "size": row["total"],
        "age": [{"bucket": key, "label": str(label), "count": row[f"age_{key}"]} for key, label, *_ in AGE_BUCKETS],
        "stages": [
            {"stage": value, "label": str(label), "count": row[f"stage_{value}"]} for value, label in Lead.Stage.choices
        ],
    }


def offer_outcomes(rng: DateRange) -> dict[str, Any]:
    """Per partner: offers made in the range, how they ended, acceptance rate and median time to accept."""
    S = LeadAssignment.Status
    offers = LeadAssignment.objects.filter(offered_at__gte=rng.start, offered_at__lt=rng.end)
    accepted = Q(status=S.ACCEPTED)
    to_accept = ExpressionWrapper(F("responded_at") - F("offered_at"), output_field=DurationField())
    aggregates = {"offers": Count("id"), **{status: Count("id", filter=Q(status=status)) for status in S.values}}
    postgres = connections[offers.db].vendor == "postgresql"
    if postgres:
        aggregates["median"] = Median(to_accept, filter=accepted, output_field=DurationField())
    rows = list(
        offers.values("partner_id", "partner__email", "partner__partner_profile__display_name")
        .annotate(**aggregates)
        .order_by("-offers", "partner__email")
    )
    if not postgres:  # the embedded SQLite default has no percentile aggregate
        durations: dict[int, list[timedelta]] = {}
        for partner_id, value in offers.filter(accepted).annotate(d=to_accept).values_list("partner_id", "d"):
            durations.setdefault(partner_id, []).append(value)
        for row in rows:
            row["median"] = _median(durations.get(row["partner_id"], []))
    partners = []
    for row in rows:
        answered = row[S.ACCEPTED] + row[S.REJECTED] + row[S.EXPIRED]
        partners.append(
            {
                "partner_id": row["partner_id"],
                "email": row["partner__email"],
                "name": row["partner__partner_profile__display_name"] or row["partner__email"],
                "offers": row["offers"],
                "accepted": row[S.ACCEPTED],
                "rejected": row[S.REJECTED],
                "expired": row[S.EXPIRED],
                "revoked": row[S.REVOKED],
                "open": row[S.OFFERED],
                "acceptance_rate": round(row[S.ACCEPTED] / answered, 4) if answered else None,
                "median_hours_to_accept": _hours(row["median"]),
            }
        )
    keys = ("offers", "accepted", "rejected", "expired", "revoked", "open")
    totals: dict[str, Any] = {key: sum(p[key] for p in partners) for key in keys}
    answered = totals["accepted"] + totals["rejected"] + totals["expired"]
    totals["acceptance_rate"] = round(totals["accepted"] / answered, 4) if answered else None
    return {"partners": partners, "totals": totals}


def offer_expiries(rng: DateRange) -> dict[str, Any]:
    """Offers that ran out, per day of expiry."""
    rows = (
        LeadAssignment.objects.filter(
            status=LeadAssignment.Status.EXPIRED, responded_at__gte=rng.start, responded_at__lt=rng.end
        )
        .annotate(day=TruncDate("responded_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_day = {row["day"]: row["n"] for row in rows}
    counts = [by_day.get(day, 0) for day in rng.days]
    return {"days": [d.isoformat() for d in rng.days], "counts": counts, "total": sum(counts)}


@contextmanager
def _analytics_queries(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run aggregates without JIT (its compile time dwarfs these queries) and with room to aggregate in memory."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '32MB'")
        yield


def pool_stats(*, date_from: date | None = None, date_to: date | None = None, use_cache: bool = True) -> dict[str, Any]:
    """Everything on the pool statistics page and API-553: five aggregate queries, cached briefly.

    Counting a pool of a million leads exactly takes a few hundred milliseconds, so the result is
    shared for ``STATS_CACHE_SECONDS`` between the admin page and the API; ``generated_at`` says how fresh it is.
    """
    rng = stats_range(date_from, date_to)
    key = f"leads:pool-stats:v1:{rng.date_from.isoformat()}:{rng.date_to.isoformat()}"
    if use_cache:
        cached = None
        with contextlib.suppress(Exception):  # a cache outage only costs speed
            cached = cache.get(key)
        if cached is not None:
            return cached
    platform_pk = platform_id()
    now = timezone.now()
    with _analytics_queries():
        snapshot = pool_snapshot(platform_pk, now)
        stats = {
            "range": {"from": rng.date_from.isoformat(), "to": rng.date_to.isoformat()},
            "generated_at": now.isoformat(),
            "pool": {"size": snapshot["size"]},
            "volume": pool_volume(rng, platform_pk),
            "pool_age": snapshot["age"],
            "stages": snapshot["stages"],
            "offers": offer_outcomes(rng),
            "expiries": offer_expiries(rng),
        }
    with contextlib.suppress(Exception):
        cache.set(key, stats, STATS_CACHE_SECONDS)
    return stats
