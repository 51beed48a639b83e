"""Lead API: manual creation (API-505), activity tracking (API-506), merge (API-507)."""

from __future__ import annotations

urlpatterns: list = []
