"""Meta Graph API client: one page (or user) token, timeouts, ``appsecret_proof`` and throttling.

Graph errors are classified once, here, into what the caller must do about them:
token dead (190/102 → mark the connection broken, no retry), throttled (4/17/32/613/80000–80014 →
retry later, as late as the usage headers say), temporary (timeouts, 5xx, codes 1/2 → retry),
window closed (10 with 2018278/2534022 → do not send) and everything else (permanent), which the
Marketing API splits further: missing permission (10, 200–299), invalid parameter (100, with Meta's
``error_user_title``/``error_user_msg`` for the operator) and a deprecated API version (2635).
When the usage headers come near a quota, calls pause (app-wide or for the one token) in the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache

from core.exceptions import TransientError
from integrations.http import http_session

logger = logging.getLogger(__name__)

LEAD_FIELDS = (
    "id,created_time,ad_id,adset_id,campaign_id,form_id,field_data,is_organic,platform,custom_disclaimer_responses"
)
TOKEN_ERROR_CODES = frozenset({102, 190})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
TRANSIENT_CODES = frozenset({1, 2})
WINDOW_CLOSED_SUBCODES = frozenset({2018278, 2534022})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
INVALID_PARAMETER_CODE = 100
DEPRECATED_VERSION_CODE = 2635
#: Share of a usage quota (percent) from which we stop calling Graph for a while.
USAGE_PAUSE_THRESHOLD = 95
USAGE_PAUSE_SECONDS = 300
#: The key predates this package; kept so a pause in the cache outlives a deploy.
PAUSE_CACHE_KEY = "webhooks:graph:pause-until"
#: Code 4 is the app-wide limit; the others are per page, user or ad account (scoped to the token).
APP_RATE_LIMIT_CODE = 4


class GraphError(Exception):
    """A failed Graph call; subclasses say what to do about it."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: int | None = None,
        subcode: int | None = None,
        user_title: str = "",
        user_msg: str = "",
        fbtrace_id: str = "",
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.subcode = subcode
        # Meta's text meant for the person who fixes the request (Marketing API validation errors).
        self.user_title = user_title
        self.user_msg = user_msg
        self.fbtrace_id = fbtrace_id

    def summary(self) -> str:
        """Describe the error for ``last_error`` without the access token or personal data."""
        parts = [f"HTTP {self.status}" if self.status else "no response"]
        if self.code is not None:
            parts.append(f"code {self.code}" + (f"/{self.subcode}" if self.subcode else ""))
        return f"{', '.join(parts)}: {self.message}"[:500]


class GraphTokenError(GraphError):
    """The page token is invalid or expired (code 190, 102): a human must reconnect the page."""


class GraphPermanentError(GraphError):
    """A 4xx that will not go away by retrying (permissions, unknown id)."""


class GraphWindowClosedError(GraphPermanentError):
    """Send API: the 24-hour window of this conversation is closed."""


class GraphPermissionError(GraphPermanentError):
    """Code 10 or 200–299: the token lacks a permission or the app is not allowed (an operator fixes the setup)."""


class GraphInvalidParameterError(GraphPermanentError):
    """Code 100: Meta refused a parameter; ``user_title``/``user_msg`` say which and why."""


class GraphVersionError(GraphPermanentError):
    """Code 2635: the API version in ``META_GRAPH_API_URL`` is deprecated (a configuration error)."""


