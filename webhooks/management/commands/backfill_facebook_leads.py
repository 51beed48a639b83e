"""Fetch every lead of a Facebook lead form and ingest those we do not have yet (SPEC §14)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from core.exceptions import DomainError
from integrations.meta.graph import GraphError
from webhooks.models import MetaPageConnection
from webhooks.services import facebook_form_backfill
from webhooks.services.backfill import BackfillStats


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since {value!r} is neither a date (2026-01-31) nor a date-time.")
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Backfill a lead form: backfill_facebook_leads --form-id ID [--page-id ID] [--since DATE]. "
        "Idempotent: leads already received (by webhook or an earlier run) are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--form-id", required=True)
        parser.add_argument("--page-id", default=None, help="Needed when more than one page is connected.")
        parser.add_argument("--since", default=None, help="Only leads created after this date (UTC).")
        parser.add_argument("--page-size", type=int, default=100)

    def _connection(self, page_id: str | None) -> MetaPageConnection:
        connections = MetaPageConnection.objects.filter(active=True).select_related("partner", "organization")
        if page_id:
            connection = connections.filter(page_id=page_id.strip()).first()
            if connection is None:
                raise CommandError(f"Page {page_id} is not connected (connect_meta_page).")
            return connection
        found = list(connections[:2])
        if len(found) != 1:
            raise CommandError("Give --page-id: " + ("no page is connected." if not found else "several are."))
        return found[0]

    def handle(self, *args, **opts):
        connection = self._connection(opts["page_id"])
        since = _since(opts["since"])

        def progress(stats: BackfillStats) -> None:
            self.stdout.write(
                f"page {stats.pages}: {stats.seen} leads seen, {stats.new} new, {stats.known} already known, "
                f"{stats.failed} failed"
            )

        try:
            stats = facebook_form_backfill(
                connection=connection,
                form_id=opts["form_id"].strip(),
                since=since,
                page_size=max(1, min(opts["page_size"], 500)),
                progress=progress,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except GraphError as exc:
            raise CommandError(f"Graph error, nothing lost (run again later): {exc.summary()}") from exc
        style = self.style.WARNING if stats.failed else self.style.SUCCESS
        self.stdout.write(
            style(
                f"Done: {stats.seen} leads in {stats.pages} pages; {stats.new} new, {stats.known} already known, "
                f"{stats.failed} failed (see the webhook events in the admin)."
            )
        )
