"""Panels that higher apps add to the lead's admin page (``leads`` must not import them).

An app registers a provider in its ``AppConfig.ready()``: ``register_lead_panel("emails", provider)``
where ``provider(lead=lead)`` returns what the template shows under ``panels.<name>``. A provider must
run a constant number of queries (the page's query count is asserted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LeadPanelProvider = Callable[..., Any]

_providers: dict[str, LeadPanelProvider] = {}


def register_lead_panel(name: str, provider: LeadPanelProvider) -> None:
    """Register (or replace, on a repeated ``ready()``) the provider of ``panels.<name>``."""
    _providers[name] = provider


def registered_lead_panels(*, lead) -> dict[str, Any]:
    return {name: provider(lead=lead) for name, provider in _providers.items()}
