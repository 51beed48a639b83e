"""Forms of the campaign pages (portal "Werbung") and of the admin's hand-booking ("attach ids").

The portal form speaks euros and check boxes; ``service_values`` turns it into the services' terms
(``budget_cents``, ``regions``), and ``add_service_errors`` puts a service's refusal back on the fields.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from campaigns.models import CampaignTemplate
from campaigns.selectors.campaigns import campaign_template_list_active
from campaigns.services.drafts import COUNTRIES, MIN_RADIUS_KM
from core.portal import DATE_WIDGET

COUNTRY_CHOICES = [("DE", _("Germany")), ("AT", _("Austria")), ("CH", _("Switzerland"))]
#: Service field → form field, for putting a service's refusal where the partner typed.
SERVICE_FIELDS = {"budget_cents": "budget_euros", "regions": "countries", "template": "template"}


class TemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: CampaignTemplate) -> str:
        return obj.name


class CampaignForm(forms.Form):
    """New or edited draft: template, budget in euros, runtime, regions and optional copy overrides."""

    template = TemplateChoiceField(
        label=_("Template"), queryset=CampaignTemplate.objects.none(), to_field_name="code", empty_label=None
    )
    name = forms.CharField(label=_("Campaign name"), max_length=200, required=False)
    budget_euros = forms.DecimalField(
        label=_("Budget (€, whole runtime)"), min_value=Decimal(100), max_value=Decimal(1_000_000), decimal_places=2
    )
    start_date = forms.DateField(label=_("Start"), widget=DATE_WIDGET)
    end_date = forms.DateField(label=_("End"), widget=DATE_WIDGET)
    countries = forms.MultipleChoiceField(
        label=_("Countries"), choices=COUNTRY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    city_key = forms.CharField(label=_("City key (Meta)"), max_length=40, required=False)
    city_name = forms.CharField(label=_("City"), max_length=100, required=False)
    radius_km = forms.IntegerField(label=_("Radius (km)"), min_value=MIN_RADIUS_KM, max_value=80, required=False)
    headline = forms.CharField(label=_("Headline (empty: the template's)"), max_length=255, required=False)
    text = forms.CharField(
        label=_("Primary text (empty: the template's)"), max_length=5000, required=False, widget=forms.Textarea
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = campaign_template_list_active()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("city_key") and not data.get("radius_km"):
            self.add_error("radius_km", _("A city needs a radius of at least %(km)d km.") % {"km": MIN_RADIUS_KM})
        if not data.get("countries") and not data.get("city_key") and not self.has_error("countries"):
            self.add_error("countries", _("Choose at least one country or a city."))
        return data

    def regions(self) -> list[Any]:
        data = self.cleaned_data
        regions: list[Any] = [code for code in COUNTRIES if code in (data.get("countries") or [])]
        if data.get("city_key"):
            city: dict[str, Any] = {"city_key": data["city_key"], "radius_km": data.get("radius_km")}
            if data.get("city_name"):
                city["name"] = data["city_name"]
            regions.append(city)
        return regions

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "template": data["template"],
            "name": data.get("name") or "",
            "budget_cents": int((data["budget_euros"] * 100).to_integral_value()),
            "start_date": data["start_date"],
            "end_date": data["end_date"],
            "regions": self.regions(),
            "headline": data.get("headline") or "",
            "text": data.get("text") or "",
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        for field, messages in exc.message_dict.items():
            target = SERVICE_FIELDS.get(field, field)
            for message in messages:
                self.add_error(target if target in self.fields else None, message)

    @classmethod
    def initial_for(cls, campaign: Any) -> dict[str, Any]:
        """The form's values of an existing draft."""
        countries = [region for region in campaign.regions if isinstance(region, str)]
        city = next((region for region in campaign.regions if isinstance(region, dict)), {})
        return {
            "template": campaign.template.code,
            "name": campaign.name,
            "budget_euros": Decimal(campaign.budget_cents) / 100,
            "start_date": campaign.start_date,
            "end_date": campaign.end_date,
            "countries": countries,
            "city_key": city.get("city_key", ""),
            "city_name": city.get("name", ""),
            "radius_km": city.get("radius_km"),
            "headline": campaign.headline,
            "text": campaign.text,
        }


class SubmitForm(forms.Form):
    accept_tos = forms.BooleanField(label=_("I accept Meta's terms for lead ads."), required=False)


class AttachIdsForm(forms.Form):
    """The admin's hand-booking: the ids of a campaign booked in Meta's Ads Manager."""

    meta_campaign_id = forms.RegexField(label=_("Meta campaign id"), regex=r"^[0-9]{1,40}$")
    meta_adset_id = forms.RegexField(label=_("Meta ad set id"), regex=r"^[0-9]{1,40}$")
    meta_ad_id = forms.RegexField(label=_("Meta ad id"), regex=r"^[0-9]{1,40}$")
    meta_form_id = forms.RegexField(label=_("Meta lead form id"), regex=r"^[0-9]{1,40}$")
