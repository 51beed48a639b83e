"""Meta's daily figures of booked campaigns into ``CampaignStats`` (SPEC §10, protocol §1.11).

The first run reads from the campaign's start date, later runs the last 3 days again (Meta restates
recent days), each as ONE insights request per campaign and range, upserted in one statement
(``INSERT … ON CONFLICT (campaign, date) DO UPDATE``): a re-run changes nothing but ``synced_at``.
When Graph throttles us (usage headers near a quota, or a rate-limit error) the run stops and the
next beat continues where it stopped (``insights_synced_through`` is per campaign).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from campaigns.models import AdCampaign, CampaignStats
from integrations.meta.graph import GraphClient, GraphError, GraphRateLimitError, GraphTokenError
from integrations.meta.reporting import campaign_insights

logger = logging.getLogger(__name__)

#: Meta restates the last days (late conversions, spend corrections): re-read them each day.
RESTATED_DAYS = 3
#: A completed campaign is read for a few more days, so the restated last days arrive too.
COMPLETED_GRACE = dt.timedelta(days=7)
STATS_FIELDS = ["spend_cents", "impressions", "clicks", "meta_leads", "synced_at"]


def _client() -> GraphClient:
    return GraphClient(settings.META_ADS_ACCESS_TOKEN)


def insights_range(campaign: AdCampaign, *, today: dt.date) -> tuple[dt.date, dt.date]:
    """The days to read: from the start (first run) or the last ``RESTATED_DAYS`` synced, up to today/the end."""
    until = min(today, campaign.end_date)
    if campaign.insights_synced_through is None:
        return campaign.start_date, until
    since = min(campaign.insights_synced_through, until) - dt.timedelta(days=RESTATED_DAYS - 1)
    return max(campaign.start_date, since), until


def campaign_insights_sync(
    *,
    campaign: AdCampaign,
    since: dt.date | None = None,
    until: dt.date | None = None,
    client: GraphClient | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Read one campaign's daily insights and upsert them; returns the number of days written.

    Raises the Graph client's errors (``GraphRateLimitError`` when throttled): callers decide
    whether to stop (the beat) or report (the command).
    """
    if not campaign.meta_campaign_id:
        return 0
    now = now or timezone.now()
    today = timezone.localdate(now)
    default_since, default_until = insights_range(campaign, today=today)
    since, until = since or default_since, until or default_until
    if since > until:
        return 0
    days = campaign_insights(client or _client(), campaign.meta_campaign_id, since=since, until=until)
    rows = [
        CampaignStats(
            campaign_id=campaign.pk,
            date=day.date,
            spend_cents=day.spend_cents,
            impressions=day.impressions,
            clicks=day.clicks,
            meta_leads=day.meta_leads,
        )
        for day in days
    ]
    if rows:
        CampaignStats.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["campaign", "date"], update_fields=STATS_FIELDS
        )
    # Only forward: an on-demand read of an old range must not make the next beat re-read everything.
    through = max(until, campaign.insights_synced_through or until)
    AdCampaign.objects.filter(pk=campaign.pk).update(insights_synced_through=through, insights_synced_at=now)
    campaign.insights_synced_through, campaign.insights_synced_at = through, now
    return len(rows)


def campaigns_to_sync(*, now: dt.datetime | None = None) -> QuerySet[AdCampaign]:
    """Booked campaigns that run, pause or completed recently (their last days are still restated)."""
    now = now or timezone.now()
    S = AdCampaign.Status
    recent = Q(status=S.COMPLETED, completed_at__gte=now - COMPLETED_GRACE)
    return (
        AdCampaign.objects.exclude(meta_campaign_id="")
        .filter(Q(status__in=[S.ACTIVE, S.PAUSED]) | recent)
        .order_by("insights_synced_at", "pk")  # the longest-waiting first: a throttled run resumes with them
    )


@dataclass
class InsightsRun:
    campaigns: int = 0
    days: int = 0
    failed: list[int] = field(default_factory=list)
    stopped: str = ""


def campaigns_insights_sync(
    *, campaign_ids: list[int] | None = None, since: dt.date | None = None, now: dt.datetime | None = None
) -> InsightsRun:
    """Sync every due campaign (or the given ones); stop at the first throttling or dead token."""
    queryset = (
        AdCampaign.objects.filter(pk__in=campaign_ids).exclude(meta_campaign_id="")
        if campaign_ids
        else campaigns_to_sync(now=now)
    )
    run = InsightsRun()
    if not settings.META_ADS_ACCESS_TOKEN:
        run.stopped = "no_token"
        return run
    client = _client()
    for campaign in queryset.iterator(chunk_size=200):
        try:
            run.days += campaign_insights_sync(campaign=campaign, since=since, client=client, now=now)
            run.campaigns += 1
        except (GraphRateLimitError, GraphTokenError) as exc:
            # The rest waits for the next beat; the Graph client keeps the pause in the cache.
            run.stopped = exc.summary()
            logger.warning("Insights sync stopped", extra={"campaign_id": campaign.pk, "error": exc.summary()})
            break
        except GraphError as exc:
            run.failed.append(campaign.pk)
            logger.warning("Insights of a campaign failed", extra={"campaign_id": campaign.pk, "error": exc.summary()})
    return run
