"""Public consent pages: the double-opt-in confirmation (GET shows, POST confirms).

``/consent/confirm/<token>/`` is the link of the confirmation email. Mail scanners and link
previews follow GET links, so GET only shows the wording and a button; the POST of that button
(with the page's CSRF token, no login) confirms. An unknown or tampered token is a 404; a token
that was valid once but expired or was withdrawn since gets its own page (410).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from compliance.models import ConsentRecord, ConsentTokenExpired, ConsentTokenInvalid
from compliance.services.consent import consent_doi_check, consent_doi_confirm, consent_doi_request_for
from core.ratelimit import client_ip

#: ``reverse("consent:confirm", args=[token])`` builds the link of the confirmation email.
app_name = "consent"


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    # The token is in the URL: never cached, never indexed, never sent on as a referrer.
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _wording_text(grant: ConsentRecord) -> str:
    return grant.text or (grant.wording.text_de if grant.wording_id else "")


@csrf_protect
@require_http_methods(["GET", "POST"])
def consent_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        grant = consent_doi_request_for(token)
    except ConsentTokenInvalid:
        raise Http404 from None
    context = {"grant": grant, "wording_text": _wording_text(grant)}
    try:
        if request.method == "POST":
            confirmation = consent_doi_confirm(
                token, ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")
            )
        else:
            confirmation = consent_doi_check(grant)  # reads only: a GET never confirms
    except ConsentTokenExpired:
        return _page(request, "compliance/consent_link_expired.html", context, status=410)
    if confirmation is not None:
        return _page(request, "compliance/consent_confirmed.html", {**context, "confirmation": confirmation})
    return _page(request, "compliance/consent_confirm.html", context)


urlpatterns = [
    path("consent/confirm/<str:token>/", consent_confirm, name="confirm"),
]
