"""Read queries of the webhooks app: the event list, connection health and ledger statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from webhooks.models import EVENT_LEASE, LinkedInConnection, MetaPageConnection, Provider, WebhookEvent
from webhooks.registry import all_providers


@dataclass(frozen=True)
class HealthRow:
    """One connection on the health page (a Meta page, a LinkedIn ad account …)."""

    provider: str
    name: str
    external_id: str
    owner: str
    active: bool
    broken: bool
    token_set: bool
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    events_24h: int
    failed_24h: int
    last_event_at: datetime | None
    admin_url: str = ""


def webhook_event_list() -> QuerySet[WebhookEvent]:
    """Events for the admin list, with what the list shows loaded in the same query."""
    return WebhookEvent.objects.select_related("lead", "delivery").defer("payload", "delivery__raw_body")


def _event_stats(provider: str, object_ids: list[str], since: datetime) -> dict[str, dict]:
    rows = (
        WebhookEvent.objects.filter(provider=provider, object_id__in=object_ids)
        .values("object_id")
        .annotate(
            events_24h=Count("id", filter=Q(received_at__gte=since)),
            failed_24h=Count("id", filter=Q(received_at__gte=since, status=WebhookEvent.Status.FAILED)),
            last_event_at=Max("received_at"),
        )
    )
    return {row["object_id"]: row for row in rows}


def meta_page_health_rows() -> list[HealthRow]:
    """Every Meta page (and its Instagram account) with token state and event counts: three queries."""
    since = timezone.now() - timedelta(hours=24)
    connections = list(MetaPageConnection.objects.select_related("partner", "organization").order_by("name"))
    fb = _event_stats(Provider.FACEBOOK, [c.page_id for c in connections], since)
    ig_ids = [c.instagram_account_id for c in connections if c.instagram_account_id]
    ig = _event_stats(Provider.INSTAGRAM, ig_ids, since) if ig_ids else {}
    rows = []
    for connection in connections:
        stats = [fb.get(connection.page_id, {}), ig.get(connection.instagram_account_id, {})]
        last_events = [s["last_event_at"] for s in stats if s.get("last_event_at")]
        rows.append(
            HealthRow(
                provider=Provider.FACEBOOK.label
                + (f" + {Provider.INSTAGRAM.label}" if connection.instagram_account_id else ""),
                name=connection.name or connection.page_id,
                external_id=connection.page_id
                + (f" / IG {connection.instagram_account_id}" if connection.instagram_account_id else ""),
                owner=str(connection.partner or connection.organization or ""),
                active=connection.active,
                broken=connection.is_broken,
                token_set=bool(connection.access_token),
                last_success_at=connection.last_success_at,
                last_error_at=connection.last_error_at,
                last_error=connection.last_error,
                events_24h=sum(s.get("events_24h", 0) for s in stats),
                failed_24h=sum(s.get("failed_24h", 0) for s in stats),
                last_event_at=max(last_events) if last_events else None,
                admin_url=reverse("admin:webhooks_metapageconnection_change", args=[connection.pk]),
            )
        )
    return rows


def linkedin_connection_health_rows() -> list[HealthRow]:
    """Every LinkedIn ad account or organization with token state and event counts: two queries."""
    since = timezone.now() - timedelta(hours=24)
    connections = list(LinkedInConnection.objects.select_related("partner", "organization").order_by("name"))
    stats = _event_stats(Provider.LINKEDIN, [c.owner_urn for c in connections], since) if connections else {}
    rows = []
    for connection in connections:
        row = stats.get(connection.owner_urn, {})
        rows.append(
            HealthRow(
                provider=Provider.LINKEDIN.label,
                name=connection.name or connection.owner_urn,
                external_id=connection.owner_urn,
                owner=str(connection.partner or connection.organization or ""),
                active=connection.active,
                broken=connection.is_broken,
                token_set=bool(connection.access_token),
                last_success_at=connection.last_success_at,
                last_error_at=connection.last_error_at,
                last_error=connection.last_error,
                events_24h=row.get("events_24h", 0),
                failed_24h=row.get("failed_24h", 0),
                last_event_at=row.get("last_event_at"),
                admin_url=reverse("admin:webhooks_linkedinconnection_change", args=[connection.pk]),
            )
        )
    return rows


def connection_health_rows() -> list[HealthRow]:
    """Rows of every provider that reports connections (see ``WebhookProvider.health_rows``)."""
    rows: list[HealthRow] = []
    seen = set()
    for provider in all_providers():
        if provider.health_rows is not None and provider.health_rows not in seen:
            seen.add(provider.health_rows)
            rows.extend(provider.health_rows())
    return rows


#: A processing event claimed without a lease (by a worker still running the code before the lease,
#: during an upgrade) is considered lost after this; leased events are lost when their lease expires.
UNLEASED_STUCK_AFTER = timedelta(minutes=15)


def _lease_expired_q(now: datetime) -> Q:
    unleased = Q(
        status=WebhookEvent.Status.PROCESSING, lease_expires_at__isnull=True, claimed_at__lt=now - UNLEASED_STUCK_AFTER
    )
    return EVENT_LEASE.expired(now) | unleased


def webhook_events_lease_expired(*, now: datetime | None = None) -> QuerySet[WebhookEvent]:
    """Processing events whose claimant is gone: the lease expired (or, unleased, claimed long ago)."""
    return WebhookEvent.objects.filter(_lease_expired_q(now or timezone.now()))


def ledger_stats(now: datetime | None = None) -> list[dict]:
    """Per provider: events in the last 24 h, failed, waiting (received) and stuck (processing, lease expired)."""
    now = now or timezone.now()
    since = now - timedelta(hours=24)
    recent_or_open = Q(received_at__gte=since) | Q(
        status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.PROCESSING]
    )
    return list(
        WebhookEvent.objects.filter(recent_or_open)
        .values("provider")
        .annotate(
            last_24h=Count("id", filter=Q(received_at__gte=since)),
            failed_24h=Count("id", filter=Q(received_at__gte=since, status=WebhookEvent.Status.FAILED)),
            waiting=Count("id", filter=Q(status=WebhookEvent.Status.RECEIVED)),
            stuck=Count("id", filter=_lease_expired_q(now)),
        )
        .order_by("provider")
    )
