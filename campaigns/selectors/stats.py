"""Campaign figures: Meta's daily numbers (``CampaignStats``) joined with what only we know.

Meta knows spend, impressions, clicks and its own lead count; we add the leads we received and
linked (``AdCampaignLead``, by the day they arrived), how many of them were qualified, got a deal,
won it, and the value won: the cost per lead, per qualified lead and per won deal follow.
``campaign_stats`` (API-545, the detail pages) and ``campaign_figures`` (list pages) run a fixed
number of queries whatever the number of days, campaigns or leads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from campaigns.models import AdCampaign, AdCampaignLead, CampaignStats
from deals.models import PartnerDeal
from leads.models import Lead

META_KEYS = ("spend_cents", "impressions", "clicks", "meta_leads")
OWN_KEYS = ("leads", "qualified", "deals", "won")
#: At most this many days per request (the default is the campaign's runtime).
MAX_DAYS = 3 * 366

_QUALIFIED = Q(lead__status__in=[Lead.Status.QUALIFIED, Lead.Status.CONVERTED]) | Q(lead__deal__isnull=False)
_WON = Q(lead__deal__stage=PartnerDeal.Stage.WON)


def _own_aggregates() -> dict[str, Any]:
    return {
        "leads": Count("id"),
        "qualified": Count("id", filter=_QUALIFIED),
        "deals": Count("id", filter=Q(lead__deal__isnull=False)),
        "won": Count("id", filter=_WON),
        "won_value": Coalesce(
            Sum("lead__deal__deal_value", filter=_WON),
            Value(Decimal("0")),
            output_field=DecimalField(max_digits=16, decimal_places=2),
        ),
    }


def _meta_aggregates() -> dict[str, Any]:
    return {key: Coalesce(Sum(key), 0) for key in META_KEYS}


def _linked(campaign_filter: Q) -> Any:
    """Linked leads that count: real ones (Meta's test tool leads stay out)."""
    return AdCampaignLead.objects.filter(campaign_filter, lead__is_test=False).order_by()


def _cost(spend: int, count: int) -> int | None:
    return round(spend / count) if count else None


def _empty() -> dict[str, Any]:
    return {**dict.fromkeys(META_KEYS, 0), **dict.fromkeys(OWN_KEYS, 0), "won_value": Decimal("0")}


def _with_costs(row: dict[str, Any]) -> dict[str, Any]:
    spend = row["spend_cents"]
    row["cost_per_lead_cents"] = _cost(spend, row["leads"])
    row["cost_per_qualified_cents"] = _cost(spend, row["qualified"])
    row["cost_per_won_cents"] = _cost(spend, row["won"])
    return row


def stats_range(
    campaign: AdCampaign, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The requested days; by default the campaign's runtime up to today (at most ``MAX_DAYS``)."""
    date_from = date_from or campaign.start_date
    if date_to is None:
        date_to = max(date_from, min(campaign.end_date, timezone.localdate()))
    if date_to < date_from:
        date_to = date_from
    if (date_to - date_from).days >= MAX_DAYS:
        date_from = date_to - dt.timedelta(days=MAX_DAYS - 1)
    return date_from, date_to


def campaign_stats(
    *, campaign: AdCampaign, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> dict[str, Any]:
    """API-545: ``{"totals": {…}, "days": [{"date", …}]}``, every day of the range (two queries).

    Our figures count the leads by the day they arrived (a cohort): the leads of March 3 and how
    many of them were qualified or won since.
    """
    date_from, date_to = stats_range(campaign, date_from, date_to)
    days = {date_from + dt.timedelta(days=n): _empty() for n in range((date_to - date_from).days + 1)}
    meta_rows = (
        CampaignStats.objects.filter(campaign_id=campaign.pk, date__gte=date_from, date__lte=date_to)
        .order_by()
        .values("date", *META_KEYS)
    )
    for row in meta_rows:
        days[row.pop("date")].update(row)
    start = timezone.make_aware(dt.datetime.combine(date_from, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min))
    own_rows = (
        _linked(Q(campaign_id=campaign.pk, created_at__gte=start, created_at__lt=end))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(**_own_aggregates())
    )
    for row in own_rows:
        day = row.pop("day")
        if day in days:
            days[day].update(row)
    totals = _empty()
    for row in days.values():
        for key, value in row.items():
            totals[key] += value
    return {
        "totals": _with_costs(totals),
        "days": [{"date": day, **_with_costs(row)} for day, row in sorted(days.items())],
    }


def campaign_figures(campaign_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Whole-runtime figures of many campaigns for list pages: two queries however many campaigns.

    Each value has the keys of ``campaign_stats``'s totals (``spend_cents``, ``leads``,
    ``cost_per_lead_cents``, ``qualified``, ``won``, ``cost_per_won_cents`` …).
    """
    ids = list(dict.fromkeys(int(pk) for pk in campaign_ids))
    figures = {pk: _empty() for pk in ids}
    if not ids:
        return {}
    meta_rows = (
        CampaignStats.objects.filter(campaign_id__in=ids)
        .order_by()
        .values("campaign_id")
        .annotate(**_meta_aggregates())
    )
    for row in meta_rows:
        figures[row.pop("campaign_id")].update(row)
    for row in _linked(Q(campaign_id__in=ids)).values("campaign_id").annotate(**_own_aggregates()):
        figures[row.pop("campaign_id")].update(row)
    return {pk: _with_costs(row) for pk, row in figures.items()}
