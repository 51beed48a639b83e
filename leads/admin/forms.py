"""Forms of the pool console's intermediate pages and lead panels."""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from core.portal import DATE_WIDGET
from leads.models import Lead
from leads.selectors.pool import partner_choices, stats_range
from leads.services.ingest import UPDATABLE_FIELDS, lead_identity_conflicts


class PartnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.partner_profile} <{obj.email}>"


class OfferForm(forms.Form):
    partner = PartnerChoiceField(queryset=User.objects.none(), label=_("partner"), widget=forms.RadioSelect)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partner_choices()


class RejectForm(forms.Form):
    REASONS = [
        ("spam", _("Spam")),
        ("invalid", _("Invalid contact data")),
        ("duplicate", _("Duplicate")),
        ("no_interest", _("No interest")),
        ("out_of_area", _("Outside our area")),
        ("other", _("Other")),
    ]

    reason_code = forms.ChoiceField(label=_("reason"), choices=REASONS)
    note = forms.CharField(label=_("note"), max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if data.get("reason_code") == "other" and not (data.get("note") or "").strip():
            self.add_error("note", _("Please describe the reason."))
        return data

    @property
    def reason(self) -> str:
        """The reason as stored on the lead: the chosen label plus the note."""
        label = str(dict(self.REASONS)[self.cleaned_data["reason_code"]])
        note = (self.cleaned_data.get("note") or "").strip()
        return f"{label}: {note}" if note else label


class ErasureForm(forms.Form):
    """The reason for erasing a person (Art. 17): required, kept encrypted on the erasure request."""

    reason = forms.CharField(
        label=_("reason"),
        max_length=500,
        help_text=_("E.g. the person's request of 12.03. by email, ticket number."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class StatsRangeForm(forms.Form):
    # ``<input type="date">`` only shows an ISO value (yyyy-mm-dd), whatever the active locale formats.
    date_from = forms.DateField(label=_("from"), required=False, widget=DATE_WIDGET)
    date_to = forms.DateField(label=_("to"), required=False, widget=DATE_WIDGET)

    def range(self) -> tuple[date, date]:
        data = self.cleaned_data if self.is_valid() else {}
        rng = stats_range(data.get("date_from"), data.get("date_to"))
        return rng.date_from, rng.date_to


class LeadAddForm(forms.ModelForm):
    """Manual capture in the admin: goes through ``lead_ingest`` like every channel (dedup included)."""

    class Meta:
        model = Lead
        fields = (
            "channel",
            "source",
            "first_name",
            "last_name",
            "email",
            "phone",
            "company_name",
            "job_title",
            "interest_type",
            "postcode",
            "city",
            "region",
            "country",
            "is_test",
        )

    def clean(self):
        data = super().clean()
        if not (data.get("email") or data.get("phone")):
            raise forms.ValidationError(_("Give at least an email address or a phone number."))
        return data


class LeadChangeForm(forms.ModelForm):
    """Corrections in the admin: a new email/phone that belongs to another lead is refused here."""

    class Meta:
        model = Lead
        fields = sorted(UPDATABLE_FIELDS)

    def clean(self):
        data = super().clean()
        if self.instance.pk and {"email", "phone"} & set(self.changed_data):
            contact = {name: data.get(name) or "" for name in ("email", "phone") if name in self.changed_data}
            conflicts = lead_identity_conflicts(lead=self.instance, **contact)
            if conflicts:
                raise forms.ValidationError(
                    _("This contact already belongs to lead %(leads)s: merge the leads instead."),
                    params={"leads": ", ".join(conflicts)},
                )
        return data
