"""A partner's campaign drafts (SPEC §10): create, edit until submitted, submit with the Meta ads terms.

Validation lives here so the API and the portal refuse the same input with the same words: budget
≥ 100 €, a start not in the past, an end after the start, regions as DE/AT/CH or a city with a
radius ≥ 15 km, and none of the targeting Meta forbids for housing ads (age, gender, postcodes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override

from accounts.models import Notification
from accounts.selectors import staff_list_active
from accounts.services import notify
from campaigns.models import AdCampaign, CampaignTemplate
from campaigns.services.core import campaign_created_record, campaign_transition
from compliance.models import ConsentRecord
from compliance.selectors.consent import consent_state
from compliance.services.consent import consent_grant
from core.exceptions import ConflictError, DomainError

MIN_BUDGET_CENTS = 10_000
MAX_BUDGET_CENTS = 100_000_000  # 1 Mio. €: a typo guard, not a business rule
MIN_RADIUS_KM = 15
MAX_RADIUS_KM = 80  # Meta's largest city radius
COUNTRIES = ("DE", "AT", "CH")
#: Meta refuses a start more than 37 months ahead (error 3018); a year of runtime is plenty for one budget.
MAX_LEAD_TIME = dt.timedelta(days=3 * 365)
MAX_RUNTIME = dt.timedelta(days=366)
TOS_CODE = ConsentRecord.Code.META_ADS_TOS
#: Keys a region must not carry: Meta's housing category forbids age, gender and postcode targeting.
FORBIDDEN_TARGETING = frozenset(
    {
        "age",
        "age_min",
        "age_max",
        "ages",
        "gender",
        "genders",
        "zip",
        "zips",
        "zip_code",
        "postcode",
        "postcodes",
        "postal_code",
        "postal_codes",
        "plz",
        "subcity",
        "neighborhood",
        "metro_area",
        "small_geo_area",
        "subneighborhood",
        "electoral_district",
        "excluded_geo_locations",
    }
)
REGION_KEYS = frozenset({"city_key", "name", "radius_km"})
DRAFT_FIELDS = ("template", "name", "budget_cents", "start_date", "end_date", "regions", "headline", "text")


class TosRequired(ConflictError):
    """The first submission of a partner needs the Meta ads terms (409 ``tos_required``)."""

    code = "tos_required"


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def regions_clean(regions: Any) -> list[Any]:
    """Normalise regions (``"de"`` → ``"DE"``, radius as int) or refuse them with a message a partner understands."""
    if not isinstance(regions, list) or not regions:
        raise _invalid("regions", _("Choose at least one region: DE, AT, CH or a city with a radius."))
    if len(regions) > 50:
        raise _invalid("regions", _("At most 50 regions per campaign."))
    clean: list[Any] = []
    for region in regions:
        if isinstance(region, str):
            code = region.strip().upper()
            if code not in COUNTRIES:
                raise _invalid(
                    "regions",
                    _("Unknown region %(region)s: use DE, AT, CH or a city with a radius.") % {"region": region[:20]},
                )
            if code not in clean:
                clean.append(code)
            continue
        if not isinstance(region, dict):
            raise _invalid("regions", _("A region is a country code or a city with a radius."))
        forbidden = sorted(str(key) for key in region if str(key).lower() in FORBIDDEN_TARGETING)
        if forbidden:
            raise _invalid(
                "regions",
                _(
                    "Property ads fall under Meta's special ad category Housing: targeting by age, gender or "
                    "postcode is not allowed (%(keys)s)."
                )
                % {"keys": ", ".join(forbidden)},
            )
        unknown = sorted(str(key) for key in region if key not in REGION_KEYS)
        if unknown:
            raise _invalid("regions", _("Unknown region fields: %(keys)s.") % {"keys": ", ".join(unknown)})
        city_key = str(region.get("city_key") or "").strip()
        if not city_key or len(city_key) > 40:
            raise _invalid("regions", _("A city region needs Meta's city key."))
        radius = region.get("radius_km")
        if isinstance(radius, bool) or not isinstance(radius, int | float | str):
            raise _invalid("regions", _("A city region needs a radius in km."))
        try:
            radius = int(float(radius))
        except (TypeError, ValueError, OverflowError):
            raise _invalid("regions", _("A city region needs a radius in km.")) from None
        if radius < MIN_RADIUS_KM:
            raise _invalid(
                "regions",
                _("Meta's housing rules need a radius of at least %(km)d km around a city.") % {"km": MIN_RADIUS_KM},
            )
        if radius > MAX_RADIUS_KM:
            raise _invalid("regions", _("The radius can be at most %(km)d km.") % {"km": MAX_RADIUS_KM})
        item: dict[str, Any] = {"city_key": city_key, "radius_km": radius}
        name = str(region.get("name") or "").strip()[:100]
        if name:
            item["name"] = name
        clean.append(item)
    return clean


def draft_validate(values: dict[str, Any], *, today: dt.date | None = None, check_start: bool = True) -> dict[str, Any]:
    """Check a draft's values together; every problem at once, keyed by field (Django ``ValidationError``)."""
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    template = values.get("template")
    if not isinstance(template, CampaignTemplate) or not template.is_active:
        errors.setdefault("template", []).append(_("Choose one of the active templates."))
    budget = values.get("budget_cents")
    if not isinstance(budget, int) or budget < MIN_BUDGET_CENTS:
        errors.setdefault("budget_cents", []).append(_("The budget must be at least 100 €."))
    elif budget > MAX_BUDGET_CENTS:
        errors.setdefault("budget_cents", []).append(_("The budget is too high."))
    start, end = values.get("start_date"), values.get("end_date")
    if not isinstance(start, dt.date):
        errors.setdefault("start_date", []).append(_("Enter a start date."))
    elif check_start and start < today:
        errors.setdefault("start_date", []).append(_("The start date cannot be in the past."))
    elif start > today + MAX_LEAD_TIME:
        errors.setdefault("start_date", []).append(_("The start can be at most three years ahead."))
    if not isinstance(end, dt.date):
        errors.setdefault("end_date", []).append(_("Enter an end date."))
    elif isinstance(start, dt.date) and end <= start:
        errors.setdefault("end_date", []).append(_("The end date must be after the start date."))
    elif isinstance(start, dt.date) and end > start + MAX_RUNTIME:
        errors.setdefault("end_date", []).append(_("A campaign runs at most one year."))
    try:
        values["regions"] = regions_clean(values.get("regions"))
    except ValidationError as exc:
        errors.setdefault("regions", []).extend(exc.message_dict["regions"])
    for field, limit in (("headline", 255), ("name", 200), ("text", 5000)):
        values[field] = str(values.get(field) or "").strip()
        if len(values[field]) > limit:
            errors.setdefault(field, []).append(_("At most %(n)d characters.") % {"n": limit})
    if errors:
        raise ValidationError(errors)
    return values


