"""Changelist filters of the pool console; labels in English source, shown in German."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leads.models import Lead
from leads.selectors.pool import (
    ACTIVITY_BAND_CHOICES,
    OFFER_STATUS_CHOICES,
    SCORE_BAND_CHOICES,
    activity_band_q,
    offer_status_q,
    partner_choices,
    platform_id,
    pool_q,
    score_band_q,
)


class ChoiceListFilter(admin.SimpleListFilter):
    """Filter one field by a fixed set of choices (no query for the choices)."""

    field = ""
    choices_list: list[tuple[str, str]] = []

    def lookups(self, request, model_admin):
        return self.choices_list

    def queryset(self, request, queryset):
        value = self.value()
        if value in {str(key) for key, _label in self.choices_list}:
            return queryset.filter(self.q(value))
        return queryset

    def q(self, value: str) -> Q:
        return Q(**{self.field: value})


class StageFilter(ChoiceListFilter):
    title = _("stage")
    parameter_name = "stage"
    field = "stage"
    choices_list = Lead.Stage.choices


class ScoreBandFilter(ChoiceListFilter):
    title = _("score band")
    parameter_name = "score_band"
    choices_list = SCORE_BAND_CHOICES

    def q(self, value: str) -> Q:
        return score_band_q(value)


class ChannelFilter(ChoiceListFilter):
    title = _("channel")
    parameter_name = "channel"
    field = "channel"
    choices_list = Lead.Channel.choices


class SourceFilter(ChoiceListFilter):
    title = _("source")
    parameter_name = "source"
    field = "source"
    choices_list = Lead.Source.choices


class StatusFilter(ChoiceListFilter):
    title = _("status")
    parameter_name = "status"
    field = "status"
    choices_list = Lead.Status.choices


class ActivityFilter(ChoiceListFilter):
    title = _("days since last activity")
    parameter_name = "activity"
    choices_list = ACTIVITY_BAND_CHOICES

    def q(self, value: str) -> Q:
        return activity_band_q(value)


class OfferStatusFilter(ChoiceListFilter):
    title = _("offer status")
    parameter_name = "offer_status"
    choices_list = OFFER_STATUS_CHOICES

    def q(self, value: str) -> Q:
        return offer_status_q(value)


class TestLeadFilter(ChoiceListFilter):
    title = _("test leads")
    parameter_name = "test"
    choices_list = [("no", _("Real leads only")), ("yes", _("Test leads only"))]

    def q(self, value: str) -> Q:
        return Q(is_test=value == "yes")


class ErasedBeforeFilter(ChoiceListFilter):
    """Leads of persons erased before (a tombstone matched on arrival): an admin decides about them."""

    title = _("previously erased")
    parameter_name = "erased_before"
    choices_list = [("yes", _("Person erased before")), ("no", _("Not erased before"))]

    def q(self, value: str) -> Q:
        return Q(erased_before__isnull=value != "yes")


class PartnerFilter(admin.SimpleListFilter):
    title = _("assigned partner")
    parameter_name = "partner"

    def lookups(self, request, model_admin):
        return [("none", _("No partner")), *((str(p.pk), str(p.partner_profile)) for p in partner_choices())]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(assigned_partner__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assigned_partner_id=int(value))
        return queryset


class ScopeFilter(admin.SimpleListFilter):
    """Live leads by default; merged leads are kept for the journal but hidden unless asked for."""

    title = _("pool")
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [
            ("pool", _("In the pool")),
            ("partner", _("With a partner")),
            ("merged", _("Merged into another lead")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "merged":
            return queryset.filter(merged_into__isnull=False)
        if value == "pool":
            return queryset.filter(pool_q(platform_id()))
        if value == "partner":
            return queryset.filter(merged_into__isnull=True, assigned_partner__isnull=False)
        return queryset.filter(merged_into__isnull=True)


LEAD_FILTERS = [
    ScopeFilter,
    StageFilter,
    ScoreBandFilter,
    ChannelFilter,
    SourceFilter,
    StatusFilter,
    ActivityFilter,
    PartnerFilter,
    OfferStatusFilter,
    TestLeadFilter,
    ErasedBeforeFilter,
]
