"""LinkedIn connections: connect (OAuth or command), keep tokens fresh, and keep the connection's health.

A dead token is noticed in three places: the token endpoint refuses a refresh, the REST API answers
401 after one refresh-and-retry, or the stored expiry passes without a refresh token. Each marks
the connection broken once (conditional update) and notifies platform staff once per breakage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

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
from integrations.linkedin.client import (
    OWNER_URN,
    LinkedInClient,
    LinkedInError,
    LinkedInOAuthError,
    LinkedInOAuthTransientError,
    LinkedInTokenError,
    TokenSet,
    owner_urn_of,
    token_refresh,
)
from webhooks.models import LinkedInConnection, Provider
from webhooks.services.ledger import webhook_events_replay_failed

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Event failures a reconnect (new token, newly connected account) can cure.
RECONNECT_CURES = ("token_invalid", "no_connection")
#: The beat task refreshes access tokens that expire within this time.
REFRESH_BEFORE = timedelta(days=7)
#: A token that expires this soon is treated as expired before a call (clock skew, slow calls).
EXPIRY_SKEW = timedelta(minutes=5)
#: Refresh at most this often per connection (a refresh cannot outlive the refresh token).
MIN_REFRESH_INTERVAL = timedelta(hours=12)
MAX_AD_ACCOUNT_PAGES = 20


class LinkedInConnectionBroken(DomainError):
    """The connection's token is dead; events fail with ``token_invalid`` and are replayed on reconnect."""

    code = "token_invalid"


def linkedin_owner_urn_clean(value: str) -> str:
    """Validate an owner URN (ad account or organization); the webhook routes leads by it."""
    urn = owner_urn_of(value)
    if not OWNER_URN.match(urn):
        raise DomainError(
            _("%(value)s is not a LinkedIn owner URN (urn:li:sponsoredAccount:<id> or urn:li:organization:<id>).")
            % {"value": value},
            code="invalid_owner",
        )
    return urn


def _expires(now: datetime, seconds: int | None) -> datetime | None:
    return now + timedelta(seconds=seconds) if seconds else None


def _check_partner(partner: User | None) -> None:
    if partner is not None and not partner.is_partner:
        raise DomainError(_("%(email)s is not a sales partner.") % {"email": partner.email}, code="invalid_partner")


def _admin_url(connection: LinkedInConnection) -> str:
    return reverse("admin:webhooks_linkedinconnection_change", args=[connection.pk])


@transaction.atomic
def linkedin_connection_connect(
    *,
    owner_urn: str,
    tokens: TokenSet,
    name: str = "",
    partner: User | None = None,
    actor: User | None,
) -> tuple[LinkedInConnection, bool]:
    """Create or update the connection of an owner with new tokens; a broken one is OK again and replayed."""
    owner_urn = linkedin_owner_urn_clean(owner_urn)
    if not tokens.access_token.strip():
        raise DomainError(_("The access token must not be empty."), code="invalid_token")
    _check_partner(partner)
    now = timezone.now()
    connection = LinkedInConnection.objects.select_for_update().filter(owner_urn=owner_urn).first()
    created = connection is None
    if connection is None:
        connection = LinkedInConnection(owner_urn=owner_urn)
    if name:
        connection.name = name[:200]
    if partner is not None:
        connection.partner = partner
        connection.organization_id = partner.organization_id
    connection.access_token = tokens.access_token.strip()
    connection.access_token_expires_at = _expires(now, tokens.expires_in)
    # A new grant replaces the old one entirely: with a different scope LinkedIn invalidates old tokens.
    connection.refresh_token = tokens.refresh_token.strip()
    connection.refresh_token_expires_at = (
        _expires(now, tokens.refresh_token_expires_in) if tokens.refresh_token else None
    )
    connection.scopes = " ".join(tokens.scopes)[:500]
    connection.token_refreshed_at = None
    connection.connected_by = actor if isinstance(actor, User) else None
    connection.status = LinkedInConnection.Status.OK
    connection.broken_at = None
    connection.active = True
    connection.save()
    audit_record(
        event_type="linkedin_connection.connected" if created else "linkedin_connection.reconnected",
        actor=actor,
        obj=connection,
        tenant=connection.organization,
        payload={"owner": owner_urn, "scopes": list(tokens.scopes), "refresh_token": bool(tokens.refresh_token)},
    )
    on_commit(_replay_after_reconnect, connection.pk, actor.pk if isinstance(actor, User) else None)
    return connection, created


