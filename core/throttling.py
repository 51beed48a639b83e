"""API throttles: one budget per signed-in user, per API key and, for anonymous calls, per client IP.

Counters live in Django's default cache (Redis in production, local memory in the embedded mode), so
every worker process shares one budget. Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``
(``API_THROTTLE_USER`` / ``API_THROTTLE_ANON`` in the environment) and are read on each request, not
frozen at import as DRF's own classes do: a test (or an override) can lower them.

The webhook receiver is a plain Django view with its own limiter and the capture API (API-580) sets
``throttle_classes = []`` for its per-IP limit; neither is counted here.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core.ratelimit import client_ip


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Any) -> str:
        # Behind TRUSTED_PROXIES the right-most untrusted hop, never a client-chosen X-Forwarded-For;
        # hashed, so that no IP address (personal data) sits in a cache key.
        return hashlib.blake2b(client_ip(request).encode(), digest_size=16).hexdigest()


class PrincipalRateThrottle(_SettingsRateThrottle):
    """Per user (JWT or session) and per API key; anonymous calls are left to ``AnonIpRateThrottle``."""

    scope = "user"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return None
        # API keys authenticate as a principal without a user row (accounts.authentication.ApiKeyPrincipal).
        api_key = getattr(user, "api_key", None)
        ident = f"key:{api_key.pk}" if api_key is not None else f"user:{user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonIpRateThrottle(_SettingsRateThrottle):
    """Per client IP for calls without credentials (token obtain/refresh, the schema, the docs)."""

    scope = "anon"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if getattr(request.user, "is_authenticated", False):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
