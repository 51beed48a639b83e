"""CSV helpers shared by every export."""

from __future__ import annotations

from typing import Any


def csv_safe(value: Any) -> str:
    """Neutralise spreadsheet formulas (CSV injection); E.164 phone numbers stay as they are."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not (text[:1] == "+" and text[1:].isdigit()):
        return "'" + text
    return text
