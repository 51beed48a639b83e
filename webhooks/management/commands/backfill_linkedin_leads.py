"""Fetch an owner's LinkedIn leads (up to 365 days back) and ingest those we do not have yet."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import DomainError
from integrations.linkedin.client import LinkedInError, LinkedInOAuthError
from webhooks.management.commands.backfill_facebook_leads import _since
from webhooks.models import LinkedInConnection
from webhooks.services import linkedin_backfill
from webhooks.services.backfill import BackfillStats
from webhooks.services.linkedin_connections import linkedin_owner_urn_clean


class Command(BaseCommand):
    help = (
        "Backfill LinkedIn leads: backfill_linkedin_leads --owner URN [--since DATE] [--lead-type T] "
        "[--page-size N] [--test-leads]. Idempotent: leads already received (by webhook or an earlier run) are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", required=True, help="urn:li:sponsoredAccount:<id> or urn:li:organization:<id>")
        parser.add_argument("--since", default=None, help="Only leads submitted after this date (UTC).")
        parser.add_argument(
            "--lead-type",
            action="append",
            dest="lead_types",
            choices=["SPONSORED", "COMPANY", "EVENT", "ORGANIZATION_PRODUCT"],
            help="Default: SPONSORED for an ad account, COMPANY, EVENT and ORGANIZATION_PRODUCT for an organization.",
        )
        parser.add_argument("--page-size", type=int, default=10)
        parser.add_argument("--test-leads", action="store_true", help="Fetch only test leads (limitedToTestLeads).")

    def handle(self, *args, **opts):
        try:
            owner = linkedin_owner_urn_clean(opts["owner"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        connection = (
            LinkedInConnection.objects.select_related("partner", "organization")
            .filter(owner_urn=owner, active=True)
            .first()
        )
        if connection is None:
            raise CommandError(f"{owner} is not connected (connect it in the admin or with connect_linkedin).")

        def progress(stats: BackfillStats) -> None:
            self.stdout.write(
                f"page {stats.pages}: {stats.seen} leads seen, {stats.new} new, {stats.known} already known, "
                f"{stats.failed} failed"
            )

        try:
            stats = linkedin_backfill(
                connection=connection,
                since=_since(opts["since"]),
                lead_types=tuple(opts["lead_types"]) if opts["lead_types"] else None,
                page_size=max(1, min(opts["page_size"], 100)),
                test_leads=opts["test_leads"],
                progress=progress,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except (LinkedInError, LinkedInOAuthError) as exc:
            raise CommandError(f"LinkedIn error, nothing lost (run again later): {exc.summary()}") from exc
        style = self.style.WARNING if stats.failed else self.style.SUCCESS
        self.stdout.write(
            style(
                f"Done: {stats.seen} leads in {stats.pages} pages; {stats.new} new, {stats.known} already known, "
                f"{stats.failed} failed (see the webhook events in the admin)."
            )
        )
