"""OAuth 2.0 connection of LinkedIn ad accounts (``/integrations/linkedin/…``), for platform admins only.

``connect`` keeps a random ``state`` in the session and sends the admin to LinkedIn's consent page;
``callback`` checks the state, exchanges the code and stores the tokens. Every failure (consent
denied, bad or expired state, token endpoint error) ends on the admin's connection list with a
message in the admin's language (German by default), never with a stack trace or a token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from core.exceptions import DomainError
from integrations.linkedin.client import (
    LinkedInError,
    LinkedInOAuthError,
    LinkedInOAuthTransientError,
    authorization_url,
    token_exchange,
)
from webhooks.services.linkedin_connections import linkedin_oauth_complete, linkedin_owner_urn_clean

logger = logging.getLogger(__name__)

SESSION_KEY = "linkedin_oauth"
#: LinkedIn's authorization code lives 30 minutes; a state older than that is refused.
STATE_TTL_SECONDS = 30 * 60
CANCELLED_ERRORS = frozenset({"user_cancelled_authorize", "user_cancelled_login"})


def redirect_uri() -> str:
    """The callback URL registered with the LinkedIn app; identical in the authorize and token requests."""
    return f"{settings.SITE_URL}{reverse('linkedin-callback')}"


def _connections_page() -> HttpResponseRedirect:
    return redirect("admin:webhooks_linkedinconnection_changelist")


def _fail(request: HttpRequest, message: str, reason: str) -> HttpResponseRedirect:
    logger.warning("LinkedIn OAuth failed", extra={"reason": reason})
    messages.error(request, message)
    return _connections_page()


def _require_platform_admin(request: HttpRequest) -> None:
    # Connections are configuration: internal ops may look at them, only platform admins connect.
    if not getattr(request.user, "is_platform_admin", False):
        raise PermissionDenied


@require_GET
@staff_member_required
def linkedin_connect(request: HttpRequest) -> HttpResponse:
    """Start the authorization-code flow, for one owner (``?owner=URN``) or for the member's ad accounts."""
    _require_platform_admin(request)
    if not settings.LINKEDIN_CLIENT_ID or not settings.LINKEDIN_CLIENT_SECRET:
        return _fail(
            request,
            _("LinkedIn is not configured: set LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET first."),
            "not_configured",
        )
    owner = request.GET.get("owner", "").strip()
    if owner:
        try:
            owner = linkedin_owner_urn_clean(owner)
        except DomainError as exc:
            return _fail(request, exc.message, "invalid_owner")
    state = secrets.token_urlsafe(32)
    request.session[SESSION_KEY] = {"state": state, "owner": owner, "issued_at": time.time()}
    return HttpResponseRedirect(authorization_url(state=state, redirect_uri=redirect_uri()))


@require_GET
@staff_member_required
def linkedin_callback(request: HttpRequest) -> HttpResponse:
    """Finish the flow: check the state, exchange the code, store the tokens, report in the admin."""
    _require_platform_admin(request)
    pending = request.session.pop(SESSION_KEY, None)  # one use only, whatever the outcome
    state = request.GET.get("state", "")
    if (
        not isinstance(pending, dict)
        or not state
        or not hmac.compare_digest(state.encode(), str(pending.get("state", "")).encode())
        or time.time() - float(pending.get("issued_at") or 0) > STATE_TTL_SECONDS
    ):
        return _fail(
            request,
            _(
                "The answer from LinkedIn does not belong to a connection started here, or it came too late. "
                "Nothing was changed; please start the connection again."
            ),
            "state",
        )
    error = request.GET.get("error", "")
    if error:
        if error in CANCELLED_ERRORS:
            return _fail(request, _("The LinkedIn authorization was cancelled. Nothing was changed."), error)
        return _fail(
            request,
            _("LinkedIn refused the authorization (%(error)s: %(description)s). Nothing was changed.")
            % {"error": error[:60], "description": request.GET.get("error_description", "")[:300]},
            "error",
        )
    code = request.GET.get("code", "")
    if not code:
        return _fail(request, _("LinkedIn sent no authorization code. Please start the connection again."), "code")
    try:
        tokens = token_exchange(code=code, redirect_uri=redirect_uri())
    except LinkedInOAuthTransientError as exc:
        return _fail(
            request,
            _("LinkedIn's token service is not reachable right now (%(error)s). Please try again in a few minutes.")
            % {"error": exc.summary()},
            "token_transient",
        )
    except LinkedInOAuthError as exc:
        return _fail(
            request,
            _("LinkedIn did not accept the authorization code (%(error)s). Please start the connection again.")
            % {"error": exc.summary()},
            "token_refused",
        )
    try:
        connections = linkedin_oauth_complete(tokens=tokens, owner_urn=pending.get("owner") or "", actor=request.user)
    except DomainError as exc:
        return _fail(request, exc.message, exc.code)
    except LinkedInError as exc:
        return _fail(
            request,
            _(
                "LinkedIn did not list your ad accounts (%(error)s). Add the connection with its owner URN and "
                "connect it from there."
            )
            % {"error": exc.summary()},
            "ad_accounts",
        )
    names = ", ".join(str(c) for c in connections)
    messages.success(
        request,
        ngettext(
            "LinkedIn account connected: %(names)s.",
            "%(count)d LinkedIn accounts connected: %(names)s.",
            len(connections),
        )
        % {"count": len(connections), "names": names},
    )
    return _connections_page()


urlpatterns = [
    path("linkedin/connect/", linkedin_connect, name="linkedin-connect"),
    path("linkedin/callback/", linkedin_callback, name="linkedin-callback"),
]
