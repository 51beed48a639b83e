"""Helpers the provider splitters share: id normalization and stable keys for items without an id."""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_KEY = 255


def as_id(value: Any) -> str:
    """Meta sends ids as strings or (in the docs) as numbers beyond 2^53: always keep the exact digits."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def digest(value: Any) -> str:
    """A stable hash of a JSON value: the same retried item gives the same key."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


def key(*parts: Any) -> str:
    """Join parts into a dedup key; over-long keys keep a readable prefix and a hash of the rest."""
    joined = ":".join(str(part) for part in parts)
    if len(joined) <= MAX_KEY:
        return joined
    return f"{joined[:150]}~{hashlib.sha256(joined.encode()).hexdigest()}"


def require_envelope(body: Any) -> list[dict[str, Any]]:
    """Return ``entry[]`` of a Meta envelope, or raise ``ValueError`` (answered 400)."""
    if not isinstance(body, dict):
        raise ValueError("body is not a JSON object")
    entries = body.get("entry")
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError("entry is not a list of objects")
    return entries
