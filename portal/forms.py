"""Forms of the portal's own pages: the date range of sources and reports."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.portal import DATE_WIDGET


class ReportRangeForm(forms.Form):
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE_WIDGET)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE_WIDGET)

    def range_values(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {"date_from": data.get("date_from"), "date_to": data.get("date_to")}
