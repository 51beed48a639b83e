"""Meta page connections: connect or update a page, and keep its health (success, errors, broken token)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Notification, User
from accounts.selectors import staff_list_active
from accounts.services import notify
from compliance.services import audit_record
from core.exceptions import DomainError
from core.transactions import on_commit
from integrations.meta.graph import GraphError
from webhooks.models import MetaPageConnection, Provider
from webhooks.services.ledger import webhook_events_replay_failed

logger = logging.getLogger(__name__)

#: Event failures a reconnect (new token, newly connected page) can cure.
RECONNECT_CURES = ("token_invalid", "no_connection")


def _check_partner(partner: User | None) -> None:
    if partner is not None and not partner.is_partner:
        raise DomainError(_("%(email)s is not a sales partner.") % {"email": partner.email}, code="invalid_partner")


@transaction.atomic
def meta_page_save(
    *, connection: MetaPageConnection, access_token: str | None, actor: User | None
) -> MetaPageConnection:
    """Save a page connection; a new token clears the broken state and replays what failed for lack of it."""
    _check_partner(connection.partner)
    created = connection.pk is None
    if access_token:
        connection.access_token = access_token.strip()
        connection.status = MetaPageConnection.Status.OK
        connection.broken_at = None
    if connection.partner_id and connection.organization_id is None:
        connection.organization_id = connection.partner.organization_id
    connection.full_clean(exclude=["access_token"])
    connection.save()
    audit_record(
        event_type="meta_page.connected" if created else "meta_page.updated",
        actor=actor,
        obj=connection,
        tenant=connection.organization,
        payload={"page_id": connection.page_id, "token_changed": bool(access_token)},
    )
    if access_token:
        on_commit(_replay_after_reconnect, connection.pk, actor.pk if actor else None)
    return connection


def _replay_after_reconnect(connection_pk: int, actor_pk: int | None) -> None:
    connection = MetaPageConnection.objects.get(pk=connection_pk)
    actor = User.objects.filter(pk=actor_pk).first() if actor_pk else None
    replayed = webhook_events_replay_failed(
        provider=Provider.FACEBOOK, object_id=connection.page_id, error_codes=RECONNECT_CURES, actor=actor
    )
    if connection.instagram_account_id:
        replayed += webhook_events_replay_failed(
            provider=Provider.INSTAGRAM,
            object_id=connection.instagram_account_id,
            error_codes=RECONNECT_CURES,
            actor=actor,
        )
    if replayed:
        logger.info("Replayed events after reconnect", extra={"page_id": connection.page_id, "count": replayed})


def meta_page_connect(
    *,
    page_id: str,
    access_token: str,
    name: str = "",
    partner: User | None = None,
    instagram_account_id: str = "",
    actor: User | None,
) -> tuple[MetaPageConnection, bool]:
    """Create or update the connection of ``page_id`` with a new token (``connect_meta_page``)."""
    page_id = page_id.strip()
    if not page_id.isdigit():
        raise DomainError(_("A page id consists of digits only."), code="invalid_page_id")
    if not access_token.strip():
        raise DomainError(_("The page access token must not be empty."), code="invalid_token")
    connection = MetaPageConnection.objects.filter(page_id=page_id).first()
    created = connection is None
    if connection is None:
        connection = MetaPageConnection(page_id=page_id)
    if name:
        connection.name = name
    if partner is not None:
        connection.partner = partner
        connection.organization_id = partner.organization_id
    if instagram_account_id:
        connection.instagram_account_id = instagram_account_id.strip()
    connection.active = True
    return meta_page_save(connection=connection, access_token=access_token, actor=actor), created


def meta_connection_mark_success(*, connection: MetaPageConnection) -> None:
    """Remember the last successful Graph call (shown on the health page)."""
    MetaPageConnection.objects.filter(pk=connection.pk).update(last_success_at=timezone.now())


def meta_connection_note_error(*, connection: MetaPageConnection, error: GraphError) -> None:
    """Remember a Graph error that does not break the connection (throttling, a permanent 4xx)."""
    MetaPageConnection.objects.filter(pk=connection.pk).update(last_error=error.summary(), last_error_at=timezone.now())


@transaction.atomic
def meta_connection_mark_broken(*, connection: MetaPageConnection, error: GraphError) -> bool:
    """Mark the page token broken and notify platform staff once per breakage (not once per event)."""
    now = timezone.now()
    newly_broken = MetaPageConnection.objects.filter(pk=connection.pk, status=MetaPageConnection.Status.OK).update(
        status=MetaPageConnection.Status.BROKEN, broken_at=now, last_error=error.summary(), last_error_at=now
    )
    if not newly_broken:
        meta_connection_note_error(connection=connection, error=error)
        return False
    audit_record(
        event_type="meta_page.broken",
        actor=None,
        obj=connection,
        tenant=connection.organization,
        payload={"page_id": connection.page_id, "code": error.code, "subcode": error.subcode},
    )
    notify(
        users=staff_list_active(),
        kind=Notification.Kind.CONNECTION,
        title=gettext_noop("Facebook page token broken: %(name)s"),
        body=gettext_noop(
            "Graph rejected the token of page %(page)s (%(error)s). Leads of this page are stored but not "
            "fetched until the page is reconnected with a new token; they are replayed then."
        ),
        context={"name": connection.name or connection.page_id, "page": connection.page_id, "error": error.summary()},
        url=reverse("admin:webhooks_metapageconnection_change", args=[connection.pk]),
        dedup_key=f"meta-page-broken:{connection.pk}:{now:%Y%m%d%H%M%S}",
    )
    logger.warning("Meta page token broken", extra={"page_id": connection.page_id, "code": error.code})
    return True
