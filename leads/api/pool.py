"""Pool API for admins/ops (API-550–553) and the partner inbox (API-510–512)."""

from __future__ import annotations

urlpatterns: list = []
