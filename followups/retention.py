"""The followups app's retention policy: email events older than ``RETENTION_EMAIL_EVENT_DAYS`` are deleted.

Events carry the ESP's payload (addresses inside) and feed only statistics; the email itself keeps
its status, first timestamps and counts. Suppression entries pointing at a deleted event keep the
address's blind index (their ``event`` becomes NULL). Registered from ``followups.subject_data``;
``compliance.services.retention.retention_run`` applies it (beat ``compliance-retention``).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from compliance.registry import register_retention
from compliance.services.retention import retention_batch_size
from followups.models import EmailEvent

POLICY = "email_events"
SETTING = "RETENTION_EMAIL_EVENT_DAYS"
DEFAULT_DAYS = 365


def email_events_purge(cutoff: datetime, dry_run: bool) -> int:
    """Delete events received before ``cutoff``, a batch per transaction (the ``created_at`` index, oldest
    first); in a dry run only count them."""
    old = EmailEvent.objects.filter(created_at__lt=cutoff)
    if dry_run:
        return old.count()
    batch = retention_batch_size()
    total = 0
    while True:
        ids = list(old.order_by("created_at", "pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        with transaction.atomic():
            # ``only("pk")``: the collector loads no payloads (nothing to decrypt); suppressions get NULL.
            _count, per_model = EmailEvent.objects.filter(pk__in=ids).only("pk").delete()
            total += per_model.get(EmailEvent._meta.label, 0)
        if len(ids) < batch:
            return total


def register_retention_policy() -> None:
    register_retention(
        POLICY,
        label=_("Email events (opens, clicks, bounces)"),
        setting=SETTING,
        default_days=DEFAULT_DAYS,
        purge=email_events_purge,
    )
