"""The webhooks app's retention policy: raw bodies and finished events' payloads are blanked.

Registered from ``WebhooksConfig.ready``; ``compliance.services.retention.retention_run`` applies it
(beat ``compliance-retention``) with the cutoff from ``RETENTION_WEBHOOK_BODY_DAYS``.
"""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext_lazy as _

from compliance.registry import register_retention
from webhooks.services.ledger import RETENTION_DEFAULT_DAYS, RETENTION_SETTING, webhook_payloads_purge

POLICY = "webhook_bodies"


def webhook_bodies_purge(cutoff: datetime, dry_run: bool) -> int:
    """Rows blanked (or, in a dry run, to blank): deliveries' raw bodies plus events' payloads."""
    result = webhook_payloads_purge(cutoff=cutoff, dry_run=dry_run)
    return result["bodies"] + result["payloads"]


def register_retention_policy() -> None:
    register_retention(
        POLICY,
        label=_("Webhook raw bodies and payloads"),
        setting=RETENTION_SETTING,
        default_days=RETENTION_DEFAULT_DAYS,
        purge=webhook_bodies_purge,
    )