def _replay_after_reconnect(connection_pk: int, actor_pk: int | None) -> None:
    connection = LinkedInConnection.objects.get(pk=connection_pk)
    actor = User.objects.filter(pk=actor_pk).first() if actor_pk else None
    replayed = webhook_events_replay_failed(
        provider=Provider.LINKEDIN, object_id=connection.owner_urn, error_codes=RECONNECT_CURES, actor=actor
    )
    if replayed:
        logger.info(
            "Replayed LinkedIn events after reconnect", extra={"owner": connection.owner_urn, "count": replayed}
        )


@transaction.atomic
def linkedin_connection_save(*, connection: LinkedInConnection, actor: User | None) -> LinkedInConnection:
    """Save an admin's edit (name, owner, routing, active); tokens only change through OAuth or the command."""
    connection.owner_urn = linkedin_owner_urn_clean(connection.owner_urn)
    _check_partner(connection.partner)
    created = connection.pk is None
    if connection.partner_id and connection.organization_id is None:
        connection.organization_id = connection.partner.organization_id
    connection.full_clean(exclude=["access_token", "refresh_token"])
    connection.save()
    audit_record(
        event_type="linkedin_connection.created" if created else "linkedin_connection.updated",
        actor=actor,
        obj=connection,
        tenant=connection.organization,
        payload={"owner": connection.owner_urn, "active": connection.active},
    )
    return connection


def linkedin_oauth_complete(*, tokens: TokenSet, owner_urn: str = "", actor: User | None) -> list[LinkedInConnection]:
    """Store the tokens of a finished OAuth flow: for the owner it was started for, else for each ad account found."""
    if owner_urn:
        return [linkedin_connection_connect(owner_urn=owner_urn, tokens=tokens, actor=actor)[0]]
    accounts = _ad_accounts(LinkedInClient(tokens.access_token))
    if not accounts:
        raise DomainError(
            _(
                "LinkedIn lists no active ad account for this member. Add the connection with its owner URN "
                "and connect it from there."
            ),
            code="no_ad_accounts",
        )
    with transaction.atomic():
        return [
            linkedin_connection_connect(owner_urn=urn, tokens=tokens, name=name, actor=actor)[0]
            for urn, name in accounts
        ]


def _ad_accounts(client: LinkedInClient) -> list[tuple[str, str]]:
    """``(owner URN, name)`` of every active ad account of the member (offset paging)."""
    found: list[tuple[str, str]] = []
    start, count = 0, 100
    for _page in range(MAX_AD_ACCOUNT_PAGES):
        page = client.ad_accounts(start=start, count=count)
        elements = [e for e in page.get("elements") or [] if isinstance(e, dict) and str(e.get("id", "")).isdigit()]
        found += [(f"urn:li:sponsoredAccount:{e['id']}", str(e.get("name") or "")) for e in elements]
        start += len(elements)
        total = (page.get("paging") or {}).get("total")
        if not elements or len(elements) < count or (isinstance(total, int) and start >= total):
            break
    return found


# --- Health ------------------------------------------------------------------------------------


def linkedin_connection_mark_success(*, connection: LinkedInConnection) -> None:
    """Remember the last successful call (shown on the health page)."""
    LinkedInConnection.objects.filter(pk=connection.pk).update(last_success_at=timezone.now())


def linkedin_connection_note_error(*, connection: LinkedInConnection, summary: str) -> None:
    """Remember an error that does not break the connection (throttling, a permanent 4xx)."""
    LinkedInConnection.objects.filter(pk=connection.pk).update(last_error=summary[:500], last_error_at=timezone.now())