def _default_name(template: CampaignTemplate, start: dt.date) -> str:
    return f"{template.name} · {start:%d.%m.%Y}"[:200]


@transaction.atomic
def campaign_create(
    *,
    partner: Any,
    actor: Any | None,
    template: CampaignTemplate | None,
    budget_cents: int,
    start_date: dt.date,
    end_date: dt.date,
    regions: list[Any],
    headline: str = "",
    text: str = "",
    name: str = "",
    today: dt.date | None = None,
) -> AdCampaign:
    """Create a partner's draft (API-541, portal "Neue Kampagne"); audited ``campaign.created``."""
    if getattr(partner, "organization_id", None) is None:
        raise DomainError(_("Your account has no organization."), code="partner_without_organization")
    values = draft_validate(
        {
            "template": template,
            "budget_cents": budget_cents,
            "start_date": start_date,
            "end_date": end_date,
            "regions": regions,
            "headline": headline,
            "text": text,
            "name": name,
        },
        today=today,
    )
    campaign = AdCampaign.objects.create(
        partner=partner,
        tenant_id=partner.organization_id,
        template=values["template"],
        name=values["name"] or _default_name(values["template"], values["start_date"]),
        headline=values["headline"],
        text=values["text"],
        budget_cents=values["budget_cents"],
        start_date=values["start_date"],
        end_date=values["end_date"],
        regions=values["regions"],
    )
    campaign_created_record(campaign=campaign, actor=actor)
    return campaign


