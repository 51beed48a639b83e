"""Open pixel and click redirect of our emails (SPEC §11), plus the SES tracking webhook's URL.

``GET /e/o/<token>.gif`` answers a 1×1 GIF, never cached, always 200 (an unknown token looks like a
known one: the pixel is no oracle). ``GET /e/c/<token>/<index>/`` redirects to the email's link
``index`` as stored when the email was rendered, and nowhere else: an unknown token or index is a
404, so the redirect can never be pointed at another site. Recording a hit never breaks the answer.
"""

from __future__ import annotations

import base64
import logging

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from followups.esp import AmazonSesTrackingView, malformed_payload_is_400
from followups.services.events import tracking_click_record, tracking_link, tracking_open_record

logger = logging.getLogger(__name__)

#: A transparent 1×1 GIF (42 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:500]


@never_cache
@require_safe
def track_open(request: HttpRequest, token: str) -> HttpResponse:
    """The open pixel."""
    if request.method == "GET":
        try:
            tracking_open_record(token=token, user_agent=_user_agent(request))
        except Exception:  # the image must load even when recording fails
            logger.exception("Open pixel hit not recorded")
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0, private"
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_safe
def track_click(request: HttpRequest, token: str, index: int) -> HttpResponse:
    """The click redirect: 302 to the email's own link ``index`` only."""
    found = tracking_link(token=token, index=index)
    if found is None:
        raise Http404
    message, url = found
    if request.method == "GET":
        try:
            tracking_click_record(message=message, index=index, url=url, user_agent=_user_agent(request))
        except Exception:  # the person still gets to the page
            logger.exception("Click not recorded")
    response = HttpResponseRedirect(url)
    response["Referrer-Policy"] = "no-referrer"
    return response


urlpatterns = [
    path("e/o/<slug:token>.gif", track_open, name="track_open"),
    path("e/c/<slug:token>/<int:index>/", track_click, name="track_click"),
    # In front of anymail's own URL (``config/urls.py`` includes this app before ``anymail.urls``).
    path(
        "anymail/amazon_ses/tracking/",
        malformed_payload_is_400(AmazonSesTrackingView.as_view()),
        name="amazon_ses_tracking",
    ),
]
