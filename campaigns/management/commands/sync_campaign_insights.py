"""Read Meta's daily insights of booked campaigns into CampaignStats (SPEC §14), as the nightly beat does."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from campaigns.models import AdCampaign
from campaigns.services.insights import campaigns_insights_sync


class Command(BaseCommand):
    help = (
        "sync_campaign_insights [--campaign ID] [--since DATE]: the due campaigns (active, paused, recently "
        "completed) or one; without --since the first run reads from the start date, later runs the last 3 days."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, default=None, help="One campaign (its id).")
        parser.add_argument("--since", default=None, help="Re-read from this date (YYYY-MM-DD).")

    def handle(self, *args, **opts):
        since = None
        if opts["since"]:
            since = parse_date(opts["since"])
            if since is None:
                raise CommandError(f"--since {opts['since']!r} is not a date (2026-01-31).")
        ids = None
        if opts["campaign"]:
            campaign = AdCampaign.objects.filter(pk=opts["campaign"]).first()
            if campaign is None:
                raise CommandError(f"No campaign {opts['campaign']}.")
            if not campaign.meta_campaign_id:
                raise CommandError(f"Campaign {campaign.pk} is not booked in Meta yet (no Meta campaign id).")
            ids = [campaign.pk]
        run = campaigns_insights_sync(campaign_ids=ids, since=since)
        if run.stopped == "no_token":
            raise CommandError("META_ADS_ACCESS_TOKEN is not set.")
        self.stdout.write(f"{run.campaigns} campaigns synced, {run.days} days written.")
        if run.failed:
            self.stderr.write(f"Failed: campaigns {', '.join(map(str, run.failed))} (see the log).")
        if run.stopped:
            self.stderr.write(f"Stopped early, Meta throttles or the token is dead: {run.stopped}")
