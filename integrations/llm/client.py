"""LLM client in the Anthropic Messages API shape: ``POST {LLM_API_URL}/v1/messages``.

Unreachable, throttled (429), overloaded (529) and 5xx answers raise ``TransientError`` (the
caller's task retries); another 4xx raises ``ValueError``, as does a body that is not JSON.
"""

from __future__ import annotations

import requests
from django.conf import settings

from core.exceptions import TransientError

ANTHROPIC_VERSION = "2023-06-01"
MAX_TOKENS = 1024


def configured() -> bool:
    return bool(settings.LLM_API_URL and settings.LLM_API_KEY and settings.LLM_MODEL)


def complete(prompt: str) -> str:
    """Send ``prompt`` as one user message to ``LLM_MODEL`` and return the text of the answer."""
    try:
        response = requests.post(
            f"{settings.LLM_API_URL}/v1/messages",
            headers={
                "x-api-key": settings.LLM_API_KEY,
                "anthropic-version": ANTHROPIC_VERSION,
                "content-type": "application/json",
            },
            json={
                "model": settings.LLM_MODEL,
                "max_tokens": MAX_TOKENS,
                "messages": [{"role": "user", "content": prompt}],
            },
            timeout=settings.HTTP_TIMEOUT,
        )
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise TransientError(f"LLM unreachable: {exc.__class__.__name__}") from exc
    if response.status_code in (429, 529) or response.status_code >= 500:
        raise TransientError(f"LLM answered {response.status_code}")
    if response.status_code >= 400:
        raise ValueError(f"LLM refused the request ({response.status_code})")
    body = response.json()
    return "".join(part.get("text", "") for part in body.get("content", []) if part.get("type") == "text")
