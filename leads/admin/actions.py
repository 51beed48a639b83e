"""Bulk actions of the pool console: offer, reject, merge, rescore and CSV export of selected leads.

Each action validates the selection, calls a service per lead and reports what happened; limits keep
one click from touching a million leads.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from compliance.registry import SubjectQuery
from compliance.services import audit_record
from core.csv import csv_safe
from core.exceptions import DomainError
from leads.admin.forms import ErasureForm, OfferForm, RejectForm
from leads.models import Lead
from leads.selectors import partner_capacities
from leads.selectors.pool import partner_choices
from leads.services.offers import lead_pool_reject, offer_create

MAX_OFFER_LEADS = 50
MAX_REJECT_LEADS = 500
MAX_MERGE_LEADS = 20
MAX_RESCORE_LEADS = 500
MAX_EXPORT_ROWS = 10_000
#: Why an admin downloaded a person's data (the ``subject.exported`` audit event's reason).
SUBJECT_EXPORT_REASON = "Auskunftsersuchen (Art. 15 DSGVO), Admin-Aktion"

CSV_COLUMNS = [
    ("public_id", _("public id")),
    ("created_at", _("created at")),
    ("channel", _("channel")),
    ("source", _("source")),
    ("status", _("status")),
    ("stage", _("stage")),
    ("score", _("score")),
    ("p_score", "P"),
    ("i_score", "I"),
    ("e_score", "E"),
    ("first_name", _("first name")),
    ("last_name", _("last name")),
    ("email", _("email")),
    ("phone", _("phone")),
    ("company_name", _("company")),
    ("job_title", _("job title")),
    ("industry", _("industry")),
    ("interest_type", _("interest type")),
    ("postcode", _("postcode")),
    ("city", _("city")),
    ("country", _("country")),
    ("partner", _("assigned partner")),
    ("is_test", _("test lead")),
    ("last_activity_at", _("last activity")),
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(leads: Iterable[Lead]) -> Iterator[str]:
    writer = csv.writer(_Echo(), delimiter=";")
    yield "\ufeff"  # BOM: Excel opens UTF-8 with umlauts correctly
    yield writer.writerow([str(label) for _name, label in CSV_COLUMNS])
    for lead in leads:
        values = []
        for name, _label in CSV_COLUMNS:
            if name == "partner":
                value = lead.assigned_partner.email if lead.assigned_partner_id else ""
            elif name in ("created_at", "last_activity_at"):
                value = getattr(lead, name)
                value = timezone.localtime(value).strftime("%d.%m.%Y %H:%M") if value else ""
            elif name == "is_test":
                value = gettext("yes") if lead.is_test else gettext("no")
            else:
                value = getattr(lead, name)
            values.append(csv_safe(value))
        yield writer.writerow(values)


def partner_rows() -> list[dict[str, Any]]:
    """Partners with capacity, used and free slots, for the offer pages (three queries)."""
    partners = list(partner_choices())
    capacities = partner_capacities([p.pk for p in partners])
    rows = []
    for partner in partners:
        capacity = capacities.get(partner.pk)
        profile = partner.partner_profile
        rows.append(
            {
                "partner": partner,
                "name": str(profile),
                "capacity": capacity.capacity if capacity else profile.capacity,
                "open_leads": capacity.open_leads if capacity else 0,
                "open_offers": capacity.open_offers if capacity else 0,
                "free": capacity.free if capacity else 0,
                "active": partner.is_active and profile.is_active,
            }
        )
    rows.sort(key=lambda r: (not r["active"], -r["free"], r["name"].lower()))
    return rows


def _each(leads: Iterable[Lead], call: Callable[[Lead], Any]) -> tuple[int, list[str]]:
    """Call a service per lead; how many succeeded, and each refusal with the lead's public id."""
    done, errors = 0, []
    for lead in leads:
        try:
            call(lead)
            done += 1
        except DomainError as exc:
            errors.append(f"{lead.public_id}: {exc.message}")
    return done, errors


