"""The provider registry: what the shared webhook layer needs to know about each sender.

Receiver → handler → ``lead_ingest`` goes through this importlib registry: ``WebhooksConfig.ready``
imports each module of ``PROVIDER_MODULES`` (``webhooks/apps.py``), which calls ``register()``, and the
receiver and the task look a provider up by name (the ``<provider>`` path segment) with ``get_provider()``.

A provider contributes a signature verifier, a splitter that turns one delivery into items with
their dedup keys, a ``{event_type: handler}`` dispatch table, and optionally a GET handshake and
connection-health rows. The receiver view, the ledger, the processing task, the sweeper and
the admin are the same for every provider (Facebook, Instagram, LinkedIn).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from webhooks.models import WebhookEvent


@dataclass(frozen=True)
class EventItem:
    """One unit of work found in a delivery."""

    event_type: str
    dedup_key: str
    payload: dict[str, Any]
    object_id: str = ""


@dataclass(frozen=True)
class HandlerResult:
    """What a handler did; ``status`` is a ``WebhookEvent.Status`` value (processed by default)."""

    status: str = "processed"
    lead: Any = None
    error_code: str = ""
    message: str = ""


class PermanentEventError(Exception):
    """The event cannot be processed and retrying will not help: it is marked failed with this reason."""

    def __init__(self, message: str, *, code: str = "failed"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class WebhookProvider:
    name: str
    #: ``(request, raw_body) -> bool``; gets the untouched bytes, must compare in constant time.
    verify_signature: Callable[[HttpRequest, bytes], bool]
    #: ``(parsed_json) -> items``; raises ``ValueError`` for a body of the wrong shape (answered 400).
    split: Callable[[Any], list[EventItem]]
    #: ``{event_type: handler(event) -> HandlerResult}``; types without a handler are stored as ignored.
    handlers: dict[str, Callable[[WebhookEvent], HandlerResult]]
    #: ``(request) -> response`` for GET (subscription handshake); ``None``: GET is 405.
    handshake: Callable[[HttpRequest], HttpResponse] | None = None
    #: Request headers kept on the delivery for operators (never secrets).
    stored_headers: tuple[str, ...] = ("Content-Type", "User-Agent", "Content-Length")
    #: ``() -> rows`` for the connection health page (see ``webhooks.selectors.HealthRow``).
    health_rows: Callable[[], Iterable[Any]] | None = None
    #: Name of the settings list with the CIDR allowlist; empty list: everyone may send.
    allowlist_setting: str = ""


_PROVIDERS: dict[str, WebhookProvider] = {}


def register(provider: WebhookProvider) -> WebhookProvider:
    """Make a provider known to the receiver, the task and the admin (called at import time)."""
    _PROVIDERS[provider.name] = provider
    return provider


def get_provider(name: str) -> WebhookProvider | None:
    return _PROVIDERS.get(name)


def all_providers() -> list[WebhookProvider]:
    return list(_PROVIDERS.values())
