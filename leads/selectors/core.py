"""Read queries on leads, tenant-scoped."""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from compliance.blind_index import email_index, phone_index
from leads.models import PUBLIC_ID_PREFIX, Lead

_PHONEISH = re.compile(r"^[+\d][\d\s()/.-]{4,}$")


def lead_search_q(term: str) -> Q | None:
    """Exact search by email, phone or public id through the blind indexes (PII is encrypted).

    Returns None when the term cannot match anything exactly.
    """
    term = (term or "").strip()
    if not term:
        return None
    if term.upper().startswith(PUBLIC_ID_PREFIX):
        return Q(public_id=term.upper())
    if "@" in term:
        return Q(email_hash=email_index(term))
    if _PHONEISH.match(term):
        return Q(phone_hash=phone_index(term))
    return None


def lead_list_live(*, tenant=None) -> QuerySet[Lead]:
    """Leads that are not merged away, optionally for one tenant."""
    qs = Lead.objects.filter(merged_into__isnull=True).select_related("tenant", "assigned_partner")
    return qs.filter(tenant=tenant) if tenant is not None else qs
