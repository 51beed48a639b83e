"""Lead files out (``export_leads``): which leads, in which columns, written to CSV/XLSX.

The columns are the names ``ColumnMap`` maps back on import, so an export round-trips.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from compliance.services import audit_record
from core.csv import csv_safe
from leads.imports.readers import ImportFileError
from leads.models import ATTRIBUTION_FIELDS, Lead


def lead_export_queryset(
    *,
    tenant: Organization | None = None,
    channel: str | None = None,
    source: str | None = None,
    status: str | None = None,
    stage: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    include_merged: bool = False,
    include_test: bool = False,
) -> QuerySet[Lead]:
    """Leads matching every given filter; merged-away and test leads only when asked for."""
    leads = Lead.objects.all()
    if tenant is not None:
        leads = leads.filter(tenant=tenant)
    exact = {"channel": channel, "source": source, "status": status, "stage": stage}
    leads = leads.filter(**{name: value for name, value in exact.items() if value})
    if since is not None:
        leads = leads.filter(created_at__gte=since)
    if until is not None:
        leads = leads.filter(created_at__lt=until)
    if not include_merged:
        leads = leads.filter(merged_into__isnull=True)
    if not include_test:
        leads = leads.filter(is_test=False)
    return leads


class LeadFileWriter:
    """Write rows to CSV (UTF-8 with BOM, ";" for German Excel) or XLSX (openpyxl write-only)."""

    def __init__(self, path: str | Path, *, fmt: str, headers: list[str]):
        self.path = Path(path)
        self.format = fmt
        self.count = 0
        if fmt == "xlsx":
            from openpyxl import Workbook

            self._workbook = Workbook(write_only=True)
            self._sheet = self._workbook.create_sheet("Leads")
            self._sheet.append(headers)
        elif fmt == "csv":
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle, delimiter=";")
            self._writer.writerow(headers)
        else:
            raise ImportFileError(_("Unknown export format %(fmt)s (csv or xlsx).") % {"fmt": fmt})

    def write(self, values: list[Any]) -> None:
        self.count += 1
        if self.format == "xlsx":
            self._sheet.append([_xlsx_value(v) for v in values])
        else:
            self._writer.writerow([csv_safe(v) for v in values])

    def close(self) -> None:
        if self.format == "xlsx":
            self._workbook.save(self.path)
        else:
            self._handle.close()


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str) and value[:1] == "=":
        return "'" + value
    return value


EXPORT_COLUMNS = (
    "public_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "company_name",
    "company_domain",
    "job_title",
    "industry",
    "employees",
    "company_size_band",
    "revenue_band",
    "interest_type",
    "postcode",
    "city",
    "region",
    "country",
    "consent_marketing",
    "consent_at",
    "opted_out_at",
    "is_test",
    *ATTRIBUTION_FIELDS,
    "channel",
    "source",
    "status",
    "stage",
    "score",
    "created_at",
    "attributes",
)


def _export_value(lead: Lead, name: str) -> Any:
    value = getattr(lead, name)
    if name == "attributes":
        return json.dumps(value or {}, ensure_ascii=False, cls=DjangoJSONEncoder) if value else ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return "" if value is None else value


def lead_export_file(
    *,
    path: str | os.PathLike[str],
    fmt: str,
    queryset: QuerySet[Lead],
    actor: User | None,
    filters: dict[str, Any],
    tenant: Organization | None = None,
) -> int:
    """Write leads decrypted to CSV/XLSX in the import's column names (round trips); audited."""
    writer = LeadFileWriter(path, fmt=fmt, headers=list(EXPORT_COLUMNS))
    try:
        for lead in queryset.order_by("created_at", "pk").iterator(chunk_size=2000):
            writer.write([_export_value(lead, name) for name in EXPORT_COLUMNS])
    finally:
        writer.close()
    # Exporting decrypted PII is itself a processing step worth an audit entry (DSGVO Art. 30).
    audit_record(
        event_type="leads.exported",
        actor=actor,
        tenant=tenant,
        payload={"format": fmt, "count": writer.count, "filters": filters, "file": os.fspath(path).rsplit("/", 1)[-1]},
    )
    return writer.count
