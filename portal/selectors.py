"""Reads of the portal's own pages and the reports API: the frame, dashboard KPIs, funnel and source reports.

Every function starts from the tenant-scoped ``lead_queryset_for``/``deal_queryset_for`` and runs a
fixed number of queries whatever the number of leads (aggregates, never a query per row).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Exists, Min, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, NullIf, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Notification, User
from core.dates import DateRange
from deals.models import PartnerDeal
from deals.selectors import deal_queryset_for, deal_stage_summary
from leads.models import Lead, LeadActivity, LeadAssignment
from leads.selectors import lead_queryset_for
from leads.selectors.offers import partner_open_offers
from leads.services.work import CONTACT_ACTIVITY

OPEN_LEAD_STATUSES = (Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED)
HOT_STAGES = (Lead.Stage.HOT, Lead.Stage.BURNING)
MAX_REPORT_DAYS = 3 * 366


def _contact_activity() -> QuerySet[LeadActivity]:
    return LeadActivity.objects.filter(lead=OuterRef("pk"), activity_type=CONTACT_ACTIVITY)


# --- Frame ------------------------------------------------------------------------------------


def frame_for(user: User) -> dict[str, Any]:
    """What the shell shows on every page: the notices and the open-offer badge (three queries)."""
    return {"notices": notifications_for(user), "open_offer_count": partner_open_offers(partner=user).count()}


# --- Notifications ----------------------------------------------------------------------------


def notifications_for(user: User, *, limit: int = 5) -> dict[str, Any]:
    """Unread count and the newest unread notices for the portal header (two queries)."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    return {"unread_count": unread.count(), "latest": list(unread.order_by("-created_at", "-id")[:limit])}


