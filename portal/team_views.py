"""The portal's "Team" page (SPEC §11): a leader's templates, clones, performance and escalations.

A leader publishes templates (name, description, the config as JSON), sees per template who cloned it
(in sync or edited), the template's performance and the escalations of their team. A member sees the
published templates of their own team with an "Übernehmen" (clone) button; another team's template is
a 404. Thin: reads through ``followups.selectors.team``, writes through ``followups.services.team``.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Team
from core.portal import partner_required, portal_render
from followups.models import TeamTemplateClone
from followups.selectors.team import member_team_id, template_get_for, template_performance, templates_for
from followups.services.escalations import escalations_for_leader
from followups.services.team import clone_states, template_clone, template_publish

#: Enough for a team's playbooks; each shown template reads its performance (two queries).
TEMPLATE_LIMIT = 20
ESCALATION_LIMIT = 20
CONFIG_EXAMPLE = {
    "sequences": [
        {
            "code": "erstkontakt",
            "name": "Erstkontakt",
            "steps": [{"kind": "task", "channel": "whatsapp", "delay_hours": 0, "template_code": "erstkontakt"}],
        }
    ],
    "message_templates": [
        {"code": "erstkontakt", "name": "Erstkontakt", "channel": "whatsapp", "body": "Hallo {{ first_name }}, …"}
    ],
    "daily_flow": {"morning": ["Heute öffnen", "3 Anrufe"]},
    "objection_handlers": [{"objection": "Keine Zeit", "answer": "Verstehe ich gut – passt Ihnen ein kurzer Anruf?"}],
}


class PublishForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )
    config = forms.CharField(
        label=gettext_lazy("Configuration (JSON)"),
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        help_text=gettext_lazy("sequences, message_templates, daily_flow and objection_handlers"),
    )

    def clean_config(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["config"])
        except ValueError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Must be a JSON object."))
        return value


def _is_leader(user) -> bool:
    return Team.objects.filter(leader_id=user.pk).exists()


def _leader_context(user, form: PublishForm) -> dict[str, Any]:
    templates = list(templates_for(user).filter(leader_id=user.pk)[:TEMPLATE_LIMIT])
    clones = list(
        TeamTemplateClone.objects.filter(template__in=templates).select_related("user").order_by("template_id", "id")
    )
    states = clone_states(clones)
    by_template: dict[int, list[dict[str, Any]]] = {t.pk: [] for t in templates}
    for clone in clones:
        by_template[clone.template_id].append({"clone": clone, "in_sync": states.get(clone.pk) == clone.synced_hash})
    rows = [
        {"template": t, "clones": by_template[t.pk], "performance": template_performance(template=t)} for t in templates
    ]
    return {
        "is_leader": True,
        "rows": rows,
        "escalations": list(escalations_for_leader(user)[:ESCALATION_LIMIT]),
        "form": form,
    }


def _member_context(user) -> dict[str, Any]:
    team_id = member_team_id(user)
    templates = list(templates_for(user).filter(is_published=True)[:TEMPLATE_LIMIT]) if team_id else []
    mine = dict(
        TeamTemplateClone.objects.filter(template__in=templates, user_id=user.pk).values_list("template_id", "version")
    )
    return {
        "is_leader": False,
        "has_team": team_id is not None,
        "rows": [{"template": t, "cloned_version": mine.get(t.pk)} for t in templates],
    }


def _render(request: HttpRequest, form: PublishForm | None = None) -> HttpResponse:
    user = request.user
    if _is_leader(user):
        form = form or PublishForm(initial={"config": json.dumps(CONFIG_EXAMPLE, ensure_ascii=False, indent=2)})
        context = _leader_context(user, form)
    else:
        context = _member_context(user)
    return portal_render(request, "portal/team/page.html", context, section="team")


@require_GET
@partner_required
def team(request: HttpRequest) -> HttpResponse:
    return _render(request)


@require_POST
@partner_required
def publish(request: HttpRequest) -> HttpResponse:
    """A leader publishes a template; a field error shows the form again with what was typed."""
    form = PublishForm(request.POST)
    if form.is_valid():
        try:
            template = template_publish(
                leader=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                config=form.cleaned_data["config"],
                actor=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error("name" if field == "name" else "config", f"{field}: {' '.join(errors)}")
        else:
            messages.success(request, _("Template “%(name)s” published to your team.") % {"name": template.name})
            return redirect(reverse("portal:team"))
    return _render(request, form)


@require_POST
@partner_required
def take_over(request: HttpRequest, template_id: int) -> HttpResponse:
    """A member takes the team's template over with one click (cloning again changes nothing)."""
    template = template_get_for(request.user, template_id)
    _clone, created = template_clone(template=template, user=request.user, actor=request.user)
    if created:
        messages.success(
            request,
            _("“%(name)s” is yours now: its sequences and texts are in your account.") % {"name": template.name},
        )
    else:
        messages.info(request, _("You took this template over already."))
    return redirect(reverse("portal:team"))
