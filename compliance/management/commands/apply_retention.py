"""Apply the retention policies now, or list what they would remove (``--dry-run``)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from compliance.registry import retention_policies
from compliance.services.retention import RetentionReport, UnknownRetentionPolicy, retention_run


class Command(BaseCommand):
    help = (
        "Purge or anonymise data past its retention period (RETENTION_*_DAYS), policy by policy, in "
        "committed batches. --dry-run only counts what would go and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count what would go; change nothing.")
        parser.add_argument(
            "--only",
            nargs="+",
            metavar="KEY",
            help="Apply only these policies (keys: {}).".format(", ".join(p.key for p in retention_policies())),
        )

    def handle(self, *args, dry_run: bool, only: list[str] | None, **options):
        try:
            report = retention_run(dry_run=dry_run, only=only)
        except UnknownRetentionPolicy as exc:
            raise CommandError(exc.message) from None
        self._print(report)
        if report.failed:
            raise CommandError(
                _("Retention failed for: %(keys)s (see the log); the other policies were applied.")
                % {"keys": ", ".join(report.failed)}
            )

    def _print(self, report: RetentionReport) -> None:
        count_header = _("Would go") if report.dry_run else _("Gone")
        header = [_("Policy"), _("Description"), _("Period"), _("Cutoff"), count_header]
        rows = []
        for result in report.results:
            if result.kept_forever:
                period, cutoff, count = _("forever"), "-", "-"
            else:
                period = ngettext("%(days)d day", "%(days)d days", result.days) % {"days": result.days}
                cutoff, count = timezone.localtime(result.cutoff).strftime("%Y-%m-%d %H:%M"), str(result.count)
            if result.error:
                failed = _("failed")
                count = f"{count} ({failed})"
            rows.append([result.key, result.label, period, cutoff, count])
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                str(cell).rjust(width) if i == len(cells) - 1 else str(cell).ljust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        self.stdout.write(line(header))
        self.stdout.write("  ".join("-" * width for width in widths))
        for row in rows:
            self.stdout.write(line(row))
        total = sum(result.count for result in report.results)
        if report.dry_run:
            self.stdout.write(_("Dry run: nothing was changed; %(total)d rows would go.") % {"total": total})
        else:
            self.stdout.write(self.style.SUCCESS(_("Done: %(total)d rows purged or anonymised.") % {"total": total}))
