"""Pages of the followups app without login: the unsubscribe page of API-592.

``/api/unsubscribe/<token>/`` (routed in ``followups.api``, whose DRF view documents it) is both the
``List-Unsubscribe`` URL of every marketing email and the visible link in its body:

- GET shows a German confirmation page with a choice (all marketing emails / only this sequence).
  It never opts out: mail scanners and link previews follow every link.
- POST with the body ``List-Unsubscribe=One-Click`` (RFC 8058; form-urlencoded or multipart, no
  cookies, no login) opts out of all marketing at once and answers 200 with an empty body, never a
  redirect (a redirected POST becomes a GET).
- POST of the page's form (``scope`` = ``all`` | ``sequence``) does the chosen thing and shows the
  done page. Anything else is a 400 that says what is expected.

An unknown or tampered token is a 404. Repeating an unsubscribe is harmless (200 again).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.api import error_body
from followups.services.email import ONE_CLICK_VALUE, SCOPE_ALL, SCOPE_SEQUENCE, email_unsubscribe, unsubscribe_context
from followups.tokens import UnsubscribeTarget, UnsubscribeTokenInvalid, unsubscribe_token_read

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: A one-click body is tiny; anything much larger is not one (and is not read into memory).
MAX_RAW_BODY = 1024


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    # The token is in the URL: never cached, never indexed, never sent on as a referrer.
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse(error_body("unsubscribe_invalid_request", message), status=400)


def _is_one_click(request: HttpRequest) -> bool:
    """The RFC 8058 body ``List-Unsubscribe=One-Click``, form-encoded, multipart or (leniently) raw."""
    if request.content_type in FORM_TYPES:
        return request.POST.get("List-Unsubscribe", "").strip() == "One-Click"
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if not length or length > MAX_RAW_BODY:
        return False
    return request.body.strip() == ONE_CLICK_VALUE.encode("ascii")


def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """API-592: the confirmation page (GET), the one-click opt-out and the page's form (POST)."""
    try:
        target = unsubscribe_token_read(token)
    except UnsubscribeTokenInvalid:
        if request.method == "GET":
            return _page(request, "followups/unsubscribe_invalid.html", {}, status=404)
        return JsonResponse(error_body("not_found", _("Unknown unsubscribe link.")), status=404)
    if request.method == "GET":
        return _confirm_page(request, target)
    if _is_one_click(request):
        email_unsubscribe(target=target, scope=SCOPE_ALL, via="one_click")
        response = HttpResponse(b"", status=200, content_type="text/plain")
        response["Cache-Control"] = "no-store"
        return response
    scope = request.POST.get("scope", "") if request.content_type in FORM_TYPES else ""
    if scope not in (SCOPE_ALL, SCOPE_SEQUENCE):
        return _bad_request(
            _(
                "Send List-Unsubscribe=One-Click (RFC 8058) as the form body, or choose "
                "scope=all or scope=sequence on the unsubscribe page."
            )
        )
    outcome = email_unsubscribe(target=target, scope=scope, via="page")
    return _page(request, "followups/unsubscribe_done.html", {"outcome": outcome, "all": outcome.scope == SCOPE_ALL})


def _confirm_page(request: HttpRequest, target: UnsubscribeTarget) -> HttpResponse:
    _lead, sequence = unsubscribe_context(target)
    return _page(request, "followups/unsubscribe.html", {"sequence": sequence})


#: Routed by ``followups.api`` (API-592 lives under /api/); no page of its own here.
urlpatterns: list = []
