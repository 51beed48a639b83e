"""Which leads an export holds (``export_leads``): one place for its filters."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from accounts.models import Organization
from leads.models import Lead


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
