"""The leads app's retention policy: leads without activity and without a deal are anonymised.

A lead whose last activity (or, without one, its creation) lies before the cutoff
(``RETENTION_INACTIVE_LEAD_DAYS``, default three years), that never became a deal, is not merged
away and not erased yet, is anonymised together with the leads merged into it: every eraser of the
subject data registry runs (``compliance.services.retention.subject_anonymize_for_retention``), the
row stays as an anonymous statistic. No tombstone: the person did not ask to be forgotten.

This module only selects; ``compliance`` destroys. Deals are reached through the reverse relation
``deal`` (``leads`` may not import ``deals``). Registered from ``LeadsConfig.ready``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.registry import register_retention
from compliance.services.retention import PurgeIncomplete, retention_batch_size, subject_anonymize_for_retention
from leads.models import Lead

logger = logging.getLogger(__name__)

POLICY = "inactive_leads"
SETTING = "RETENTION_INACTIVE_LEAD_DAYS"
DEFAULT_DAYS = 3 * 365


def inactive_leads(cutoff: datetime) -> QuerySet[Lead]:
    """Live leads (not merged away, not erased) without a deal whose last activity or creation is before ``cutoff``."""
    return Lead.objects.filter(erased_at__isnull=True, merged_into__isnull=True, deal__isnull=True).filter(
        Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True, created_at__lt=cutoff)
    )


def _families(roots: list, cutoff: datetime) -> dict:
    """Each root → the not yet erased leads merged into it (transitively); None for a root to keep.

    A root is kept when a lead merged into it has a deal or an activity after the cutoff: the
    person is not inactive after all.
    """
    families: dict = {root: [] for root in roots}
    owner = {root: root for root in roots}
    level = list(roots)
    while level:
        rows = (
            Lead.objects.filter(merged_into__in=level)
            .annotate(active_at=Coalesce("last_activity_at", "created_at"))
            .values_list("pk", "merged_into_id", "erased_at", "deal__pk", "active_at")
        )
        level = []
        for pk, parent, erased_at, deal_pk, active_at in rows:
            if pk in owner:  # a cycle would be a bug elsewhere; never loop on it
                continue
            root = owner[pk] = owner[parent]
            level.append(pk)
            if families[root] is None:
                continue
            if deal_pk is not None or active_at >= cutoff:
                families[root] = None
            elif erased_at is None:
                families[root].append(pk)
    return families


def _batches(cutoff: datetime) -> Iterator[dict]:
    """Root → family, a batch of roots at a time (keyset on the primary key, so a kept root is passed once)."""
    last = None
    batch = retention_batch_size()
    while True:
        page = inactive_leads(cutoff).order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        roots = list(page.values_list("pk", flat=True)[:batch])
        if not roots:
            return
        yield _families(roots, cutoff)
        if len(roots) < batch:
            return
        last = roots[-1]


def inactive_leads_purge(cutoff: datetime, dry_run: bool) -> int:
    """Anonymise inactive leads and the leads merged into them; returns how many leads (would) go.

    Each person is one transaction: the root is locked and checked again first, so an activity or a
    conversion that came in since the selection keeps the lead.
    """
    done = failed = 0
    at = timezone.now()
    for families in _batches(cutoff):
        for root, family in families.items():
            if family is None:
                continue
            if dry_run:
                done += 1 + len(family)
                continue
            try:
                with transaction.atomic():
                    still = inactive_leads(cutoff).select_for_update(of=("self",)).filter(pk=root)
                    if not list(still.values_list("pk", flat=True)):
                        continue
                    done += subject_anonymize_for_retention([root, *family], at=at)
            except SoftTimeLimitExceeded:
                raise PurgeIncomplete(
                    "Stopped by the time limit; the next run continues.", done=done, stop=True
                ) from None
            except Exception:
                failed += 1
                logger.exception("Inactive lead not anonymised", extra={"lead_id": str(root)})
    if failed:
        raise PurgeIncomplete(f"{failed} inactive leads could not be anonymised (lead ids in the log).", done=done)
    return done


def register_retention_policy() -> None:
    register_retention(
        POLICY,
        label=_("Inactive leads (anonymised)"),
        setting=SETTING,
        default_days=DEFAULT_DAYS,
        purge=inactive_leads_purge,
    )