@transaction.atomic
def linkedin_connection_mark_broken(*, connection: LinkedInConnection, summary: str, reason: str) -> bool:
    """Mark the token broken and notify platform staff once per breakage (not once per event)."""
    now = timezone.now()
    newly_broken = LinkedInConnection.objects.filter(pk=connection.pk, status=LinkedInConnection.Status.OK).update(
        status=LinkedInConnection.Status.BROKEN, broken_at=now, last_error=summary[:500], last_error_at=now
    )
    if not newly_broken:
        linkedin_connection_note_error(connection=connection, summary=summary)
        return False
    connection.status, connection.broken_at = LinkedInConnection.Status.BROKEN, now
    audit_record(
        event_type="linkedin_connection.broken",
        actor=None,
        obj=connection,
        tenant=connection.organization,
        payload={"owner": connection.owner_urn, "reason": reason},
    )
    notify(
        users=staff_list_active(),
        kind=Notification.Kind.CONNECTION,
        title=gettext_noop("LinkedIn connection broken: %(name)s"),
        body=gettext_noop(
            "LinkedIn no longer accepts the token of %(owner)s (%(error)s). Leads of this account are stored "
            "but not fetched until it is connected again with LinkedIn; they are replayed then."
        ),
        context={"name": connection.name or connection.owner_urn, "owner": connection.owner_urn, "error": summary},
        url=_admin_url(connection),
        dedup_key=f"linkedin-broken:{connection.pk}:{now:%Y%m%d%H%M%S}",
    )
    logger.warning("LinkedIn token broken", extra={"owner": connection.owner_urn, "reason": reason})
    return True


# --- Tokens ------------------------------------------------------------------------------------


def linkedin_token_refresh(*, connection: LinkedInConnection) -> LinkedInConnection:
    """Exchange the refresh token for a new access token; a refused refresh breaks the connection.

    The row is locked during the call, so two workers that both saw the old token refresh once:
    the second finds a different token stored and uses it. Raises ``LinkedInOAuthTransientError``
    (nothing changed, try later) or ``LinkedInConnectionBroken``.
    """
    seen_token = connection.access_token
    refused: LinkedInOAuthError | None = None
    unavailable: LinkedInOAuthTransientError | None = None
    with transaction.atomic():
        locked = LinkedInConnection.objects.select_for_update().get(pk=connection.pk)
        if locked.is_broken:
            raise LinkedInConnectionBroken(locked.last_error or _("The LinkedIn token is broken."))
        if locked.access_token != seen_token:
            return locked
        now = timezone.now()
        if not locked.can_refresh(now):
            raise LinkedInConnectionBroken(_("No usable refresh token is stored; connect the account again."))
        try:
            tokens = token_refresh(refresh_token=locked.refresh_token)
        except LinkedInOAuthTransientError as exc:
            unavailable = exc  # noted after the block: raising here would roll the note back
        except LinkedInOAuthError as exc:
            refused = exc
            linkedin_connection_mark_broken(
                connection=locked, summary=f"token refresh: {exc.summary()}", reason="refresh_refused"
            )
        else:
            locked.access_token = tokens.access_token
            locked.access_token_expires_at = _expires(now, tokens.expires_in)
            if tokens.refresh_token:
                locked.refresh_token = tokens.refresh_token
                locked.refresh_token_expires_at = _expires(now, tokens.refresh_token_expires_in)
            if tokens.scopes:
                locked.scopes = " ".join(tokens.scopes)[:500]
            locked.token_refreshed_at = now
            locked.save(
                update_fields=[
                    "access_token",
                    "access_token_expires_at",
                    "refresh_token",
                    "refresh_token_expires_at",
                    "scopes",
                    "token_refreshed_at",
                    "updated_at",
                ]
            )
            audit_record(
                event_type="linkedin_connection.token_refreshed",
                actor=None,
                obj=locked,
                tenant=locked.organization,
                payload={"owner": locked.owner_urn, "expires_at": str(locked.access_token_expires_at or "")},
            )
    if unavailable is not None:
        linkedin_connection_note_error(connection=locked, summary=f"token refresh: {unavailable.summary()}")
        raise unavailable
    if refused is not None:
        raise LinkedInConnectionBroken(refused.summary())
    return locked


def _call_refreshing_once(
    connection: LinkedInConnection, call: Callable[[LinkedInClient], T], *, may_refresh: bool
) -> tuple[LinkedInConnection, T]:
    try:
        return connection, call(LinkedInClient(connection.access_token))
    except LinkedInTokenError:
        if not may_refresh or not connection.can_refresh(timezone.now()):
            raise
    # The stored expiry can be wrong (revoked early, clock skew): one refresh, one retry.
    logger.info("LinkedIn answered 401, refreshing the token once", extra={"owner": connection.owner_urn})
    connection = linkedin_token_refresh(connection=connection)
    return connection, call(LinkedInClient(connection.access_token))


