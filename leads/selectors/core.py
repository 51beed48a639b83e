"""Read queries on leads, tenant-scoped."""

from __future__ import annotations

import re
import uuid

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from compliance.blind_index import email_index, phone_index
from core.exceptions import NotFoundError
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


def lead_queryset_for(principal) -> QuerySet[Lead]:
    """Live leads a principal may reach: staff all, partners their tenant's and assigned ones, keys their tenant's."""
    qs = Lead.objects.filter(merged_into__isnull=True).select_related("tenant", "assigned_partner")
    role = getattr(principal, "role", None)
    if role in User.STAFF_ROLES:
        return qs
    if getattr(principal, "is_partner", False):
        return qs.filter(Q(tenant_id=principal.organization_id) | Q(assigned_partner_id=principal.pk))
    organization = getattr(principal, "organization", None)
    if organization is not None and getattr(principal, "api_key", None) is not None:
        return qs.filter(tenant_id=organization.pk)
    return qs.none()


def lead_get_for(principal, lead_ref: str) -> Lead:
    """One reachable lead by uuid or public id; anything else (another tenant's too) is a 404."""
    ref = (lead_ref or "").strip()
    qs = lead_queryset_for(principal)
    if ref.upper().startswith(PUBLIC_ID_PREFIX):
        lead = qs.filter(public_id=ref.upper()).first()
    else:
        try:
            lead = qs.filter(pk=uuid.UUID(ref)).first()
        except ValueError:
            lead = None
    if lead is None:
        raise NotFoundError(_("Lead not found."))
    return lead
