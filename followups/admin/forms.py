"""Forms of the sequence editor: the rules of a sequence and its steps, validated with clear errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.template import TemplateSyntaxError, engines
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from followups.models import DueStep, Sequence, SequenceRun, SequenceStep
from leads.models import Lead

#: What ``Sequence.trigger_filter`` may say, and the values each key accepts (None: free text).
TRIGGER_FILTER_KEYS: dict[str, list[str] | None] = {
    "channels": list(Lead.Channel.values),
    "to_status": list(Lead.Status.values),
    "magnet": None,
}
TEMPLATE_FIELDS = ("subject", "body_html", "body_text")


def template_error(source: str) -> str | None:
    """The Django template engine's complaint about ``source``, or None when it compiles."""
    try:
        engines["django"].from_string(source)
    except TemplateSyntaxError as exc:
        return str(exc)
    return None


class SequenceForm(forms.ModelForm):
    exit_on = forms.MultipleChoiceField(
        label=_("exit on"),
        choices=SequenceRun.ExitReason.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The events that end a run. None ticked: all of them."),
    )

    class Meta:
        model = Sequence
        fields = [
            "code",
            "name",
            "description",
            "kind",
            "trigger",
            "trigger_filter",
            "reenrol",
            "reenrol_after_days",
            "exit_on",
            "organization",
            "owner",
            "next_sequence",
            "is_active",
        ]
        help_texts = {
            "trigger_filter": _(
                'Narrows the trigger, e.g. {"channels": ["website", "facebook"]}, {"to_status": ["qualified"]} '
                'or {"magnet": "Renditerechner"}. Empty: every event of the trigger.'
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "organization" in self.fields and not self.instance.pk:
            self.fields["organization"].initial = Organization.platform().pk

    def clean_trigger_filter(self) -> dict[str, Any]:
        value = self.cleaned_data.get("trigger_filter") or {}
        if not isinstance(value, dict):
            raise ValidationError(_('The trigger filter must be an object, e.g. {"channels": ["website"]}.'))
        unknown = sorted(set(value) - set(TRIGGER_FILTER_KEYS))
        if unknown:
            raise ValidationError(
                _("Unknown keys in the trigger filter: %(keys)s. Allowed: %(allowed)s.")
                % {"keys": ", ".join(unknown), "allowed": ", ".join(TRIGGER_FILTER_KEYS)}
            )
        for key, allowed in TRIGGER_FILTER_KEYS.items():
            if key not in value:
                continue
            if allowed is None:
                if not isinstance(value[key], str) or not value[key].strip():
                    raise ValidationError(_("“%(key)s” must be a non-empty text.") % {"key": key})
                continue
            items = value[key]
            if not isinstance(items, list) or not items:
                raise ValidationError(_("“%(key)s” must be a non-empty list.") % {"key": key})
            wrong = [str(item) for item in items if item not in allowed]
            if wrong:
                raise ValidationError(
                    _("Unknown values for “%(key)s”: %(values)s. Allowed: %(allowed)s.")
                    % {"key": key, "values": ", ".join(wrong), "allowed": ", ".join(allowed)}
                )
        return value

    def clean_exit_on(self) -> list[str]:
        return list(self.cleaned_data.get("exit_on") or [])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reenrol") == Sequence.Reenrol.AFTER_DAYS and not cleaned.get("reenrol_after_days"):
            self.add_error("reenrol_after_days", _("Say after how many days a lead may run this sequence again."))
        if cleaned.get("reenrol") == Sequence.Reenrol.ONCE:
            cleaned["reenrol_after_days"] = None
        next_sequence = cleaned.get("next_sequence")
        if next_sequence is not None and self.instance.pk and next_sequence.pk == self.instance.pk:
            self.add_error("next_sequence", _("A sequence cannot continue with itself."))
        return cleaned


class SequenceStepForm(forms.ModelForm):
    class Meta:
        model = SequenceStep
        fields = [
            "number",
            "kind",
            "delay_hours",
            "subject",
            "body_html",
            "body_text",
            "channel",
            "template_code",
            "conditions",
            "on_response",
            "is_active",
        ]
        widgets = {
            "subject": forms.TextInput(attrs={"size": 90}),
            "body_html": forms.Textarea(attrs={"rows": 8, "cols": 100}),
            "body_text": forms.Textarea(attrs={"rows": 5, "cols": 100}),
            "conditions": forms.Textarea(attrs={"rows": 2, "cols": 60}),
            "on_response": forms.Textarea(attrs={"rows": 2, "cols": 60}),
        }

    def clean(self):
        cleaned = super().clean()
        for name in TEMPLATE_FIELDS:
            error = template_error(cleaned.get(name) or "")
            if error:
                self.add_error(name, _("Template error in this field: %(error)s") % {"error": error})
        if cleaned.get("kind") == SequenceStep.Kind.EMAIL:
            if not (cleaned.get("subject") or "").strip():
                self.add_error("subject", _("An email step needs a subject."))
            if not ((cleaned.get("body_html") or "").strip() or (cleaned.get("body_text") or "").strip()):
                self.add_error("body_html", _("An email step needs a body (HTML or text)."))
        for name in ("conditions", "on_response"):
            if name in cleaned and not isinstance(cleaned[name] or {}, dict):
                self.add_error(name, _('This must be an object, e.g. {"has_email": true}.'))
        return cleaned


class StepFormSet(forms.BaseInlineFormSet):
    def clean(self):
        seen: set[int] = set()
        duplicates: set[int] = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data"):
                continue
            if form.cleaned_data.get("DELETE"):
                step = form.instance
                if step.pk and (DueStep.objects.filter(step=step).exists() or step.emails.exists()):
                    raise ValidationError(
                        _("Step %(number)s has been used by runs: switch it off (active) instead of deleting it.")
                        % {"number": step.number}
                    )
                continue
            number = form.cleaned_data.get("number")
            if number is None:
                continue
            (duplicates if number in seen else seen).add(number)
        if duplicates:
            raise ValidationError(
                _("Step numbers must be unique; used more than once: %(numbers)s.")
                % {"numbers": ", ".join(str(n) for n in sorted(duplicates))}
            )
        super().clean()


class PreviewForm(forms.Form):
    step = forms.ModelChoiceField(label=_("Step"), queryset=SequenceStep.objects.none())
    lead = forms.CharField(
        label=_("Lead"),
        max_length=64,
        help_text=_("Public id (SOT-LEAD-…) or UUID of the lead whose data fills the template."),
    )

    def __init__(self, *args, sequence: Sequence, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["step"].queryset = sequence.steps.order_by("number")
        self.fields["step"].label_from_instance = lambda step: (
            f"#{step.number} · {step.get_kind_display()}" + (f" · {step.subject}" if step.subject else "")
        )

    def clean_lead(self) -> Lead:
        ref = self.cleaned_data["lead"].strip()
        queryset = Lead.objects.filter(merged_into__isnull=True)
        lead = queryset.filter(public_id=ref).first()
        if lead is None:
            try:
                lead = queryset.filter(pk=ref).first()
            except ValidationError:
                lead = None
        if lead is None:
            raise ValidationError(_("No lead with this id."))
        return lead
