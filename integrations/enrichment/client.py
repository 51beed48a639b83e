"""Clearbit-style company lookup: ``GET {ENRICHMENT_API_URL}/v2/companies/find?domain=…``.

Unreachable, throttled (429) and 5xx answers raise ``TransientError`` (the caller's task retries);
everything else is a ``CompanyLookup``: the company's facts when found, else what the API said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from core.exceptions import TransientError

NOT_FOUND_STATUSES = (404, 422)


@dataclass(frozen=True)
class CompanyLookup:
    """One answer: ``company`` holds the facts found (no empty values), ``raw`` the answer as kept on record
    (the body, or its status with ``found``/``error``); ``refused`` is a 4xx other than not found."""

    status: int
    company: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    refused: bool = False


def configured() -> bool:
    return bool(settings.ENRICHMENT_API_URL)


def company_find(domain: str) -> CompanyLookup:
    """Look a company up by its domain; the facts use the names of the lead's company fields."""
    headers = {"Accept": "application/json"}
    if settings.ENRICHMENT_API_KEY:
        headers["Authorization"] = f"Bearer {settings.ENRICHMENT_API_KEY}"
    try:
        response = requests.get(
            f"{settings.ENRICHMENT_API_URL}/v2/companies/find",
            params={"domain": domain},
            headers=headers,
            timeout=settings.HTTP_TIMEOUT,
        )
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise TransientError(f"enrichment provider unreachable: {exc.__class__.__name__}") from exc
    status = response.status_code
    if status in NOT_FOUND_STATUSES:
        return CompanyLookup(status=status, raw={"status": status, "found": False})
    if status == 429 or status >= 500:
        raise TransientError(f"enrichment provider answered {status}")
    if status >= 400:
        return CompanyLookup(status=status, raw={"status": status, "error": response.text[:500]}, refused=True)
    try:
        body = response.json()
    except ValueError:
        return CompanyLookup(status=status, raw={"status": status, "error": "invalid JSON"})
    metrics = body.get("metrics") or {}
    data = {
        "company_name": body.get("name") or "",
        "company_domain": body.get("domain") or domain,
        "industry": (body.get("category") or {}).get("industry") or "",
        "employees": metrics.get("employees"),
        "company_size_band": metrics.get("employeesRange") or "",
        "revenue_band": metrics.get("estimatedAnnualRevenue") or "",
        "country": (body.get("geo") or {}).get("countryCode") or "",
        "company_linkedin_url": (
            f"https://www.linkedin.com/{(body.get('linkedin') or {}).get('handle')}"
            if (body.get("linkedin") or {}).get("handle")
            else ""
        ),
    }
    return CompanyLookup(status=status, company={k: v for k, v in data.items() if v}, raw=body)
