"""LinkedIn Lead Gen Forms: fetch each lead, map its answers, ingest it, record consents; erase withdrawn leads.

The webhook carries URNs only; the answers come from ``/rest/leadFormResponses/{id}`` and their
meaning from the form definition (cached per form id and version: a published version never
changes). ``DELETED`` means the member withdrew: that response's personal data is erased.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from compliance.models import ConsentRecord
from compliance.registry import SubjectQuery
from compliance.services import consent_grant
from compliance.services.subjects import ErasureOutcome, subject_erase
from core.exceptions import DomainError
from integrations.linkedin.client import (
    LEAD_TYPES,
    LinkedInClient,
    LinkedInPermanentError,
    form_ref_of,
    owner_kind,
)
from leads.models import Lead, LeadIdentity
from leads.services import lead_ingest
from webhooks.linkedin_mapping import map_lead_form_response
from webhooks.models import LinkedInConnection, Provider, WebhookEvent
from webhooks.registry import EventItem, HandlerResult, PermanentEventError
from webhooks.services.backfill import BackfillStats, backfill_item_process
from webhooks.services.linkedin_connections import LinkedInConnectionBroken, linkedin_call

logger = logging.getLogger(__name__)

T = TypeVar("T")

LEAD_CREATED = "lead_created"
LEAD_DELETED = "lead_deleted"
FORM_CACHE_TTL = 7 * 24 * 3600
FORM_CACHE_KEY = "webhooks:linkedin:form:{form_id}:v{version}"
MAX_BACKFILL_PAGES = 10_000
#: Why the platform erased a person whose LinkedIn response was withdrawn (the erasure's reason, audited).
WITHDRAWN_REASON = "LinkedIn: Lead-Formular-Antwort zurückgezogen"
WITHDRAWN_REASON_CODE = "linkedin_deleted"


def deleted_key(response_id: str) -> str:
    """Dedup key of a ``DELETED`` notification (``CREATED`` is keyed by the response id alone)."""
    return f"deleted:{response_id}"


def linkedin_connection_for(owner_urn: str) -> LinkedInConnection:
    """Return the active connection of an owner, or fail the event: without a token the lead cannot be fetched."""
    connection = (
        LinkedInConnection.objects.select_related("partner", "organization")
        .filter(owner_urn=owner_urn, active=True)
        .first()
        if owner_urn
        else None
    )
    if connection is None or not connection.access_token:
        raise PermanentEventError(
            _("%(owner)s is not connected; connect it with LinkedIn and the lead is fetched then.")
            % {"owner": owner_urn or "?"},
            code="no_connection",
        )
    if connection.is_broken:
        raise PermanentEventError(
            _("The LinkedIn token of %(owner)s is broken; connect it again and the lead is fetched then.")
            % {"owner": owner_urn},
            code="token_invalid",
        )
    return connection


def _fetch(connection: LinkedInConnection, call: Callable[[LinkedInClient], T]) -> T:
    """Call LinkedIn for an event: a dead token or a permanent 4xx fails it, throttling and 5xx defer it."""
    try:
        return linkedin_call(connection=connection, call=call)
    except LinkedInConnectionBroken as exc:
        raise PermanentEventError(exc.message, code="token_invalid") from None
    except LinkedInPermanentError as exc:
        raise PermanentEventError(exc.summary(), code="linkedin_error") from None


def linkedin_form_get(*, connection: LinkedInConnection, form_id: str, version: str) -> dict[str, Any]:
    """The form definition for a versioned form URN, from the cache or ``/rest/leadForms/{id}``."""
    cache_key = FORM_CACHE_KEY.format(form_id=form_id, version=version)
    try:
        cached = cache.get(cache_key)
    except Exception:
        cached = None
    if isinstance(cached, dict):
        return cached
    form = _fetch(connection, lambda client: client.lead_form(form_id))
    # The endpoint returns the current version; cache it under the version it says it is.
    fetched_version = str(form.get("versionId") or version)
    try:
        cache.set(FORM_CACHE_KEY.format(form_id=form_id, version=fetched_version), form, FORM_CACHE_TTL)
    except Exception:
        logger.warning("Cannot cache the LinkedIn form definition", extra={"form_id": form_id})
    return form


def _form_for(connection: LinkedInConnection, response: dict[str, Any]) -> dict[str, Any]:
    embedded = response.get("form")
    if isinstance(embedded, dict) and (embedded.get("content") or {}).get("questions"):
        return embedded
    ref = form_ref_of(response.get("versionedLeadGenFormUrn"))
    if ref is None:
        raise PermanentEventError(
            _("The lead names no versioned form; its answers cannot be mapped."), code="invalid_payload"
        )
    return linkedin_form_get(connection=connection, form_id=ref[0], version=ref[1])


@transaction.atomic
def linkedin_lead_ingest(
    *, connection: LinkedInConnection, response: dict[str, Any], form: dict[str, Any] | None, response_id: str
) -> Lead:
    """Ingest one lead for its owner (a partner's ad account routes to the partner) and record its consents."""
    mapped = map_lead_form_response(response, form, response_id=response_id, owner_urn=connection.owner_urn)
    result = lead_ingest(
        payload=mapped.payload,
        channel=Lead.Channel.LINKEDIN,
        partner=connection.partner,
        tenant=connection.organization if connection.partner is None else None,
        idempotency_key=response_id,
        actor=None,
        activity="form_submitted",
    )
    if not result.duplicate:
        for consent in mapped.consents:
            if not consent.accepted:
                continue
            consent_grant(
                code=ConsentRecord.Code.FORM_DISCLAIMER,
                # A published form version is immutable: id and version name the consent text.
                version=f"li-form-{mapped.form_id}-v{mapped.form_version}"[:40],
                actor=None,
                lead=result.lead,
                text=consent.text or f"consent {consent.consent_id}",
                source=ConsentRecord.Source.WEBHOOK,
                evidence={
                    "source": "linkedin_lead_gen",
                    "response_id": response_id,
                    "form_id": mapped.form_id,
                    "form_version": mapped.form_version,
                    "consent_id": consent.consent_id,
                    "required": consent.required,
                    "owner": connection.owner_urn,
                    "submitted_at": response.get("submittedAt"),
                },
            )
    return result.lead


def _withdrawn(response_id: str) -> bool:
    return WebhookEvent.objects.filter(provider=Provider.LINKEDIN, dedup_key=deleted_key(response_id)).exists()


def linkedin_lead_created_handle(event: WebhookEvent) -> HandlerResult:
    """Handler for ``CREATED``: fetch the response, resolve its form, ingest."""
    item = event.item
    response_id = str(item.get("response_id") or "")
    if not response_id:
        raise PermanentEventError(_("The notification has no lead form response."), code="invalid_payload")
    if _withdrawn(response_id):
        return HandlerResult(status=WebhookEvent.Status.IGNORED, error_code="withdrawn", message="member withdrew")
    connection = linkedin_connection_for(str(item.get("owner") or ""))
    response = item.get("response") or _fetch(connection, lambda client: client.lead_form_response(response_id))
    form = _form_for(connection, response)
    lead = linkedin_lead_ingest(connection=connection, response=response, form=form, response_id=response_id)
    if _withdrawn(response_id):
        # DELETED was processed while we fetched: it found no lead, so erase now.
        linkedin_response_erase(response_id=response_id, actor=None)
    return HandlerResult(lead=lead)


def linkedin_lead_deleted_handle(event: WebhookEvent) -> HandlerResult:
    """Handler for ``DELETED``: the member withdrew, so the person is erased (Art. 17) and a tombstone kept."""
    response_id = str(event.item.get("response_id") or "")
    if not response_id:
        raise PermanentEventError(_("The notification has no lead form response."), code="invalid_payload")
    outcome = linkedin_response_erase(response_id=response_id, actor=None)
    lead_ids = outcome.erasure.lead_ids if outcome.erasure is not None else []
    # The event points at the person's live lead (the merge survivor), else at any of their leads.
    lead = Lead.objects.filter(pk__in=lead_ids).order_by(F("merged_into").asc(nulls_first=True), "created_at").first()
    return HandlerResult(lead=lead, message=f"{outcome.lead_count} lead(s) erased")


def linkedin_response_erase(*, response_id: str, actor: User | None) -> ErasureOutcome:
    """Erase the person a lead form response belongs to, through the erasure request (crash-safe, audited).

    The person is found by the response's identity (it follows merges) and the response id column;
    everything every app holds about them is destroyed, a tombstone flags them should they come back.
    A response nobody holds (``DELETED`` before ``CREATED`` was processed) erases nothing: the
    ``CREATED`` handler ignores a withdrawn response. A second ``DELETED`` is a ledger duplicate.
    """
    outcome = subject_erase(
        SubjectQuery(LeadIdentity.Kind.LINKEDIN_RESPONSE_ID, response_id),
        actor=actor,
        reason=WITHDRAWN_REASON,
        reason_code=WITHDRAWN_REASON_CODE,
    )
    logger.info("LinkedIn response erased", extra={"leads": outcome.lead_count})
    return outcome


# --- Backfill ---------------------------------------------------------------------------------


def linkedin_backfill(
    *,
    connection: LinkedInConnection,
    since: datetime | None = None,
    lead_types: tuple[str, ...] | None = None,
    page_size: int = 10,
    test_leads: bool = False,
    progress: Callable[[BackfillStats], None] | None = None,
) -> BackfillStats:
    """Fetch the owner's leads with the ``q=owner`` finder (offset paging) and process those not yet known.

    Idempotent through the ledger's dedup key (the response id): leads that came by webhook, or in
    an earlier run, are counted as known and left alone. LinkedIn keeps leads for 365 days.
    """
    if connection.is_broken:
        raise DomainError(_("The LinkedIn token is broken; connect the account again first."), code="token_invalid")
    now = timezone.now()
    since_ms = int(since.timestamp() * 1000) if since else None
    until_ms = int(now.timestamp() * 1000) if since else None
    stats = BackfillStats()
    for lead_type in lead_types or LEAD_TYPES.get(owner_kind(connection.owner_urn), ("SPONSORED",)):
        start = 0
        for _page in range(MAX_BACKFILL_PAGES):
            page = linkedin_call(
                connection=connection,
                call=lambda client, start=start, lead_type=lead_type: client.lead_form_responses(
                    owner_urn=connection.owner_urn,
                    lead_type=lead_type,
                    start=start,
                    count=page_size,
                    since_ms=since_ms,
                    until_ms=until_ms,
                    test_leads=test_leads,
                ),
            )
            elements = [e for e in page.get("elements") or [] if isinstance(e, dict)]
            stats.pages += 1
            for response in elements:
                stats.seen += 1
                _backfill_one(connection=connection, response=response, lead_type=lead_type, stats=stats)
            if progress:
                progress(stats)
            start += len(elements)
            total = (page.get("paging") or {}).get("total")
            # Rest.li offset paging: stop at the total, or (without one) at the first short page.
            done = start >= total if isinstance(total, int) else len(elements) < page_size
            if not elements or done:
                break
    return stats


def _backfill_one(
    *, connection: LinkedInConnection, response: dict[str, Any], lead_type: str, stats: BackfillStats
) -> None:
    response_id = str(response.get("id") or "")
    if not response_id:
        stats.failed += 1
        return
    item = EventItem(
        event_type=LEAD_CREATED,
        dedup_key=response_id,
        object_id=connection.owner_urn,
        payload={
            "source": "backfill",
            "response_id": response_id,
            "owner": connection.owner_urn,
            "lead_type": lead_type,
            "response": response,
        },
    )
    backfill_item_process(provider=Provider.LINKEDIN, item=item, stats=stats)