class GraphTransientError(GraphError, TransientError):
    """Timeout, connection error, 5xx or a temporary Graph code: try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class GraphRateLimitError(GraphTransientError):
    """Throttled (4, 17, 32, 613, 80000–80014): retry no earlier than ``retry_after`` seconds."""


def _highest_percent(raw: str | None) -> float:
    try:
        values = json.loads(raw) if raw else {}
        return max([0.0] + [float(v) for v in values.values() if isinstance(v, int | float)])
    except (ValueError, AttributeError, TypeError):
        return 0.0


def _ad_account_usage(raw: str | None) -> tuple[float, float | None]:
    """``X-Ad-Account-Usage``: (``acc_id_util_pct``, ``reset_time_duration`` in seconds or None).

    Only the percentage is a usage figure; ``reset_time_duration`` is a time, not a percent.
    """
    try:
        values = json.loads(raw) if raw else {}
        percent = float(values.get("acc_id_util_pct") or 0)
        reset = float(values.get("reset_time_duration") or 0)
    except (ValueError, AttributeError, TypeError):
        return 0.0, None
    return percent, (reset or None)


def _usage_headers(response: requests.Response) -> tuple[float, float, float | None]:
    """Return (app usage %, page/account usage %, seconds until access is regained) from the usage headers.

    ``X-App-Usage`` is app-wide; ``X-Page-Usage``, ``X-Ad-Account-Usage`` and the Business Use Case
    header (Meta's text also spells it ``X-Business-Use-Case``) belong to the token's page or account.
    ``estimated_time_to_regain_access`` is in minutes, the ad account's ``reset_time_duration`` in seconds.
    """
    app = _highest_percent(response.headers.get("X-App-Usage"))
    account, reset = _ad_account_usage(response.headers.get("X-Ad-Account-Usage"))
    token = max(_highest_percent(response.headers.get("X-Page-Usage")), account)
    regain = reset if account >= USAGE_PAUSE_THRESHOLD else None
    buc = response.headers.get("X-Business-Use-Case-Usage") or response.headers.get("X-Business-Use-Case")
    # A malformed usage header must not fail the fetch: the app-level figures above still count.
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        for entries in json.loads(buc or "{}").values():
            for entry in entries:
                token = max([token] + [float(entry.get(k) or 0) for k in ("call_count", "total_cputime", "total_time")])
                minutes = float(entry.get("estimated_time_to_regain_access") or 0)
                if minutes:
                    regain = max(regain or 0.0, minutes * 60)
    return app, token, regain


def _pause_key(scope: str) -> str:
    return f"{PAUSE_CACHE_KEY}:{scope}"


def _pause(seconds: float, scope: str) -> None:
    """Stop calling Graph for ``seconds``: for the whole app (``"app"``) or for one token."""
    try:
        cache.set(_pause_key(scope), time.time() + seconds, timeout=int(seconds) + 1)
    except Exception:
        logger.warning("Cannot store the Graph pause in the cache")


def graph_paused_for(scope: str) -> float:
    """Seconds left in a pause of the app or of one token after Graph throttled us (0: call away)."""
    try:
        values = cache.get_many([_pause_key("app"), _pause_key(scope)])
    except Exception:
        return 0.0
    until = max(values.values(), default=0)
    return max(0.0, until - time.time()) if until else 0.0


def classify(response: requests.Response) -> GraphError:
    """Turn an error response into the right ``GraphError`` subclass."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    subcode = error.get("error_subcode")
    code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    subcode = int(subcode) if isinstance(subcode, int | str) and str(subcode).isdigit() else None
    message = str(error.get("message") or response.reason or "Graph error")[:300]
    kwargs: dict[str, Any] = {
        "status": response.status_code,
        "code": code,
        "subcode": subcode,
        "user_title": str(error.get("error_user_title") or "")[:200],
        "user_msg": str(error.get("error_user_msg") or "")[:1000],
        "fbtrace_id": str(error.get("fbtrace_id") or "")[:100],
    }
    if code in TOKEN_ERROR_CODES:
        return GraphTokenError(message, **kwargs)
    if code in RATE_LIMIT_CODES or (code is not None and 80000 <= code <= 80014):
        _, _, regain = _usage_headers(response)
        # Throttled by the ad account: its own reset time counts even below the pause threshold.
        regain = regain or _ad_account_usage(response.headers.get("X-Ad-Account-Usage"))[1]
        return GraphRateLimitError(message, retry_after=regain, **kwargs)
    if code == 10 and subcode in WINDOW_CLOSED_SUBCODES:
        return GraphWindowClosedError(message, **kwargs)
    if code in TRANSIENT_CODES or error.get("is_transient") or response.status_code >= 500:
        return GraphTransientError(message, **kwargs)
    if response.status_code == 429:
        return GraphRateLimitError(message, **kwargs)
    if code == DEPRECATED_VERSION_CODE:
        return GraphVersionError(message, **kwargs)
    if code in PERMISSION_CODES:
        return GraphPermissionError(message, **kwargs)
    if code == INVALID_PARAMETER_CODE:
        return GraphInvalidParameterError(message, **kwargs)
    return GraphPermanentError(message, **kwargs)


def _http() -> requests.Session:
    return http_session("leadplatform-graph/1")


class GraphClient:
    """Calls Graph with one page token, under ``META_GRAPH_API_URL``, with timeouts and ``appsecret_proof``."""

    def __init__(self, access_token: str):
        self.access_token = access_token
        self.scope = hashlib.sha256(access_token.encode()).hexdigest()[:16]

    def _auth_params(self) -> dict[str, str]:
        params = {"access_token": self.access_token}
        if settings.META_APP_SECRET:
            params["appsecret_proof"] = hmac.new(
                settings.META_APP_SECRET.encode(), self.access_token.encode(), hashlib.sha256
            ).hexdigest()
        return params

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None) -> Any:
        paused = graph_paused_for(self.scope)
        if paused:
            raise GraphRateLimitError("Graph calls paused after throttling", retry_after=paused)
        url = f"{settings.META_GRAPH_API_URL}/{path.lstrip('/')}"
        try:
            response = _http().request(
                method,
                url,
                params={**(params or {}), **self._auth_params()},
                json=json_body,
                timeout=settings.HTTP_TIMEOUT,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise GraphTransientError(f"{type(exc).__name__} calling Graph") from None
        app_usage, token_usage, regain = _usage_headers(response)
        if app_usage >= USAGE_PAUSE_THRESHOLD or token_usage >= USAGE_PAUSE_THRESHOLD:
            logger.warning(
                "Graph usage near its limit, pausing calls", extra={"usage_percent": max(app_usage, token_usage)}
            )
            _pause(regain or USAGE_PAUSE_SECONDS, "app" if app_usage >= USAGE_PAUSE_THRESHOLD else self.scope)
        if response.status_code >= 400:
            error = classify(response)
            if isinstance(error, GraphRateLimitError):
                _pause(error.retry_after or 60, "app" if error.code == APP_RATE_LIMIT_CODE else self.scope)
            raise error
        try:
            return response.json()
        except ValueError:
            raise GraphTransientError(
                "Graph answered with a body that is not JSON", status=response.status_code
            ) from None

    def lead(self, leadgen_id: str) -> dict[str, Any]:
        """Fetch one lead with the fields SPEC §5 lists."""
        return self.request("GET", leadgen_id, params={"fields": LEAD_FIELDS})

    def form_leads(
        self, form_id: str, *, after: str | None = None, since: int | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Fetch one page of a form's leads; follow ``paging.cursors.after`` while ``paging.next`` is present."""
        params: dict[str, Any] = {"fields": LEAD_FIELDS, "limit": limit}
        if after:
            params["after"] = after
        if since:
            params["filtering"] = json.dumps([{"field": "time_created", "operator": "GREATER_THAN", "value": since}])
        return self.request("GET", f"{form_id}/leads", params=params)

    def page(self, page_id: str) -> dict[str, Any]:
        return self.request("GET", page_id, params={"fields": "id,name"})

    def send_message(self, recipient_id: str, text: str) -> dict[str, Any]:
        """Send an Instagram DM through the Messenger-platform Send API (``/me/messages``)."""
        return self.request(
            "POST",
            "me/messages",
            json_body={"recipient": {"id": recipient_id}, "message": {"text": text}, "messaging_type": "RESPONSE"},
        )
