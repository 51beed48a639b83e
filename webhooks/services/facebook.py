"""Facebook Lead Ads: fetch each lead from Graph, map its answers, ingest it, record disclaimer consents."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from compliance.models import ConsentRecord
from compliance.services import consent_grant
from core.exceptions import DomainError
from integrations.meta.graph import (
    GraphClient,
    GraphPermanentError,
    GraphRateLimitError,
    GraphTokenError,
    GraphTransientError,
)
from leads.models import Lead
from leads.services import lead_ingest
from leads.services.consent import ConsentContext
from leads.services.ingest import form_route_for
from webhooks.mapping import checked_disclaimers, map_graph_lead
from webhooks.models import MetaPageConnection, Provider, WebhookEvent
from webhooks.registry import EventItem, HandlerResult, PermanentEventError
from webhooks.services.backfill import BackfillStats, backfill_item_process
from webhooks.services.connections import (
    meta_connection_mark_broken,
    meta_connection_mark_success,
    meta_connection_note_error,
)

logger = logging.getLogger(__name__)

LEADGEN = "leadgen"


def facebook_connection_for(page_id: str) -> MetaPageConnection:
    """Return the active connection of a page, or fail the event: without a token we cannot fetch the lead."""
    connection = (
        MetaPageConnection.objects.select_related("partner", "organization")
        .filter(page_id=page_id, active=True)
        .first()
    )
    if connection is None and page_id and page_id == settings.META_ADS_PAGE_ID and settings.META_ADS_ACCESS_TOKEN:
        # The platform's ad page (managed campaigns) is read with the system user's token (SPEC §9).
        return MetaPageConnection(page_id=page_id, access_token=settings.META_ADS_ACCESS_TOKEN)
    if connection is None or not connection.access_token:
        raise PermanentEventError(
            _("Page %(page)s is not connected; connect it (connect_meta_page) and the lead is fetched then.")
            % {"page": page_id},
            code="no_connection",
        )
    if connection.is_broken:
        raise PermanentEventError(
            _("The token of page %(page)s is broken; reconnect the page and the lead is fetched then.")
            % {"page": page_id},
            code="token_invalid",
        )
    return connection


def facebook_lead_fetch(*, connection: MetaPageConnection, leadgen_id: str) -> dict[str, Any]:
    """Fetch a lead from Graph; a dead token breaks the connection (once), throttling is retried later."""
    try:
        lead_data = GraphClient(connection.access_token).lead(leadgen_id)
    except GraphTokenError as exc:
        meta_connection_mark_broken(connection=connection, error=exc)
        raise PermanentEventError(exc.summary(), code="token_invalid") from None
    except GraphPermanentError as exc:
        meta_connection_note_error(connection=connection, error=exc)
        raise PermanentEventError(exc.summary(), code="graph_error") from None
    except GraphRateLimitError as exc:
        meta_connection_note_error(connection=connection, error=exc)
        raise
    except GraphTransientError:
        raise
    meta_connection_mark_success(connection=connection)
    return lead_data


@transaction.atomic
def facebook_lead_ingest(*, connection: MetaPageConnection, lead_data: dict[str, Any], leadgen_id: str) -> Lead:
    """Ingest one Graph lead for its page (a partner's page routes to the partner) and record its consents."""
    payload = map_graph_lead(lead_data, overrides=connection.field_overrides)
    payload["facebook_lead_id"] = leadgen_id
    form_id = str(lead_data.get("form_id") or "")
    # A published lead form cannot be edited (changes make a new form): its id versions the text.
    version = f"fb-form-{form_id}"[:40]
    evidence = {
        "source": "facebook_lead_ads",
        "leadgen_id": leadgen_id,
        "form_id": form_id,
        "page_id": connection.page_id,
        "created_time": str(lead_data.get("created_time") or ""),
    }
    result = lead_ingest(
        payload=payload,
        channel=Lead.Channel.FACEBOOK,
        partner=connection.partner,
        tenant=connection.organization if connection.partner is None else None,
        idempotency_key=leadgen_id,
        actor=None,
        activity="form_submitted",
        # A marketing checkbox mapped to ``consent_marketing`` is recorded with the form as its wording.
        consent=ConsentContext(source=ConsentRecord.Source.WEBHOOK, version=version, evidence=evidence),
        # A booked campaign's form routes to the booking partner (``leads.LeadFormRoute``).
        route=form_route_for(form_id),
    )
    if not result.duplicate:
        for checkbox in checked_disclaimers(lead_data):
            consent_grant(
                code=ConsentRecord.Code.FORM_DISCLAIMER,
                version=version,
                actor=None,
                lead=result.lead,
                text=checkbox["checkbox_key"],
                source=ConsentRecord.Source.WEBHOOK,
                evidence={**evidence, "checkbox_key": checkbox["checkbox_key"]},
            )
    return result.lead


def facebook_leadgen_handle(event: WebhookEvent) -> HandlerResult:
    """Handler for ``leadgen`` events: the webhook carries ids only, the answers come from Graph."""
    item = event.item
    value = item.get("value") or {}
    leadgen_id = str(value.get("leadgen_id") or "")
    page_id = str(value.get("page_id") or item.get("entry_id") or "")
    if not leadgen_id:
        raise PermanentEventError(_("The change has no leadgen_id."), code="invalid_payload")
    connection = facebook_connection_for(page_id)
    lead_data = item.get("lead") or facebook_lead_fetch(connection=connection, leadgen_id=leadgen_id)
    lead = facebook_lead_ingest(connection=connection, lead_data=lead_data, leadgen_id=leadgen_id)
    return HandlerResult(lead=lead)


# --- Backfill ---------------------------------------------------------------------------------


def facebook_form_backfill(
    *,
    connection: MetaPageConnection,
    form_id: str,
    since: datetime | None = None,
    page_size: int = 100,
    progress: Callable[[BackfillStats], None] | None = None,
) -> BackfillStats:
    """Fetch every lead of a form (cursor paging) and process those not yet in the ledger.

    Idempotent through the ledger's dedup key (the leadgen id): leads that came by webhook, or
    in an earlier backfill run, are counted as known and left alone.
    """
    if connection.is_broken:
        raise DomainError(_("The page token is broken; reconnect the page first."), code="token_invalid")
    client = GraphClient(connection.access_token)
    stats = BackfillStats()
    after: str | None = None
    while True:
        try:
            page = client.form_leads(
                form_id, after=after, since=int(since.timestamp()) if since else None, limit=page_size
            )
        except GraphTokenError as exc:
            meta_connection_mark_broken(connection=connection, error=exc)
            raise DomainError(exc.summary(), code="token_invalid") from None
        stats.pages += 1
        for lead_data in page.get("data") or []:
            stats.seen += 1
            _backfill_one(connection=connection, form_id=form_id, lead_data=lead_data, stats=stats)
        if progress:
            progress(stats)
        paging = page.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        if not paging.get("next") or not after or not page.get("data"):
            break
    meta_connection_mark_success(connection=connection)
    return stats


def _backfill_one(*, connection: MetaPageConnection, form_id: str, lead_data: dict, stats: BackfillStats) -> None:
    leadgen_id = str(lead_data.get("id") or "")
    if not leadgen_id:
        stats.failed += 1
        return
    item = EventItem(
        event_type=LEADGEN,
        dedup_key=leadgen_id,
        object_id=connection.page_id,
        payload={
            "source": "backfill",
            "entry_id": connection.page_id,
            "value": {"leadgen_id": leadgen_id, "page_id": connection.page_id, "form_id": form_id},
            "lead": lead_data,
        },
    )
    backfill_item_process(provider=Provider.FACEBOOK, item=item, stats=stats)
