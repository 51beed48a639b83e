"""LinkedIn client: URNs, the Rest.li 2.0 REST client and OAuth 2.0 (three-legged).

Errors are classified once, here, into what the caller must do about them: token dead (401 →
refresh once, else mark the connection broken), throttled (429) or temporary (timeouts, 5xx) →
retry later, everything else (403, 404, 426 …) → permanent. OAuth token-endpoint errors are
separate (``LinkedInOAuthError``): a refused code or refresh token needs a human.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.conf import settings

from core.exceptions import TransientError
from integrations.http import http_session

RESTLI_PROTOCOL_VERSION = "2.0.0"
#: ``/leadFormResponses`` and ``/leadForms`` need the first; ``r_ads`` lists the member's ad accounts.
DEFAULT_SCOPES = ("r_marketing_leadgen_automation", "r_ads")
#: Without a ``Retry-After`` a 429 is retried no earlier than this (daily quotas reset at midnight UTC).
RATE_LIMIT_DEFAULT_WAIT = 300

RESPONSE_URN = re.compile(r"^urn:li:leadGenFormResponse:(?P<id>\S+)$")
# The docs write the versioned form URN with a space after the comma, the API without one.
FORM_URN = re.compile(r"urn:li:versionedLeadGenForm:\(urn:li:leadGenForm:(?P<id>\d+),\s*(?P<version>\d+)\)")
OWNER_URN = re.compile(r"^urn:li:(?P<kind>sponsoredAccount|organization):(?P<id>\d+)$")
OWNER_KINDS = ("sponsoredAccount", "organization")
#: Lead types per owner kind (the ``q=owner`` finder needs one per call).
LEAD_TYPES = {"sponsoredAccount": ("SPONSORED",), "organization": ("COMPANY", "EVENT", "ORGANIZATION_PRODUCT")}


# --- URNs --------------------------------------------------------------------------------------


def response_id_of(value: Any) -> str:
    """The id of a lead form response from its URN (or an id given bare)."""
    text = str(value or "").strip()
    match = RESPONSE_URN.match(text)
    if match:
        return match.group("id")
    return "" if text.startswith("urn:") else text


def form_ref_of(value: Any) -> tuple[str, str] | None:
    """``(form id, version)`` of a versioned lead form URN, or None."""
    match = FORM_URN.search(str(value or ""))
    return (match.group("id"), match.group("version")) if match else None


def owner_urn_of(owner: Any) -> str:
    """The owner URN of ``{"sponsoredAccount": urn}`` / ``{"organization": urn}`` (or of a URN string)."""
    if isinstance(owner, dict):
        for kind in OWNER_KINDS:
            if isinstance(owner.get(kind), str):
                return owner[kind].strip()
        return ""
    return str(owner or "").strip()


def owner_kind(urn: str) -> str:
    match = OWNER_URN.match(urn or "")
    return match.group("kind") if match else ""


def owner_param(urn: str) -> str:
    """Rest.li 2.0 owner value: structure characters stay, the URN inside is percent-encoded."""
    return f"({owner_kind(urn)}:{quote(urn, safe='')})"


# --- REST client -------------------------------------------------------------------------------


class LinkedInError(Exception):
    """A failed REST call; subclasses say what to do about it."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", service_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.service_code = service_code

    def summary(self) -> str:
        """Describe the error for ``last_error`` without the token or personal data."""
        parts = [f"HTTP {self.status}" if self.status else "no response"]
        if self.code:
            parts.append(self.code + (f" ({self.service_code})" if self.service_code is not None else ""))
        return f"{', '.join(parts)}: {self.message}"[:500]


class LinkedInTokenError(LinkedInError):
    """401: the access token is invalid, expired or revoked."""


class LinkedInPermanentError(LinkedInError):
    """A 4xx that retrying will not cure (missing permission or role, unknown id, sunset version)."""


