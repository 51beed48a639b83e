"""Insights reads of the Marketing API (protocol §1.11): a campaign's daily spend, reach and Meta's lead count.

One request per campaign and date range (``level=campaign``, ``time_increment=1``), following
``paging.next``. Meta answers numbers as strings and ``spend`` in the ad account's currency (major
units): we store cents. Throttling is the Graph client's: it pauses when the usage headers
(``X-Business-Use-Case-Usage``, ``X-Ad-Account-Usage``) near a quota and raises ``GraphRateLimitError``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlparse

from integrations.meta.graph import GraphClient

INSIGHTS_FIELDS = "spend,impressions,clicks,actions,date_start,date_stop"
#: Instant-Form leads; ``lead`` is Meta's rollup (it already contains the former): never add them up.
LEAD_ACTION_TYPES = ("onsite_conversion.lead_grouped", "lead")
PAGE_LIMIT = 500
#: A runaway ``paging.next`` loop must end: 37 months of days fit in far fewer pages.
MAX_PAGES = 50


@dataclass(frozen=True)
class InsightsDay:
    """Meta's figures of one campaign and day."""

    date: dt.date
    spend_cents: int
    impressions: int
    clicks: int
    meta_leads: int


def spend_cents(value: Any) -> int:
    """``"123.45"`` (account currency, major units) → 12345; garbage or negatives → 0."""
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except (InvalidOperation, ValueError):
        return 0
    if not amount.is_finite() or amount < 0:
        return 0
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _count(value: Any) -> int:
    try:
        return max(0, int(Decimal(str(value))))
    except (InvalidOperation, ValueError, TypeError):
        return 0


def lead_count(actions: Any) -> int:
    """Meta's lead count of a row: ``onsite_conversion.lead_grouped``, else the ``lead`` rollup."""
    values = {}
    for action in actions if isinstance(actions, list) else []:
        if isinstance(action, dict) and action.get("action_type") in LEAD_ACTION_TYPES:
            values[action["action_type"]] = _count(action.get("value"))
    for action_type in LEAD_ACTION_TYPES:
        if action_type in values:
            return values[action_type]
    return 0


def insights_row_parse(row: dict[str, Any]) -> InsightsDay | None:
    """One ``time_increment=1`` row → ``InsightsDay`` (None for a row without a valid ``date_start``)."""
    try:
        day = dt.date.fromisoformat(str(row.get("date_start") or ""))
    except ValueError:
        return None
    return InsightsDay(
        date=day,
        spend_cents=spend_cents(row.get("spend")),
        impressions=_count(row.get("impressions")),
        clicks=_count(row.get("clicks")),
        meta_leads=lead_count(row.get("actions")),
    )


def _after_cursor(paging: dict[str, Any]) -> str | None:
    """The cursor of the next page: ``cursors.after``, or the ``after`` of ``next`` (its token stays unused)."""
    after = (paging.get("cursors") or {}).get("after")
    if after:
        return str(after)
    values = parse_qs(urlparse(str(paging.get("next") or "")).query).get("after")
    return values[0] if values else None


def campaign_insights(
    client: GraphClient, meta_campaign_id: str, *, since: dt.date, until: dt.date
) -> list[InsightsDay]:
    """Daily rows of one campaign from ``since`` to ``until`` (inclusive); days without delivery are absent."""
    params: dict[str, Any] = {
        "fields": INSIGHTS_FIELDS,
        "level": "campaign",
        "time_increment": 1,
        "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
        "limit": PAGE_LIMIT,
    }
    days: dict[dt.date, InsightsDay] = {}
    for _page in range(MAX_PAGES):
        body = client.request("GET", f"{meta_campaign_id}/insights", params=params) or {}
        for row in body.get("data") or []:
            parsed = insights_row_parse(row) if isinstance(row, dict) else None
            if parsed is not None:
                days[parsed.date] = parsed
        paging = body.get("paging") or {}
        after = _after_cursor(paging) if paging.get("next") else None
        if not after or not body.get("data"):
            break
        params = {**params, "after": after}
    return sorted(days.values(), key=lambda day: day.date)
