"""The sequence editor: rules and steps with validation, figures, pause/resume, preview and test send."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.exceptions import DomainError
from followups.admin.forms import PreviewForm, SequenceForm, SequenceStepForm, StepFormSet
from followups.admin.preview import render_preview, test_send
from followups.models import Sequence, SequenceStep
from followups.selectors.figures import EMPTY, FIGURES, RATES, Figures, sequence_figures, step_figures
from followups.services.engine import sequence_pause, sequence_resume
from leads.models import Lead


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def figure_rows(figures: Figures) -> list[dict]:
    """Label, count and rate of every figure, as the figures tables show them."""
    labels = {
        "sent": gettext_lazy("sent"),
        "delivered": gettext_lazy("delivered"),
        "opened": gettext_lazy("opened (human)"),
        "clicked": gettext_lazy("clicked (human)"),
        "replied": gettext_lazy("replied"),
        "unsubscribed": gettext_lazy("unsubscribed"),
        "bounced": gettext_lazy("bounced"),
        "complained": gettext_lazy("spam complaints"),
    }
    return [
        {
            "name": name,
            "label": labels[name],
            "count": getattr(figures, name),
            "rate": _percent(figures.rate(name)) if name in RATES else "",
        }
        for name in FIGURES
    ]


# --- admin --------------------------------------------------------------------------------------------


class SequenceStepInline(admin.StackedInline):
    model = SequenceStep
    form = SequenceStepForm
    formset = StepFormSet
    extra = 0
    ordering = ["number"]
    fieldsets = [
        (None, {"fields": [("number", "kind", "delay_hours", "is_active")]}),
        (gettext_lazy("Email"), {"fields": ["subject", "body_html", "body_text"]}),
        (
            gettext_lazy("Task and branching"),
            {"fields": [("channel", "template_code"), "conditions", "on_response"], "classes": ["collapse"]},
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sequence")  # each form's title names it


class SequenceChangeList(ChangeList):
    """Loads the figures of the page's sequences in one query (not one per row)."""

    def get_results(self, request):
        super().get_results(request)
        figures = sequence_figures(sequence.pk for sequence in self.result_list)
        for sequence in self.result_list:
            sequence.figures = figures.get(sequence.pk, EMPTY)


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    form = SequenceForm
    inlines = [SequenceStepInline]
    list_display = ["name", "code", "kind", "trigger", "state", "sent", "open_rate", "click_rate", "reply_rate"]
    list_filter = ["kind", "trigger", "is_active"]
    search_fields = ["name", "code"]
    list_select_related = ["organization"]
    prepopulated_fields = {"code": ("name",)}
    raw_id_fields = ["owner"]
    actions = ["pause_sequences", "resume_sequences"]
    fieldsets = [
        (None, {"fields": ["name", "code", "description", "kind", "organization", "owner", "is_active"]}),
        (gettext_lazy("Enrolment"), {"fields": ["trigger", "trigger_filter", "reenrol", "reenrol_after_days"]}),
        (gettext_lazy("Exit"), {"fields": ["exit_on", "next_sequence"]}),
    ]
    change_form_template = "admin/followups/sequence/change_form.html"

    def get_changelist(self, request, **kwargs):
        return SequenceChangeList

    def has_delete_permission(self, request, obj=None):
        # A sequence with runs is history (runs, due rows, figures): switch it off instead.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.runs.exists())

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would bypass the check above
        return actions

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: Sequence) -> str:
        if not obj.is_active:
            return _("inactive")
        return _("paused") if obj.paused_at else _("running")

    @admin.display(description=gettext_lazy("sent"))
    def sent(self, obj: Sequence) -> int:
        return getattr(obj, "figures", EMPTY).sent

    @admin.display(description=gettext_lazy("open rate"))
    def open_rate(self, obj: Sequence) -> str:
        return _percent(getattr(obj, "figures", EMPTY).rate("opened"))

    @admin.display(description=gettext_lazy("click rate"))
    def click_rate(self, obj: Sequence) -> str:
        return _percent(getattr(obj, "figures", EMPTY).rate("clicked"))

    @admin.display(description=gettext_lazy("reply rate"))
    def reply_rate(self, obj: Sequence) -> str:
        return _percent(getattr(obj, "figures", EMPTY).rate("replied"))

    # --- pause / resume ------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("Pause the selected sequences"), permissions=["change"])
    def pause_sequences(self, request, queryset):
        count = 0
        for sequence in queryset.filter(paused_at__isnull=True):
            sequence_pause(sequence=sequence, actor=request.user)
            count += 1
        self.message_user(request, _("%(count)d sequences paused.") % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Resume the selected sequences"), permissions=["change"])
    def resume_sequences(self, request, queryset):
        count = 0
        for sequence in queryset.filter(paused_at__isnull=False):
            sequence_resume(sequence=sequence, actor=request.user)
            count += 1
        self.message_user(request, _("%(count)d sequences resumed.") % {"count": count}, messages.SUCCESS)

    # --- change page: figures, preview, test send ---------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/preview/", wrap(self.preview_view), name="{}_{}_preview".format(*info)),
            path("<path:object_id>/test-send/", wrap(self.test_send_view), name="{}_{}_test_send".format(*info)),
            path("<path:object_id>/pause/", wrap(self.pause_view), name="{}_{}_pause".format(*info)),
            path("<path:object_id>/resume/", wrap(self.resume_view), name="{}_{}_resume".format(*info)),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        sequence = self.get_object(request, unquote(object_id))
        if sequence is not None:
            steps = list(sequence.steps.order_by("number"))
            per_step = step_figures(sequence_id=sequence.pk)
            total = sequence_figures([sequence.pk]).get(sequence.pk, EMPTY)
            extra_context.update(
                figures=figure_rows(total),
                figure_labels=[row["label"] for row in figure_rows(EMPTY)],
                step_rows=[{"step": step, "figures": figure_rows(per_step.get(step.pk, EMPTY))} for step in steps],
                preview_url=reverse("admin:followups_sequence_preview", args=[sequence.pk]),
                can_change=self.has_change_permission(request, sequence),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _sequence(self, request: HttpRequest, object_id: str) -> Sequence:
        sequence = self.get_object(request, unquote(object_id))
        if sequence is None or not self.has_view_permission(request, sequence):
            raise PermissionDenied
        return sequence

    def _back(self, sequence: Sequence) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:followups_sequence_change", args=[sequence.pk]))

    def pause_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._switch(request, object_id, pause=True)

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._switch(request, object_id, pause=False)

    def _switch(self, request: HttpRequest, object_id: str, *, pause: bool) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        sequence = self._sequence(request, object_id)
        if not self.has_change_permission(request, sequence):
            raise PermissionDenied
        try:
            if pause and sequence.paused_at is None:
                sequence_pause(sequence=sequence, actor=request.user)
            elif not pause and sequence.paused_at is not None:
                sequence_resume(sequence=sequence, actor=request.user)
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("The sequence is paused.") if pause else _("The sequence runs again."))
        return self._back(sequence)

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The step rendered for a chosen lead: HTML in a sandboxed iframe (no scripts, no same origin) and text."""
        sequence = self._sequence(request, object_id)
        initial = {}
        first_step = sequence.steps.filter(kind=SequenceStep.Kind.EMAIL).order_by("number").first()
        if first_step is not None:
            initial["step"] = first_step.pk
        newest = Lead.objects.filter(merged_into__isnull=True).only("public_id").order_by("-created_at").first()
        if newest is not None:
            initial["lead"] = newest.public_id
        data = {**initial, **request.GET.dict()} if request.GET else None  # ?step=… alone: the newest lead
        form = PreviewForm(data, initial=initial, sequence=sequence)
        preview = None
        if form.is_bound and form.is_valid():
            preview = render_preview(step=form.cleaned_data["step"], lead=form.cleaned_data["lead"])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview: %(name)s") % {"name": sequence.name},
            "opts": self.opts,
            "sequence": sequence,
            "form": form,
            "preview": preview,
            "change_url": reverse("admin:followups_sequence_change", args=[sequence.pk]),
            "test_send_url": reverse("admin:followups_sequence_test_send", args=[sequence.pk]),
            "can_test_send": bool(request.user.email),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/followups/sequence/preview.html", context)

    def test_send_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Send the rendered step to the admin's own address (never to the lead)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        sequence = self._sequence(request, object_id)
        if not self.has_change_permission(request, sequence):
            raise PermissionDenied
        form = PreviewForm(request.POST, sequence=sequence)
        back = reverse("admin:followups_sequence_preview", args=[sequence.pk])
        if not form.is_valid():
            messages.error(request, _("Choose a step and a lead for the test send."))
            return HttpResponseRedirect(back)
        step, lead = form.cleaned_data["step"], form.cleaned_data["lead"]
        back += "?" + urlencode({"step": step.pk, "lead": lead.public_id})
        if not request.user.email:
            messages.error(request, _("Your account has no email address to send the test to."))
        elif step.kind != SequenceStep.Kind.EMAIL:
            messages.error(request, _("Only email steps can be sent."))
        else:
            try:
                test_send(step=step, lead=lead, user=request.user)
            except DomainError as exc:
                messages.error(request, str(exc))
            except Exception as exc:  # a template or delivery error, shown to the author
                messages.error(request, _("The test email was not sent: %(error)s") % {"error": exc})
            else:
                messages.success(request, _("A test email went to %(email)s.") % {"email": request.user.email})
        return HttpResponseRedirect(back)