def linkedin_call(*, connection: LinkedInConnection, call: Callable[[LinkedInClient], T]) -> T:
    """Run a REST call with a valid token: refresh an expired one first and once more after a 401.

    A 401 that a refresh cannot cure breaks the connection (``LinkedInConnectionBroken``); throttling
    and other errors are noted on the connection and raised for the caller to classify.
    """
    if connection.is_broken:
        raise LinkedInConnectionBroken(connection.last_error or _("The LinkedIn token is broken."))
    now = timezone.now()
    refreshed = False
    if connection.access_token_expired(now + EXPIRY_SKEW):
        if connection.can_refresh(now):
            connection, refreshed = linkedin_token_refresh(connection=connection), True
        elif connection.access_token_expired(now):
            summary = _("The access token expired on %(when)s and no refresh token is stored.") % {
                "when": connection.access_token_expires_at
            }
            linkedin_connection_mark_broken(connection=connection, summary=summary, reason="expired")
            raise LinkedInConnectionBroken(summary)
    try:
        connection, result = _call_refreshing_once(connection, call, may_refresh=not refreshed)
    except LinkedInTokenError as exc:
        linkedin_connection_mark_broken(connection=connection, summary=exc.summary(), reason=exc.code or "401")
        raise LinkedInConnectionBroken(exc.summary()) from None
    except LinkedInError as exc:
        linkedin_connection_note_error(connection=connection, summary=exc.summary())
        raise
    linkedin_connection_mark_success(connection=connection)
    return result


def linkedin_tokens_refresh_due(*, now: datetime | None = None) -> dict[str, int]:
    """Refresh tokens that expire within a week; break dead ones and warn about ones we cannot refresh (beat)."""
    now = now or timezone.now()
    stats = {"refreshed": 0, "broken": 0, "retry_later": 0, "expiring": 0}
    due = LinkedInConnection.objects.filter(
        active=True, status=LinkedInConnection.Status.OK, access_token_expires_at__lte=now + REFRESH_BEFORE
    ).select_related("organization")
    for connection in due:
        recently = (
            connection.token_refreshed_at is not None and connection.token_refreshed_at > now - MIN_REFRESH_INTERVAL
        )
        outlives = (
            connection.refresh_token_expires_at is not None
            and connection.access_token_expires_at is not None
            and connection.access_token_expires_at >= connection.refresh_token_expires_at - timedelta(hours=1)
        )
        if connection.can_refresh(now) and not recently and not outlives:
            try:
                linkedin_token_refresh(connection=connection)
            except LinkedInOAuthTransientError:
                stats["retry_later"] += 1
            except LinkedInConnectionBroken:
                stats["broken"] += 1
            else:
                stats["refreshed"] += 1
        elif connection.access_token_expired(now):
            summary = _("The access token expired on %(when)s and could not be refreshed.") % {
                "when": connection.access_token_expires_at
            }
            if linkedin_connection_mark_broken(connection=connection, summary=summary, reason="expired"):
                stats["broken"] += 1
        else:
            stats["expiring"] += _notify_expiring(connection)
    if any(stats.values()):
        logger.info("LinkedIn token refresh", extra=stats)
    return stats


def _notify_expiring(connection: LinkedInConnection) -> int:
    expires = connection.access_token_expires_at
    sent = notify(
        users=staff_list_active(),
        kind=Notification.Kind.CONNECTION,
        title=gettext_noop("LinkedIn connection expires soon: %(name)s"),
        body=gettext_noop(
            "The LinkedIn token of %(owner)s expires on %(when)s and cannot be refreshed automatically. "
            "Connect the account with LinkedIn again before then, or its leads are no longer fetched."
        ),
        context={"name": connection.name or connection.owner_urn, "owner": connection.owner_urn, "when": expires},
        url=_admin_url(connection),
        dedup_key=f"linkedin-expiring:{connection.pk}:{expires:%Y%m%d}",
    )
    return 1 if sent else 0
