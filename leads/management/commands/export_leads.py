"""``manage.py export_leads FILE``: leads decrypted to CSV/XLSX in the columns ``import_leads`` reads back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from leads.imports.columns import parse_date
from leads.imports.export import lead_export_file, lead_export_queryset
from leads.imports.readers import ImportFileError
from leads.management.lookups import organization_by_slug_or_id, user_by_email
from leads.models import Lead


class Command(BaseCommand):
    help = (
        "Export leads (decrypted, audited) to CSV or XLSX: export_leads FILE [--format csv|xlsx] [--tenant T] "
        "[--channel C] [--source S] [--status S] [--stage S] [--since DATE] [--until DATE]. "
        "The columns are the ones import_leads maps automatically, so a file round-trips."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Target file (.csv or .xlsx).")
        parser.add_argument("--format", choices=("csv", "xlsx"), default=None, help="Default: from the file name.")
        parser.add_argument("--tenant", default=None, help="Organization slug or id (default: every tenant).")
        parser.add_argument("--channel", choices=Lead.Channel.values, default=None)
        parser.add_argument("--source", choices=Lead.Source.values, default=None)
        parser.add_argument("--status", choices=Lead.Status.values, default=None)
        parser.add_argument("--stage", choices=Lead.Stage.values, default=None)
        parser.add_argument("--since", default=None, help="Created on or after (2026-01-31 or 31.01.2026).")
        parser.add_argument("--until", default=None, help="Created before (exclusive).")
        parser.add_argument("--include-merged", action="store_true", help="Also leads merged into others.")
        parser.add_argument("--include-test", action="store_true", help="Also test leads.")
        parser.add_argument("--actor", default=None, help="Email of the user exporting (audit trail).")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["file"])
        fmt = opts["format"] or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
        if not path.parent.is_dir():
            raise CommandError(_("Directory does not exist: %(path)s") % {"path": path.parent})
        tenant = self._tenant(opts["tenant"]) if opts["tenant"] else None
        dates = {name: self._date(name, opts[name]) if opts[name] else None for name in ("since", "until")}
        leads = lead_export_queryset(
            tenant=tenant,
            channel=opts["channel"],
            source=opts["source"],
            status=opts["status"],
            stage=opts["stage"],
            include_merged=opts["include_merged"],
            include_test=opts["include_test"],
            **dates,
        )
        # What the audit event records about the selection.
        filters: dict[str, Any] = {
            name: opts[name] for name in ("channel", "source", "status", "stage", "since", "until") if opts[name]
        }
        if tenant is not None:
            filters["tenant"] = tenant.slug
        try:
            count = lead_export_file(
                path=path, fmt=fmt, queryset=leads, actor=self._actor(opts["actor"]), filters=filters, tenant=tenant
            )
        except (ImportFileError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                _("%(count)s leads written to %(path)s (decrypted personal data: keep it safe, delete it when done).")
                % {"count": count, "path": path}
            )
        )

    def _date(self, name: str, value: str) -> dt.datetime:
        parsed = parse_date(value)
        if parsed is None:
            raise CommandError(_("--%(name)s %(value)r is not a date.") % {"name": name, "value": value})
        return parsed

    def _tenant(self, value: str) -> Organization:
        return organization_by_slug_or_id(value)

    def _actor(self, email: str | None) -> User | None:
        return user_by_email(email) if email else None
