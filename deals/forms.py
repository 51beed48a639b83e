"""Forms of the deals' portal pages (pipeline, deal page, converting a lead): validation only; writes use services."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from core.portal import DATE_WIDGET
from deals.models import PartnerDeal

MONEY = {"max_digits": 14, "decimal_places": 2, "min_value": Decimal("0"), "max_value": Decimal("999999999999")}


class ConvertForm(forms.Form):
    deal_value = forms.DecimalField(label=_("Expected deal value (EUR)"), required=False, **MONEY)
    expected_close_date = forms.DateField(label=_("Expected close date"), required=False, widget=DATE_WIDGET)
    stage = forms.ChoiceField(
        label=_("Start in stage"),
        choices=[
            (PartnerDeal.Stage.LEAD, PartnerDeal.Stage.LEAD.label),
            (PartnerDeal.Stage.QUALIFIED, PartnerDeal.Stage.QUALIFIED.label),
        ],
        initial=PartnerDeal.Stage.LEAD,
    )
    listing_id = forms.CharField(label=_("Listing id (optional)"), required=False, max_length=64)


class DealMoveForm(forms.Form):
    stage = forms.ChoiceField(label=_("Move to"), choices=PartnerDeal.Stage.choices)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class DealEditForm(forms.Form):
    deal_value = forms.DecimalField(label=_("Deal value (EUR)"), **MONEY)
    expected_close_date = forms.DateField(label=_("Expected close date"), required=False, widget=DATE_WIDGET)
    listing_id = forms.CharField(label=_("Listing id"), required=False, max_length=64)


class DealWinForm(forms.Form):
    deal_value = forms.DecimalField(label=_("Final deal value (EUR)"), required=False, **MONEY)


class DealReopenForm(forms.Form):
    """A platform admin reopens a won or lost deal (admin): the open stage it goes back to and why."""

    stage = forms.ChoiceField(
        label=_("Reopen in stage"),
        choices=[(stage.value, stage.label) for stage in PartnerDeal.OPEN_STAGES],
        initial=PartnerDeal.Stage.CLOSING,
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500, widget=forms.TextInput)
