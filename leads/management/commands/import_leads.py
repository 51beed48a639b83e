"""``manage.py import_leads FILE``: CSV/XLSX/JSON lead files at bulk speed with dedup and an error report."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from core.exceptions import DomainError
from leads.imports.columns import ColumnMap, load_mapping
from leads.imports.files import lead_import_file
from leads.imports.plan import DEFAULT_BATCH_SIZE, ImportSummary, RowError
from leads.imports.readers import FORMATS, ROW_TEXT, ImportFileError, LeadFileReader
from leads.management.lookups import organization_by_slug_or_id, user_by_email
from leads.models import Lead

PROGRESS_EVERY_SECONDS = 5.0


class ErrorReport:
    """The refused rows as CSV (";" and a BOM, so German Excel opens it): row, column, reason, original values."""

    def __init__(self, path: Path, headers: list[str] | None):
        self.path = path
        self.headers = headers
        self.count = 0
        self._handle = None
        self._writer: Any = None

    def write(self, errors: list[RowError]) -> None:
        if not errors:
            return
        if self._writer is None:
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle, delimiter=";")
            originals = self.headers if self.headers is not None else [_("original data")]
            self._writer.writerow(["row", "column", "reason", *originals])
        for error in errors:
            self.count += 1
            if self.headers is not None:
                values = [_cell(error.values.get(h)) for h in self.headers]
                if error.values.get(""):
                    values.append(" | ".join(_cell(v) for v in error.values[""]))
            elif ROW_TEXT in error.values:  # a line that is not a JSON object, as it was in the file
                values = [error.values[ROW_TEXT]]
            else:
                values = [json.dumps(error.values, ensure_ascii=False, default=str)]
            self._writer.writerow([error.row, error.column, error.reason, *values])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


class Command(BaseCommand):
    help = (
        "Import leads from a CSV, XLSX or JSON file: headers are mapped automatically (English and German), "
        "duplicates are merged by the identity graph, refused rows go to an error report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV, XLSX, JSON array or JSON-lines file.")
        parser.add_argument("--format", choices=FORMATS, default=None, help="Default: from the file name.")
        parser.add_argument("--mapping", default=None, help='YAML/JSON file: {"Header": "field" | "attributes.x"}.')
        parser.add_argument("--source", choices=Lead.Source.values, default=None, help="Default: zone1_pool.")
        parser.add_argument("--channel", choices=Lead.Channel.values, default=Lead.Channel.IMPORT)
        parser.add_argument("--tenant", default=None, help="Organization slug or id (default: the platform pool).")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count everything, write nothing.")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--errors", default=None, help="Error report path (default: FILE.errors.csv).")
        parser.add_argument("--workers", type=int, default=None, help="Worker processes (default: one per core).")
        parser.add_argument("--encoding", default=None, help="CSV encoding (default: sniffed, UTF-8 or cp1252).")
        parser.add_argument("--delimiter", default=None, help="CSV delimiter (default: sniffed).")
        parser.add_argument("--sheet", default=None, help="XLSX worksheet (default: the first).")
        parser.add_argument("--actor", default=None, help="Email of the user running the import (audit trail).")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            reader = LeadFileReader(
                opts["file"],
                fmt=opts["format"],
                encoding=opts["encoding"],
                delimiter=opts["delimiter"],
                sheet=opts["sheet"],
            )
            overrides = load_mapping(opts["mapping"]) if opts["mapping"] else {}
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        headers = reader.headers
        columns = ColumnMap.for_headers(headers, overrides) if headers is not None else ColumnMap(overrides=overrides)
        self._describe(reader, columns)
        if headers is not None and not columns.has_identity(headers):
            raise CommandError(
                _(
                    "No column holds an email address, a phone number or an external id (headers: %(headers)s). "
                    "Name the columns with --mapping."
                )
                % {"headers": ", ".join(headers)}
            )
        tenant = self._tenant(opts["tenant"])
        actor = self._actor(opts["actor"])
        default_report = reader.path.with_name(reader.path.stem + ".errors.csv")
        report_path = Path(opts["errors"]) if opts["errors"] else default_report
        report = ErrorReport(report_path, headers)
        progress = _Progress(self, total=reader.total_rows)
        try:
            summary = lead_import_file(
                reader=reader,
                columns=columns,
                tenant=tenant,
                channel=opts["channel"],
                source=opts["source"],
                actor=actor,
                dry_run=opts["dry_run"],
                batch_size=opts["batch_size"],
                workers=opts["workers"],
                on_batch=lambda s, errors: (report.write(errors), progress.update(s)),
            )
        except ImportFileError as exc:
            raise CommandError(
                _(
                    "%(error)s The batches before that point were imported; fix the file and run the import "
                    "again (rows already imported are recognised)."
                )
                % {"error": exc}
            ) from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        finally:
            progress.close()
            report.close()
        if summary.read == 0:
            raise CommandError(_("The file contains no data rows."))
        self._summary(summary, report)

    def _describe(self, reader: LeadFileReader, columns: ColumnMap) -> None:
        detail = reader.format.upper()
        if reader.format == "csv":
            detail += f" ({reader.encoding}, {reader.delimiter!r})"
        self.stdout.write(_("Reading %(file)s as %(detail)s.") % {"file": reader.path.name, "detail": detail})
        if reader.headers is None:
            return
        described = columns.describe(reader.headers)
        self.stdout.write(_("Columns → fields: %(list)s") % {"list": ", ".join(described["fields"]) or "-"})
        if described["attributes"]:
            self.stdout.write(_("Columns → attributes: %(list)s") % {"list": ", ".join(described["attributes"])})
        if described["ignored"]:
            self.stdout.write(_("Columns ignored: %(list)s") % {"list": ", ".join(described["ignored"])})

    def _tenant(self, value: str | None) -> Organization | None:
        return organization_by_slug_or_id(value) if value else None

    def _actor(self, email: str | None) -> User | None:
        return user_by_email(email) if email else None

    def _summary(self, summary: ImportSummary, report: ErrorReport) -> None:
        title = _("Dry run (nothing written)") if summary.dry_run else _("Import finished")
        created = _("would be created") if summary.dry_run else _("created")
        merged = _("would be merged into existing leads") if summary.dry_run else _("merged into existing leads")
        rate = _("%(read)s rows read in %(seconds)s s (%(rate)s rows/s, %(workers)s worker(s))") % {
            "read": summary.read,
            "seconds": f"{summary.seconds:.1f}",
            "rate": f"{summary.rate:,.0f}",
            "workers": summary.workers,
        }
        lines = [
            f"{title}: {rate}",
            f"  {created}: {summary.created}",
            f"  {merged}: {summary.merged}",
            "  " + _("duplicates within the file: %(n)s") % {"n": summary.duplicates},
            "  " + _("refused: %(n)s") % {"n": summary.refused},
        ]
        if not summary.dry_run:
            lines[2] += " (" + _("%(n)s of them unchanged") % {"n": summary.unchanged} + ")"
        if summary.queued:
            lines.append(
                "  "
                + _("scoring and enrichment of %(n)s new leads queued in %(batches)s batches (Celery workers)")
                % {"n": summary.queued, "batches": summary.queued_batches}
            )
        for line in lines:
            self.stdout.write(line)
        if report.count:
            self.stdout.write(
                self.style.WARNING(
                    _("%(n)s refused rows are listed in %(path)s (it holds personal data: delete it when done).")
                    % {"n": report.count, "path": report.path}
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(_("No row was refused.")))


class _Progress:
    """A tqdm bar on a terminal, a plain line every few seconds otherwise (logs, CI)."""

    def __init__(self, command: BaseCommand, total: int | None):
        self.command = command
        self.bar = None
        self.read = 0
        self.last = time.monotonic()
        if command.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=" rows", unit_scale=True, dynamic_ncols=True)

    def update(self, summary: ImportSummary) -> None:
        if self.bar is not None:
            self.bar.update(summary.read - self.read)
            self.bar.set_postfix(created=summary.created, merged=summary.merged, refused=summary.refused)
        elif time.monotonic() - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = time.monotonic()
            self.command.stdout.write(
                _(
                    "… %(read)s rows: %(created)s created, %(merged)s merged, %(dup)s duplicates, "
                    "%(refused)s refused (%(rate)s rows/s)"
                )
                % {
                    "read": summary.read,
                    "created": summary.created,
                    "merged": summary.merged,
                    "dup": summary.duplicates,
                    "refused": summary.refused,
                    "rate": f"{summary.rate:,.0f}",
                }
            )
        self.read = summary.read

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