@transaction.atomic
def campaign_update_draft(
    *, campaign: AdCampaign, actor: Any | None, today: dt.date | None = None, **changes: Any
) -> AdCampaign:
    """Change a draft (the portal's edit form, API PATCH); a submitted campaign is fixed (409 ``not_a_draft``)."""
    unknown = set(changes) - set(DRAFT_FIELDS)
    if unknown:
        raise ValueError(f"Not a draft field: {', '.join(sorted(unknown))}")
    locked = AdCampaign.objects.select_for_update().select_related("template").get(pk=campaign.pk)
    if locked.status != AdCampaign.Status.DRAFT:
        raise ConflictError(_("Only a draft can be changed."), code="not_a_draft")
    values = {field: getattr(locked, field) for field in DRAFT_FIELDS}
    values.update(changes)
    # An unchanged start that has passed meanwhile does not block editing the rest.
    check_start = "start_date" in changes and changes["start_date"] != locked.start_date
    values = draft_validate(values, today=today, check_start=check_start)
    if not values["name"]:
        values["name"] = locked.name or _default_name(values["template"], values["start_date"])
    changed = [field for field in DRAFT_FIELDS if getattr(locked, field) != values[field]]
    for field in changed:
        setattr(locked, field, values[field])
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
    return locked


def tos_consent_for(partner: Any) -> ConsentRecord | None:
    """The partner's standing ``META_ADS_TOS`` grant (given once per partner), or None."""
    state = consent_state(partner, TOS_CODE)
    return state.record if state.granted else None


@transaction.atomic
def campaign_submit(
    *,
    campaign: AdCampaign,
    actor: Any,
    accept_tos: bool = False,
    ip: str | None = None,
    user_agent: str = "",
    source: str = ConsentRecord.Source.API,
) -> AdCampaign:
    """draft → pending (API-546): the first submission of a partner records the Meta ads terms; admins hear of it.

    Without a standing grant and without ``accept_tos`` it is refused (409 ``tos_required``). A campaign
    already submitted is returned unchanged.
    """
    locked = AdCampaign.objects.select_for_update().select_related("partner", "tenant").get(pk=campaign.pk)
    if locked.status == AdCampaign.Status.PENDING:
        return locked
    if locked.status != AdCampaign.Status.DRAFT:
        raise ConflictError(_("Only a draft can be submitted."), code="not_a_draft")
    if locked.end_date <= timezone.localdate():
        raise DomainError(
            _("The campaign's end date has passed: change the runtime first."), code="runtime_over", fields=None
        )
    partner = locked.partner
    consent = tos_consent_for(partner)
    if consent is None:
        if not accept_tos:
            raise TosRequired(
                _("Please accept Meta's terms for lead ads before your first campaign is booked."),
                fields={"accept_tos": [_("Required for your first campaign.")]},
            )
        consent = consent_grant(
            code=TOS_CODE,
            actor=actor,
            user=partner,
            tenant=locked.tenant,
            lawful_basis=ConsentRecord.LawfulBasis.CONTRACT,
            source=source,
            evidence={
                "ip": ip or "",
                "user_agent": (user_agent or "")[:300],
                "campaign_id": locked.pk,
                "accepted_at": timezone.now(),
            },
        )
    locked = campaign_transition(campaign=locked, to=AdCampaign.Status.PENDING, actor=actor, tos_consent=consent)
    _notify_staff(locked)
    return locked


_SUBMITTED_TITLE = gettext_noop("Campaign waits for booking: %(name)s")
_SUBMITTED_BODY = gettext_noop(
    "%(partner)s submitted the campaign %(name)s (budget %(budget)s €, %(start)s–%(end)s). Please book it in Meta."
)


def _notify_staff(campaign: AdCampaign) -> None:
    """Tell the platform's admins and ops that a campaign waits for booking (in-app and by email)."""
    with override(settings.LANGUAGE_CODE):  # admins read German; workers have no request language
        notify(
            users=list(staff_list_active()),
            kind=Notification.Kind.SYSTEM,
            title=_SUBMITTED_TITLE,
            body=_SUBMITTED_BODY,
            context={
                "name": campaign.name,
                "partner": campaign.partner.get_full_name(),
                "budget": f"{campaign.budget_cents / 100:.2f}".replace(".", ","),
                "start": campaign.start_date.strftime("%d.%m.%Y"),
                "end": campaign.end_date.strftime("%d.%m.%Y"),
            },
            url=reverse("admin:campaigns_adcampaign_change", args=[campaign.pk]),
            dedup_key=f"campaign:{campaign.pk}:submitted",
            email=True,
        )