class LeadActionsMixin:
    """The changelist's bulk actions; mixed into ``LeadAdmin``."""

    def _intermediate(self, request, queryset, *, action: str, template: str, title: str, **context):
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        return TemplateResponse(
            request,
            f"admin/leads/lead/{template}",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.opts,
                "action": action,
                "selected_ids": ids,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
                **context,
            },
        )

    def _too_many(self, request, queryset, limit: int) -> bool:
        # Fetch at most limit + 1 ids instead of counting: "select all" may span a million leads.
        if len(queryset.values_list("pk", flat=True)[: limit + 1]) > limit:
            self.message_user(
                request, gettext("Please select at most %(n)s leads for this action.") % {"n": limit}, messages.WARNING
            )
            return True
        return False

    def _report(self, request, done: int, errors: list[str], done_message: str) -> None:
        if done:
            self.message_user(request, done_message, messages.SUCCESS)
        for error in errors[:20]:
            self.message_user(request, error, messages.ERROR)
        if len(errors) > 20:
            self.message_user(request, gettext("… and %(n)s more errors.") % {"n": len(errors) - 20}, messages.ERROR)

    @admin.action(description=_("Offer to a partner …"), permissions=["change"])
    def offer_to_partner(self, request, queryset):
        if self._too_many(request, queryset, MAX_OFFER_LEADS):
            return None
        form = OfferForm(request.POST if "apply" in request.POST else None)
        leads = list(queryset.order_by("-score", "created_at"))
        if form.is_bound and form.is_valid():
            partner = form.cleaned_data["partner"]
            done, errors = _each(leads, lambda lead: offer_create(lead=lead, partner=partner, actor=request.user))
            message = ngettext(
                "%(count)s lead offered to %(partner)s.", "%(count)s leads offered to %(partner)s.", done
            ) % {"count": done, "partner": partner.email}
            self._report(request, done, errors, message)
            return None
        return self._intermediate(
            request,
            queryset,
            action="offer_to_partner",
            template="action_offer.html",
            title=gettext("Offer leads to a partner"),
            leads=leads,
            form=form,
            partners=partner_rows(),
            ttl=settings.OFFER_TTL_HOURS,
        )

    @admin.action(description=_("Reject (take out of the pool) …"), permissions=["change"])
    def reject_leads(self, request, queryset):
        if self._too_many(request, queryset, MAX_REJECT_LEADS):
            return None
        form = RejectForm(request.POST if "apply" in request.POST else None)
        leads = list(queryset.order_by("created_at"))
        if form.is_bound and form.is_valid():
            done, errors = _each(
                leads, lambda lead: lead_pool_reject(lead=lead, actor=request.user, reason=form.reason)
            )
            message = ngettext(
                "%(count)s lead rejected and marked lost.", "%(count)s leads rejected and marked lost.", done
            ) % {"count": done}
            self._report(request, done, errors, message)
            return None
        return self._intermediate(
            request,
            queryset,
            action="reject_leads",
            template="action_reject.html",
            title=gettext("Reject leads"),
            leads=leads,
            form=form,
        )

    @admin.action(description=_("Merge selected leads …"), permissions=["change"])
    def merge_leads(self, request, queryset):
        from leads.services.merge import lead_merge

        if self._too_many(request, queryset, MAX_MERGE_LEADS):
            return None
        leads = list(queryset.filter(merged_into__isnull=True).order_by("created_at", "pk"))
        if len(leads) < 2:
            self.message_user(request, gettext("Select at least two leads that are not merged yet."), messages.WARNING)
            return None
        survivor, others = leads[0], leads[1:]
        if "apply" in request.POST:
            try:
                lead_merge(survivor=survivor, others=others, actor=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None
            self.message_user(
                request,
                gettext("%(count)s leads merged into %(lead)s (undo in its merge journal).")
                % {"count": len(others), "lead": survivor.public_id},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:leads_lead_change", args=[survivor.pk]))
        return self._intermediate(
            request,
            queryset,
            action="merge_leads",
            template="action_merge.html",
            title=gettext("Merge leads"),
            survivor=survivor,
            survivor_list=[survivor],
            others=others,
        )

    @admin.action(description=_("Recalculate score"), permissions=["change"])
    def rescore_leads(self, request, queryset):
        from leads.services.scoring import lead_rescore

        if self._too_many(request, queryset, MAX_RESCORE_LEADS):
            return None
        reason = gettext("Recalculated by %(user)s") % {"user": request.user.email}
        done, errors = _each(
            queryset.filter(merged_into__isnull=True), lambda lead: lead_rescore(lead=lead, reason=reason)
        )
        message = ngettext(
            "Score recalculated for %(count)s lead.", "Score recalculated for %(count)s leads.", done
        ) % {"count": done}
        self._report(request, done, errors, message)
        return None

    @admin.action(description=_("Export as CSV (decrypted)"), permissions=["change"])
    def export_csv(self, request, queryset):
        ids = list(queryset.order_by("-created_at").values_list("pk", flat=True)[: MAX_EXPORT_ROWS + 1])
        if len(ids) > MAX_EXPORT_ROWS:
            self.message_user(
                request,
                gettext("At most %(n)s leads can be exported at once; narrow the filter.") % {"n": MAX_EXPORT_ROWS},
                messages.WARNING,
            )
            return None
        # Exporting decrypted PII is itself a processing step worth an audit entry (DSGVO Art. 30).
        audit_record(
            event_type="leads.exported",
            actor=request.user,
            payload={"format": "csv", "count": len(ids), "lead_ids": [str(pk) for pk in ids]},
            ip=request.META.get("REMOTE_ADDR"),
        )
        leads = (
            Lead.objects.filter(pk__in=ids).select_related("assigned_partner").order_by("-created_at").iterator(2000)
        )
        response = StreamingHttpResponse(_csv_rows(leads), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        return response

    # --- data-subject rights (platform admins only) --------------------------------------------

    def has_subject_rights_permission(self, request) -> bool:
        """Exporting or erasing everything held about a person is for platform admins, not for ops staff."""
        return bool(getattr(request.user, "is_platform_admin", False))

    def _one_lead(self, request, queryset) -> Lead | None:
        leads = list(queryset.order_by("pk")[:2])
        if len(leads) != 1:
            self.message_user(
                request, gettext("Select exactly one lead: the person is found from it."), messages.WARNING
            )
            return None
        return leads[0]

    @admin.action(description=_("Export personal data (Art. 15)"), permissions=["subject_rights"])
    def export_subject_data(self, request, queryset):
        """Download everything held about the selected lead's person as one JSON document (audited)."""
        from compliance.services.subjects import subject_export

        lead = self._one_lead(request, queryset)
        if lead is None:
            return None
        try:
            document = subject_export(
                SubjectQuery("lead", str(lead.pk)), actor=request.user, reason=SUBJECT_EXPORT_REASON
            )
        except (DomainError, LookupError) as exc:
            self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
            return None
        body = json.dumps(document, ensure_ascii=False, indent=2)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="person-{lead.public_id}-{stamp}.json"'
        return response

    @admin.action(description=_("Erase person (Art. 17) …"), permissions=["subject_rights"])
    def erase_subject(self, request, queryset):
        """Erase the selected lead's person everywhere, after a confirmation page that asks for the reason."""
        from compliance.services.subjects import subject_erase, subject_resolve

        lead = self._one_lead(request, queryset)
        if lead is None:
            return None
        query = SubjectQuery("lead", str(lead.pk))
        form = ErasureForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                outcome = subject_erase(query, actor=request.user, reason=form.cleaned_data["reason"])
            except (DomainError, LookupError) as exc:
                self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
                return None
            if outcome.already_erased:
                self.message_user(request, gettext("This person was erased before; nothing changed."), messages.INFO)
                return None
            rows = sum(sum(counts.values()) for counts in outcome.counts.values())
            message = ngettext(
                "Personal data erased: %(leads)s lead anonymised, %(rows)s records changed.",
                "Personal data erased: %(leads)s leads anonymised, %(rows)s records changed.",
                outcome.lead_count,
            ) % {"leads": outcome.lead_count, "rows": rows}
            self.message_user(request, message, messages.SUCCESS)
            return None
        try:
            subject = subject_resolve(query)
        except (DomainError, LookupError) as exc:
            self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
            return None
        leads = list(Lead.objects.filter(pk__in=subject.lead_ids).order_by("created_at", "pk"))
        return self._intermediate(
            request,
            queryset,
            action="erase_subject",
            template="action_erase.html",
            title=gettext("Erase a person (Art. 17 GDPR)"),
            lead=lead,
            leads=leads,
            lead_count=len(leads),
            form=form,
        )