def notification_list(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")


# --- Dashboard --------------------------------------------------------------------------------


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def dashboard_kpis(user: User) -> dict[str, Any]:
    """The dashboard's figures in five queries: offers, lead counts, deals per stage, won this month, hot leads."""
    leads = lead_queryset_for(user).filter(is_test=False)
    counts = leads.aggregate(
        total=Count("id"),
        new=Count("id", filter=Q(status=Lead.Status.NEW)),
        open=Count("id", filter=Q(status__in=OPEN_LEAD_STATUSES)),
        hot=Count("id", filter=Q(stage__in=HOT_STAGES, status__in=OPEN_LEAD_STATUSES)),
        converted=Count("id", filter=Q(status=Lead.Status.CONVERTED)),
    )
    stages = deal_stage_summary(user)
    won_month = deal_queryset_for(user).aggregate(
        count=Count("id", filter=Q(stage=PartnerDeal.Stage.WON, closed_at__gte=month_start())),
        value=Sum("deal_value", filter=Q(stage=PartnerDeal.Stage.WON, closed_at__gte=month_start())),
    )
    hot_leads = list(
        leads.filter(stage__in=HOT_STAGES, status__in=OPEN_LEAD_STATUSES).order_by("-score", "-created_at")[:5]
    )
    open_offers = partner_open_offers(partner=user).count() if user.is_partner else 0
    total = counts["total"]
    return {
        "open_offers": open_offers,
        "leads_total": total,
        "leads_new": counts["new"],
        "leads_open": counts["open"],
        "leads_hot": counts["hot"],
        "leads_converted": counts["converted"],
        "conversion_rate": _rate(counts["converted"], total),
        "deal_stages": stages,
        "open_pipeline_value": sum((stages[s]["value"] for s in PartnerDeal.OPEN_STAGES), Decimal("0")),
        "won_month_count": won_month["count"],
        "won_month_value": won_month["value"] or Decimal("0"),
        "hot_leads": hot_leads,
    }


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# --- Reports ----------------------------------------------------------------------------------


def report_range(date_from: dt.date | None = None, date_to: dt.date | None = None) -> DateRange:
    """Default to the last twelve months; at most three years, so one request cannot scan everything."""
    return DateRange.bounded(
        date_from,
        date_to,
        default_from=lambda end: (end.replace(day=1) - dt.timedelta(days=335)).replace(day=1),
        max_days=MAX_REPORT_DAYS + 1,
    )


def _reported_leads(principal, rng: DateRange) -> QuerySet[Lead]:
    return (
        lead_queryset_for(principal)
        .select_related(None)
        .filter(is_test=False, created_at__gte=rng.start, created_at__lt=rng.end)
        .order_by()
    )


def _funnel_aggregates() -> dict[str, Any]:
    """Conditional counts of the funnel: each step counts leads that got at least that far."""
    reached_contact = Q(status__in=[Lead.Status.CONTACTED, Lead.Status.QUALIFIED, Lead.Status.CONVERTED]) | Q(
        Exists(_contact_activity())
    )
    won = Q(deal__stage=PartnerDeal.Stage.WON)
    return {
        "leads": Count("id"),
        "contacted": Count("id", filter=reached_contact),
        "qualified": Count("id", filter=Q(status__in=[Lead.Status.QUALIFIED, Lead.Status.CONVERTED])),
        "converted": Count("id", filter=Q(status=Lead.Status.CONVERTED)),
        "won": Count("id", filter=won),
        "won_value": Coalesce(
            Sum("deal__deal_value", filter=won),
            Value(Decimal("0")),
            output_field=DecimalField(max_digits=16, decimal_places=2),
        ),
    }


FUNNEL_STEPS = ("leads", "contacted", "qualified", "converted", "won")
FUNNEL_LABELS = {
    "leads": _("Leads"),
    "contacted": _("Contacted"),
    "qualified": _("Qualified"),
    "converted": _("Converted"),
    "won": _("Won"),
}


def _with_rates(row: dict[str, Any]) -> dict[str, Any]:
    total = row["leads"]
    row["qualification_rate"] = _rate(row["qualified"], total)
    row["conversion_rate"] = _rate(row["converted"], total)
    row["win_rate"] = _rate(row["won"], row["converted"])
    return row


COUNT_KEYS = ("leads", "contacted", "qualified", "converted", "won")


def _funnel_groups(principal, rng: DateRange) -> list[dict[str, Any]]:
    """Funnel counts grouped by channel, source and campaign: one query that every breakdown rolls up."""
    campaign = Coalesce(NullIf("source_campaign", Value("")), NullIf("utm_campaign", Value("")), Value(""))
    return list(
        _reported_leads(principal, rng)
        .annotate(campaign=campaign)
        .values("channel", "source", "campaign")
        .annotate(**_funnel_aggregates())
    )


def _roll_up(groups: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """Sum the grouped counts by one dimension (or all together for ``None``), biggest first."""
    totals: dict[str, dict[str, Any]] = {}
    for group in groups:
        name = group[key] if key else ""
        row = totals.setdefault(name, {"key": name, **dict.fromkeys(COUNT_KEYS, 0), "won_value": Decimal("0")})
        for count in COUNT_KEYS:
            row[count] += group[count]
        row["won_value"] += group["won_value"] or Decimal("0")
    rows = sorted(totals.values(), key=lambda row: (-row["leads"], row["key"]))
    return [_with_rates(row) for row in rows]


def report_funnel(principal, rng: DateRange, *, groups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The funnel lead → contacted → qualified → converted → won, overall and per channel (one query)."""
    groups = _funnel_groups(principal, rng) if groups is None else groups
    total = (_roll_up(groups, None) or [_with_rates({"key": "", **dict.fromkeys(COUNT_KEYS, 0), "won_value": 0})])[0]
    steps = [
        {"step": step, "label": FUNNEL_LABELS[step], "count": total[step], "rate": _rate(total[step], total["leads"])}
        for step in FUNNEL_STEPS
    ]
    by_channel = [
        {**row, "channel": row["key"], "label": str(Lead.Channel(row["key"]).label)}
        for row in _roll_up(groups, "channel")
    ]
    return {"steps": steps, "totals": total, "by_channel": by_channel}


def report_first_contact(principal, rng: DateRange) -> dict[str, Any]:
    """Hours from receiving a lead (creation, or acceptance of a pool offer) to its first logged contact."""
    leads = _reported_leads(principal, rng).values("pk")
    firsts = (
        LeadActivity.objects.filter(activity_type=CONTACT_ACTIVITY, lead__in=leads)
        .values("lead_id")
        .annotate(first=Min("occurred_at"), created=Min("lead__created_at"))
        .values_list("lead_id", "created", "first")
    )
    accepted = dict(
        LeadAssignment.objects.filter(status=LeadAssignment.Status.ACCEPTED, lead__in=leads).values_list(
            "lead_id", "responded_at"
        )
    )
    hours = sorted(
        max((first - (accepted.get(lead_id) or created)).total_seconds(), 0) / 3600
        for lead_id, created, first in firsts
    )
    if not hours:
        return {"count": 0, "average_hours": None, "median_hours": None, "within_24h_rate": None}
    mid = len(hours) // 2
    median = hours[mid] if len(hours) % 2 else (hours[mid - 1] + hours[mid]) / 2
    return {
        "count": len(hours),
        "average_hours": round(sum(hours) / len(hours), 1),
        "median_hours": round(median, 1),
        "within_24h_rate": _rate(sum(1 for h in hours if h <= 24), len(hours)),
    }


def report_months(principal, rng: DateRange) -> list[dict[str, Any]]:
    """Per month of the range: new leads, deals won and lost, win rate and won value (two queries)."""
    tz = timezone.get_current_timezone()
    lead_rows = (
        _reported_leads(principal, rng)
        .annotate(month=TruncMonth("created_at", tzinfo=tz))
        .values("month")
        .annotate(leads=Count("id"), converted=Count("id", filter=Q(status=Lead.Status.CONVERTED)))
    )
    deal_rows = (
        deal_queryset_for(principal)
        .select_related(None)
        .filter(closed_at__gte=rng.start, closed_at__lt=rng.end)
        .order_by()
        .annotate(month=TruncMonth("closed_at", tzinfo=tz))
        .values("month")
        .annotate(
            won=Count("id", filter=Q(stage=PartnerDeal.Stage.WON)),
            lost=Count("id", filter=Q(stage=PartnerDeal.Stage.LOST)),
            won_value=Sum("deal_value", filter=Q(stage=PartnerDeal.Stage.WON)),
        )
    )
    months = {
        m: {"month": m, "leads": 0, "converted": 0, "won": 0, "lost": 0, "won_value": Decimal("0")}
        for m in rng.months()
    }

    for row in lead_rows:
        month = _month_key(row["month"])
        if month in months:
            months[month].update(leads=row["leads"], converted=row["converted"])
    for row in deal_rows:
        month = _month_key(row["month"])
        if month in months:
            months[month].update(won=row["won"], lost=row["lost"], won_value=row["won_value"] or Decimal("0"))
    result = list(months.values())
    for row in result:
        row["win_rate"] = _rate(row["won"], row["won"] + row["lost"])
    return result


def _month_key(value: dt.date | dt.datetime) -> dt.date:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return value.replace(day=1)


def report_sources(
    principal, rng: DateRange, *, groups: list[dict[str, Any]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Leads, qualification and conversion by channel, by source and by campaign (one query)."""
    groups = _funnel_groups(principal, rng) if groups is None else groups
    channels = [{**row, "label": str(Lead.Channel(row["key"]).label)} for row in _roll_up(groups, "channel")]
    sources = [{**row, "label": str(Lead.Source(row["key"]).label)} for row in _roll_up(groups, "source")]
    campaigns = [{**row, "label": row["key"] or "–"} for row in _roll_up(groups, "campaign")[:50]]
    return {"channels": channels, "sources": sources, "campaigns": campaigns}