class LinkedInTransientError(LinkedInError, TransientError):
    """Timeout, connection error or 5xx: try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class LinkedInRateLimitError(LinkedInTransientError):
    """429: throttled; retry no earlier than ``retry_after`` seconds."""


def _json(response: requests.Response) -> Any:
    """Parse the body as UTF-8 JSON (RFC 8259), whatever charset the Content-Type claims or omits."""
    return json.loads(response.content.decode("utf-8-sig"))


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After") or 0) or None
    except ValueError:
        return None


def classify(response: requests.Response) -> LinkedInError:
    """Turn an error response (``{"status", "serviceErrorCode", "code", "message"}``) into a ``LinkedInError``."""
    try:
        body = _json(response)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    service_code = body.get("serviceErrorCode")
    kwargs = {
        "status": response.status_code,
        "code": str(body.get("code") or "")[:60],
        "service_code": service_code if isinstance(service_code, int) else None,
    }
    message = str(body.get("message") or response.reason or "LinkedIn error")[:300]
    if response.status_code == 401:
        return LinkedInTokenError(message, **kwargs)
    if response.status_code == 429:
        return LinkedInRateLimitError(message, retry_after=_retry_after(response) or RATE_LIMIT_DEFAULT_WAIT, **kwargs)
    if response.status_code >= 500:
        return LinkedInTransientError(message, retry_after=_retry_after(response), **kwargs)
    return LinkedInPermanentError(message, **kwargs)


def _http() -> requests.Session:
    return http_session("leadplatform-linkedin/1")


class LinkedInClient:
    """Calls ``{LINKEDIN_API_URL}/rest/…`` with one member token, the version header and Rest.li 2.0."""

    def __init__(self, access_token: str):
        self.access_token = access_token

    def get(self, path: str, query: str = "") -> Any:
        """GET a resource; ``query`` is sent exactly as given (Rest.li structure must not be re-encoded)."""
        url = f"{settings.LINKEDIN_API_URL}/rest/{path.lstrip('/')}" + (f"?{query}" if query else "")
        headers = {
            "Authorization": f"Bearer {self.access_token}",
            "LinkedIn-Version": settings.LINKEDIN_VERSION,
            "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
            "Accept": "application/json",
        }
        try:
            response = _http().get(url, headers=headers, timeout=settings.HTTP_TIMEOUT)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise LinkedInTransientError(f"{type(exc).__name__} calling LinkedIn") from None
        if response.status_code >= 400:
            raise classify(response)
        try:
            return _json(response)
        except ValueError:
            raise LinkedInTransientError(
                "LinkedIn answered with a body that is not JSON", status=response.status_code
            ) from None

    def lead_form_response(self, response_id: str) -> dict[str, Any]:
        """One lead (``/rest/leadFormResponses/{id}``) after a notification."""
        return self.get(f"leadFormResponses/{quote(response_id, safe='')}")

    def lead_form(self, form_id: str) -> dict[str, Any]:
        """A form definition: questions with ``predefinedField``, options, consents, hidden fields."""
        return self.get(f"leadForms/{quote(str(form_id), safe='')}")

    def lead_form_responses(
        self,
        *,
        owner_urn: str,
        lead_type: str,
        start: int = 0,
        count: int = 10,
        since_ms: int | None = None,
        until_ms: int | None = None,
        test_leads: bool = False,
    ) -> dict[str, Any]:
        """One page of the ``q=owner`` finder (offset paging with ``start``/``count``)."""
        parts = [
            "q=owner",
            f"owner={owner_param(owner_urn)}",
            f"leadType=(leadType:{quote(lead_type, safe='')})",
            f"limitedToTestLeads={'true' if test_leads else 'false'}",
        ]
        if since_ms is not None and until_ms is not None:
            parts.append(f"submittedAtTimeRange=(start:{int(since_ms)},end:{int(until_ms)})")
        parts += [f"count={int(count)}", f"start={int(start)}"]
        return self.get("leadFormResponses", "&".join(parts))

    def ad_accounts(self, *, start: int = 0, count: int = 100) -> dict[str, Any]:
        """Active ad accounts the member has a role on (``r_ads``)."""
        query = f"q=search&search=(status:(values:List(ACTIVE)))&fields=id,name,test&count={count}&start={start}"
        return self.get("adAccounts", query)


# --- OAuth 2.0 (three-legged) ------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returned; lifetimes in seconds (None: not said)."""

    access_token: str
    expires_in: int | None = None
    refresh_token: str = ""
    refresh_token_expires_in: int | None = None
    scopes: tuple[str, ...] = ()


class LinkedInOAuthError(Exception):
    """The token endpoint refused (bad or expired code, revoked refresh token, wrong client)."""

    def __init__(self, message: str, *, status: int = 0, error: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.error = error

    def summary(self) -> str:
        head = f"HTTP {self.status}" if self.status else "no response"
        return f"{head}, {self.error or 'error'}: {self.message}"[:500]


class LinkedInOAuthTransientError(LinkedInOAuthError, TransientError):
    """The token endpoint timed out or answered 5xx/429: try again later."""


def scopes(value: str | None = None) -> tuple[str, ...]:
    """Scopes to request, or the scopes in a token response (comma- or space-separated)."""
    if value is None:
        return tuple(getattr(settings, "LINKEDIN_SCOPES", None) or DEFAULT_SCOPES)
    return tuple(s for s in re.split(r"[\s,]+", value) if s)


def authorization_url(*, state: str, redirect_uri: str) -> str:
    """The consent page the admin is sent to (``{LINKEDIN_OAUTH_URL}/authorization``)."""
    params = {
        "response_type": "code",
        "client_id": settings.LINKEDIN_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": " ".join(scopes()),
    }
    return f"{settings.LINKEDIN_OAUTH_URL}/authorization?{urlencode(params, quote_via=quote)}"


def _seconds(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _token_request(data: dict[str, str]) -> TokenSet:
    form = {**data, "client_id": settings.LINKEDIN_CLIENT_ID, "client_secret": settings.LINKEDIN_CLIENT_SECRET}
    try:
        response = _http().post(
            f"{settings.LINKEDIN_OAUTH_URL}/accessToken",
            data=form,
            headers={"Accept": "application/json"},
            timeout=settings.HTTP_TIMEOUT,
        )
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise LinkedInOAuthTransientError(f"{type(exc).__name__} calling the token endpoint") from None
    try:
        body = _json(response)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code >= 500 or response.status_code == 429:
        raise LinkedInOAuthTransientError(
            str(body.get("error_description") or response.reason or "unavailable")[:300],
            status=response.status_code,
            error=str(body.get("error") or "")[:60],
        )
    if response.status_code >= 400 or not body.get("access_token"):
        raise LinkedInOAuthError(
            str(body.get("error_description") or body.get("message") or response.reason or "no access token")[:300],
            status=response.status_code,
            error=str(body.get("error") or ("invalid_response" if response.status_code < 400 else ""))[:60],
        )
    return TokenSet(
        access_token=str(body["access_token"]),
        expires_in=_seconds(body.get("expires_in")),
        refresh_token=str(body.get("refresh_token") or ""),
        refresh_token_expires_in=_seconds(body.get("refresh_token_expires_in")),
        scopes=scopes(str(body.get("scope") or "")),
    )


def token_exchange(*, code: str, redirect_uri: str) -> TokenSet:
    """Exchange an authorization code (30-minute lifespan) for tokens."""
    return _token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})


def token_refresh(*, refresh_token: str) -> TokenSet:
    """Get a new access token with the programmatic refresh token (its own lifetime does not reset)."""
    return _token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
