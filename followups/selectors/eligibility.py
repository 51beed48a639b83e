"""May a marketing email go to this lead now? The one answer the tick and the sender both ask (SPEC §11, §12).

``None`` means yes; otherwise the reason: ``no_email``, ``erased``, ``opted_out`` (withdrawn),
``consent_pending`` (double opt-in not confirmed yet), ``no_consent`` (never given, or expired),
``suppressed`` (hard bounce or complaint on the suppression list).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from compliance.selectors.consent import PENDING, REVOKED, consent_states
from followups.models import EmailSuppression

MARKETING = "MARKETING_EMAIL"

NO_EMAIL = "no_email"
ERASED = "erased"
OPTED_OUT = "opted_out"
CONSENT_PENDING = "consent_pending"
NO_CONSENT = "no_consent"
SUPPRESSED = "suppressed"


def _static_reason(lead: Any) -> str | None:
    if lead.erased_at is not None:
        return ERASED
    if not lead.email or not lead.email_hash:
        return NO_EMAIL
    if lead.opted_out_at is not None:
        return OPTED_OUT  # the cached withdrawal; the ledger below is the authority otherwise
    return None


def email_block_reasons(leads: Iterable[Any], *, now: dt.datetime | None = None) -> dict[Any, str | None]:
    """``email_block_reason`` for many leads at once: two queries (suppression list, consent ledger)."""
    now = now or timezone.now()
    leads = list(leads)
    reasons: dict[Any, str | None] = {lead.pk: _static_reason(lead) for lead in leads}
    open_leads = [lead for lead in leads if reasons[lead.pk] is None]
    if not open_leads:
        return reasons
    suppressed = set(
        EmailSuppression.objects.filter(email_hash__in={lead.email_hash for lead in open_leads}).values_list(
            "email_hash", flat=True
        )
    )
    states = consent_states(open_leads, MARKETING, at=now)
    for lead in open_leads:
        if lead.email_hash in suppressed:
            reasons[lead.pk] = SUPPRESSED
            continue
        state = states[lead.pk]
        if state.allowed:
            continue
        if state.status == REVOKED:
            reasons[lead.pk] = OPTED_OUT
        elif state.status == PENDING:
            reasons[lead.pk] = CONSENT_PENDING
        else:
            reasons[lead.pk] = NO_CONSENT
    return reasons


def email_block_reason(lead: Any, *, now: dt.datetime | None = None) -> str | None:
    """Why no marketing email may go to ``lead`` now, or None when it may."""
    return email_block_reasons([lead], now=now)[lead.pk]
