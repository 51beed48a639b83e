"""Forms of the leads' portal pages (inbox, Meine Leads): they validate input; every write goes through a service."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.portal import DATE_WIDGET
from leads.models import Lead
from leads.services.work import ContactChannel, ContactOutcome

ALL = _("All")


def _blank(choices, label=ALL) -> list[tuple[str, object]]:
    return [("", label), *choices]


class LeadFilterForm(forms.Form):
    """The filter bar of Meine Leads; invalid values are ignored, not an error page."""

    SORT_CHOICES = [
        ("-last_activity", _("Last activity (newest)")),
        ("-score", _("Score (highest)")),
        ("score", _("Score (lowest)")),
        ("last_activity", _("Last activity (oldest)")),
        ("-created", _("Received (newest)")),
        ("created", _("Received (oldest)")),
    ]

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=120,
        widget=forms.TextInput(attrs={"placeholder": _("Email, phone, SOT-LEAD-… or company"), "type": "search"}),
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=_blank(Lead.Status.choices))
    stage = forms.ChoiceField(label=_("Stage"), required=False, choices=_blank(Lead.Stage.choices))
    channel = forms.ChoiceField(label=_("Channel"), required=False, choices=_blank(Lead.Channel.choices))
    source = forms.ChoiceField(label=_("Source"), required=False, choices=_blank(Lead.Source.choices))
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORT_CHOICES)

    def filters(self) -> dict[str, str]:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "q": data.get("q") or "",
            "status": data.get("status") or "",
            "stage": data.get("stage") or "",
            "channel": data.get("channel") or "",
            "source": data.get("source") or "",
            "ordering": data.get("sort") or "-last_activity",
        }


class ContactLogForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ContactChannel.choices)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=ContactOutcome.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    next_follow_up = forms.DateField(label=_("Next follow-up"), required=False, widget=DATE_WIDGET)


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))


class FollowUpForm(forms.Form):
    next_follow_up = forms.DateField(label=_("Next follow-up"), required=False, widget=DATE_WIDGET)


class QualifyForm(forms.Form):
    note = forms.CharField(label=_("Why qualified (optional)"), required=False, max_length=500)


class ManualLeadForm(forms.Form):
    """An own lead typed in by the partner (a referral or a walk-in): 100 % partner, no split."""

    channel = forms.ChoiceField(
        label=_("How did the lead reach you?"),
        choices=[
            (Lead.Channel.MANUAL, Lead.Channel.MANUAL.label),
            (Lead.Channel.REFERRAL, Lead.Channel.REFERRAL.label),
        ],
    )
    first_name = forms.CharField(label=_("First name"), required=False, max_length=150)
    last_name = forms.CharField(label=_("Last name"), required=False, max_length=150)
    email = forms.EmailField(label=_("Email"), required=False, max_length=254)
    phone = forms.CharField(label=_("Phone"), required=False, max_length=40)
    company_name = forms.CharField(label=_("Company"), required=False, max_length=255)
    job_title = forms.CharField(label=_("Job title"), required=False, max_length=255)
    interest_type = forms.ChoiceField(
        label=_("Interest"), required=False, choices=_blank(Lead.InterestType.choices, label="–")
    )
    postcode = forms.CharField(label=_("Postcode"), required=False, max_length=16)
    city = forms.CharField(label=_("City"), required=False, max_length=120)

    def clean(self):
        data = super().clean()
        if not data.get("email") and not data.get("phone"):
            raise forms.ValidationError(_("Enter an email address or a phone number."))
        return data
