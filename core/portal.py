"""The frame of the partner portal (SPEC §9) that every app's portal pages share.

The pages of the portal live with their apps (leads: inbox and Meine Leads, deals: the pipeline,
portal: dashboard, reports and the shell); this module holds what they all need and imports no app.
What the shell shows on every page (notices, the open-offer badge) comes from the providers the
portal registers at start-up (``register_frame_context``), so a lower floor never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.exceptions import DomainError, NotFoundError, TransitionNotAllowed

FrameContext = Callable[[HttpRequest], Mapping[str, Any]]

_frame_providers: list[FrameContext] = []

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)


def register_frame_context(provider: FrameContext) -> None:
    """Add what the shell shows on every page (called by the portal app when it starts; once per provider)."""
    if provider not in _frame_providers:
        _frame_providers.append(provider)


def partner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let only signed-in sales partners in; a tenant miss anywhere below becomes a 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        if not getattr(request.user, "is_partner", False):
            raise PermissionDenied
        try:
            return view(request, *args, **kwargs)
        except NotFoundError as exc:
            raise Http404(str(exc)) from exc

    return wrapper


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def portal_render(request: HttpRequest, template: str, context: dict[str, Any], *, section: str) -> HttpResponse:
    """Render a portal page with the shell's navigation ``section`` and what the frame providers add."""
    base: dict[str, Any] = {"section": section}
    for provider in _frame_providers:
        base.update(provider(request))
    return render(request, template, {**base, **context})


def back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Redirect to the form's ``next`` when it stays on this host, else to ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


def form_errors(form: forms.Form) -> str:
    """A form's errors as one message line, each prefixed with its field label."""
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return " ".join(parts)


def domain_message(exc: DomainError, stages: Mapping[str, Any]) -> str:
    """A refusal in the partner's language (transition errors carry English internals).

    ``stages`` labels the states of the object refused (lead statuses or deal stages).
    """
    if isinstance(exc, TransitionNotAllowed):
        return _("Not possible: %(from)s → %(to)s. Steps go forward one at a time, and a closed stage is final.") % {
            "from": stages.get(exc.current, exc.current),
            "to": stages.get(exc.target, exc.target),
        }
    return exc.message
