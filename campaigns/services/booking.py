"""Booking a campaign in Meta's ad account, attaching ids booked by hand, and mirroring status to Meta.

Booking (SPEC §10, protocols §1): lead form → campaign → ad set → image → creative → ad, all ``PAUSED``,
then ad, ad set and campaign ``ACTIVE``. Each id is committed on its own the moment Meta returns it,
so a retry after an error or a crash continues with the next missing object and never creates a
second one. Two bookings of one campaign never run at once (a PostgreSQL advisory lock per campaign:
it holds across the small commits and dies with the connection if the worker dies).

Pause, resume and complete change the local status only after Meta confirmed; a temporary Meta
failure leaves the status and sets ``sync_pending``, which ``campaign_status_sync`` retries. The
same sweep reads Meta's review state and turns a disapproved ad into a ``rejected`` campaign.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import connection, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Notification, Organization
from accounts.selectors import staff_list_active
from accounts.services import notify
from campaigns.models import AdCampaign
from campaigns.services.core import CAMPAIGN_TRANSITIONS, campaign_transition
from campaigns.services.routing import campaign_route_register
from core.exceptions import ConflictError, DomainError, TransitionNotAllowed
from integrations.meta.graph import (
    GraphError,
    GraphInvalidParameterError,
    GraphPermissionError,
    GraphRateLimitError,
    GraphTokenError,
    GraphTransientError,
    GraphVersionError,
)
from integrations.meta.marketing import (
    AD_STATUS_FIELDS,
    STATUS_FIELDS,
    MarketingClient,
    issue_texts,
    marketing_settings_missing,
)

logger = logging.getLogger(__name__)

S = AdCampaign.Status
A = AdCampaign.SyncAction

#: Key space of the booking advisory locks (``pg_try_advisory_lock(namespace, campaign id)``).
BOOKING_LOCK_NAMESPACE = 19_547
#: Meta's HOUSING rule for Europe: a radius around a city of at least 15 km.
MIN_RADIUS_KM = 15
DACH_COUNTRIES = ("DE", "AT", "CH")
#: CTA types Meta allows on lead ads (protocols §1.7); anything else falls back to LEARN_MORE.
LEAD_AD_CTAS = frozenset({"APPLY_NOW", "DOWNLOAD", "GET_QUOTE", "LEARN_MORE", "SIGN_UP", "SUBSCRIBE"})
#: Ad states that end a campaign as ``rejected`` (review lives on the ad; WITH_ISSUES on any level).
REJECTED_STATES = frozenset({"DISAPPROVED", "WITH_ISSUES"})
#: Campaigns whose review state one sweep reads: two ``?ids=`` requests (ads, campaigns) at 50 ids each.
STATUS_SYNC_BATCH = 50
ID_FIELDS = ("meta_campaign_id", "meta_adset_id", "meta_ad_id", "meta_form_id")
#: The thank-you screen of the lead form: ad content for the German-speaking audience (like the
#: template's copy), not UI text, so it is German whatever language the operator uses.
THANK_YOU_PAGE = {
    "title": "Vielen Dank!",
    "body": "Wir haben Ihre Angaben erhalten und melden uns in Kürze bei Ihnen.",
    "button_type": "VIEW_WEBSITE",
    "button_text": "Zur Website",
}


class MetaNotConfigured(DomainError):
    code = "meta_not_configured"


class MetaUpstreamError(DomainError):
    """Meta failed or refused for a reason that is not our parameters (token, permission, version, outage)."""

    status_code = 502
    code = "upstream_error"

    def __init__(self, message: str, *, graph_error: GraphError | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.graph_error = graph_error


class MetaRejectedError(MetaUpstreamError):
    """Meta refused one of our parameters (code 100); the message carries Meta's user message."""

    status_code = 422
    code = "upstream_rejected"


def _meta_text(error: GraphError) -> str:
    """Meta's own words: the user title and message when Meta sent them, else its technical message."""
    parts = [part for part in (error.user_title, error.user_msg) if part]
    return " – ".join(parts) if parts else error.message


def meta_error_message_de(error: GraphError) -> str:
    """What went wrong at Meta and what to do, for the admin (German through the catalogue) with Meta's text."""
    values = {"meta": _meta_text(error), "code": error.code if error.code is not None else "–"}
    if isinstance(error, GraphVersionError):
        return (
            _(
                "Meta no longer supports the Graph API version configured in META_GRAPH_API_URL (code 2635): "
                "%(meta)s Set META_GRAPH_API_URL to a current version, e.g. https://graph.facebook.com/v25.0."
            )
            % values
        )
    if isinstance(error, GraphTokenError):
        return (
            _(
                "Meta rejected the access token META_ADS_ACCESS_TOKEN (code %(code)s): %(meta)s "
                "Create a new system-user token and set it."
            )
            % values
        )
    if isinstance(error, GraphPermissionError):
        return (
            _(
                "Meta permission missing (code %(code)s): %(meta)s The system user needs ads_management on the ad "
                "account and the advertise task on the Page."
            )
            % values
        )
    if isinstance(error, GraphInvalidParameterError):
        return _("Meta refused a value of the booking (code %(code)s): %(meta)s") % values
    if isinstance(error, GraphRateLimitError):
        minutes = max(1, round((error.retry_after or 60) / 60))
        return _("Meta is throttling calls to the ad account: %(meta)s Try again in %(minutes)s minutes.") % {
            **values,
            "minutes": minutes,
        }
    if isinstance(error, GraphTransientError):
        return _("Meta is temporarily unavailable: %(meta)s Try again later.") % values
    return _("Meta refused the request (code %(code)s): %(meta)s") % values


def _domain_error(error: GraphError, message: str) -> MetaUpstreamError:
    cls = MetaRejectedError if isinstance(error, GraphInvalidParameterError) else MetaUpstreamError
    return cls(message, graph_error=error)


def _store(campaign: AdCampaign, **fields: Any) -> None:
    """Commit a few fields at once (an id Meta just returned must survive whatever happens next)."""
    fields["updated_at"] = timezone.now()
    with transaction.atomic():
        AdCampaign.objects.filter(pk=campaign.pk).update(**fields)
        for name, value in fields.items():
            setattr(campaign, name, value)
        if fields.get("meta_form_id"):
            campaign_route_register(campaign=campaign)


@contextmanager
def _booking_lock(campaign_id: int) -> Iterator[None]:
    """Hold the campaign's booking lock on this connection, or refuse: another booking is running."""
    if connection.vendor != "postgresql":  # the embedded default (SQLite, one process) writes one at a time
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [BOOKING_LOCK_NAMESPACE, campaign_id])
        acquired = cursor.fetchone()[0]
    if not acquired:
        raise ConflictError(_("This campaign is being booked right now."), code="booking_in_progress")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [BOOKING_LOCK_NAMESPACE, campaign_id])


def _geo_locations(campaign: AdCampaign) -> tuple[dict[str, Any], list[str]]:
    """Meta's ``geo_locations`` and the special-ad-category countries; HOUSING: countries or cities ≥ 15 km."""
    countries: list[str] = []
    cities: list[dict[str, Any]] = []
    for region in campaign.regions or []:
        if isinstance(region, str) and region.upper() in DACH_COUNTRIES:
            countries.append(region.upper())
        elif isinstance(region, dict) and str(region.get("city_key") or "").strip():
            radius = int(region.get("radius_km") or MIN_RADIUS_KM)
            if radius < MIN_RADIUS_KM:
                raise DomainError(
                    _("Meta's housing rules need a radius of at least %(km)s km around a city.")
                    % {"km": MIN_RADIUS_KM},
                    code="invalid_regions",
                )
            cities.append({"key": str(region["city_key"]), "radius": radius, "distance_unit": "kilometer"})
        else:
            raise DomainError(_("Unknown region: %(region)s") % {"region": region}, code="invalid_regions")
    if not countries and not cities:
        raise DomainError(_("The campaign has no regions."), code="invalid_regions")
    geo: dict[str, Any] = {}
    if countries:
        geo["countries"] = sorted(set(countries))
    if cities:
        geo["cities"] = cities
    city_countries = [str(r.get("country", "")).upper() for r in campaign.regions if isinstance(r, dict)]
    category_countries = sorted({c for c in countries + city_countries if c in DACH_COUNTRIES})
    return geo, category_countries or list(DACH_COUNTRIES)


def _meta_time(day: Any, clock: time, now: datetime) -> str:
    """ISO 8601 with offset in the platform's time zone, never in the past (Meta refuses past times)."""
    moment = timezone.make_aware(datetime.combine(day, clock))
    moment = max(moment, timezone.localtime(now) + timedelta(minutes=5))
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M:%S%z")


def _form_questions(campaign: AdCampaign) -> list[dict[str, Any]]:
    """The template's German questions in Meta's shape (``type``, ``key``, ``label``, ``options``)."""
    questions = []
    for raw in campaign.template.form_questions or []:
        question: dict[str, Any] = {"type": str(raw.get("type") or "CUSTOM").upper()}
        if raw.get("key"):
            question["key"] = str(raw["key"])
        if raw.get("label"):
            question["label"] = str(raw["label"])
        options = []
        for option in raw.get("options") or []:
            if isinstance(option, dict):
                options.append({"key": str(option.get("key") or slugify(option.get("value", ""))), **option})
            else:
                options.append({"key": slugify(str(option)) or str(option), "value": str(option)})
        if options:
            question["options"] = options
        questions.append(question)
    return questions


def _template_image(campaign: AdCampaign) -> tuple[bytes, str] | None:
    """The template image to upload (None when the hash is stored already or the template has none)."""
    if campaign.meta_image_hash or not campaign.template.image:
        return None
    path = finders.find(campaign.template.image)
    if not path:
        raise DomainError(
            _("The template image %(image)s was not found under static/.") % {"image": campaign.template.image},
            code="image_missing",
        )
    with open(path, "rb") as handle:
        return handle.read(), campaign.template.image.rsplit("/", 1)[-1]


def _beneficiary(campaign: AdCampaign) -> str:
    profile = getattr(campaign.partner, "partner_profile", None)
    name = getattr(profile, "display_name", "") or campaign.partner.get_full_name() or campaign.tenant.name
    return name.strip() or campaign.tenant.name


def _object_name(campaign: AdCampaign, suffix: str) -> str:
    return f"LP-{campaign.pk}-{slugify(campaign.name)[:60]}-{suffix}"


def _book_objects(campaign: AdCampaign, client: MarketingClient, *, now: datetime) -> None:
    """Create what is still missing, in SPEC order, storing each id at once; then publish."""
    template = campaign.template
    geo, category_countries = _geo_locations(campaign)
    image = _template_image(campaign)
    if not campaign.meta_form_id:
        form_id = client.create_lead_form(
            name=_object_name(campaign, "formular"),
            questions=_form_questions(campaign),
            privacy_policy_url=template.privacy_policy_url,
            privacy_policy_text=template.privacy_policy_text,
            thank_you_page={**THANK_YOU_PAGE, "website_url": settings.SITE_URL},
        )
        _store(campaign, meta_form_id=form_id)
    if not campaign.meta_campaign_id:
        _store(
            campaign,
            meta_campaign_id=client.create_campaign(
                name=_object_name(campaign, "kampagne"), countries=category_countries
            ),
        )
    if not campaign.meta_adset_id:
        adset_id = client.create_adset(
            name=_object_name(campaign, "anzeigengruppe"),
            campaign_id=campaign.meta_campaign_id,
            lifetime_budget=campaign.budget_cents,
            start_time=_meta_time(campaign.start_date, time(0, 0), now),
            end_time=_meta_time(campaign.end_date, time(23, 59), now),
            geo_locations=geo,
            dsa_beneficiary=_beneficiary(campaign),
            dsa_payor=Organization.platform().name,
        )
        _store(campaign, meta_adset_id=adset_id)
    if image is not None:
        content, filename = image
        _store(campaign, meta_image_hash=client.upload_image(content=content, filename=filename))
    if not campaign.meta_creative_id:
        cta = template.call_to_action if template.call_to_action in LEAD_AD_CTAS else "LEARN_MORE"
        creative_id = client.create_creative(
            name=_object_name(campaign, "creative"),
            message=campaign.text or template.primary_text,
            headline=campaign.headline or template.headline,
            description=template.description,
            image_hash=campaign.meta_image_hash,
            call_to_action=cta,
            form_id=campaign.meta_form_id,
        )
        _store(campaign, meta_creative_id=creative_id)
    if not campaign.meta_ad_id:
        _store(
            campaign,
            meta_ad_id=client.create_ad(
                name=_object_name(campaign, "anzeige"),
                adset_id=campaign.meta_adset_id,
                creative_id=campaign.meta_creative_id,
            ),
        )
    # Publish children first, the campaign last: nothing delivers before everything is in place.
    for object_id in (campaign.meta_ad_id, campaign.meta_adset_id, campaign.meta_campaign_id):
        client.set_status(object_id, "ACTIVE")


def campaign_book(
    *, campaign: AdCampaign, actor: Any | None, client: MarketingClient | None = None, now: datetime | None = None
) -> AdCampaign:
    """Book a ``pending`` campaign in Meta (API-547, admin action) and make it ``active``.

    Call it outside a transaction: the ids are committed one by one. A Meta error is stored on the
    campaign (``booking_error``, ``status_reason``; it stays ``pending``) and raised as
    ``MetaUpstreamError``/``MetaRejectedError`` with the German message; a retry continues.
    """
    missing = marketing_settings_missing()
    if missing:
        raise MetaNotConfigured(
            _(
                "Booking through the Marketing API needs these settings: %(names)s. Without them, book the "
                "campaign by hand in Ads Manager and attach its ids."
            )
            % {"names": ", ".join(missing)}
        )
    with _booking_lock(campaign.pk):
        campaign = AdCampaign.objects.select_related("template", "partner__partner_profile", "tenant").get(
            pk=campaign.pk
        )
        if campaign.status != S.PENDING:
            raise ConflictError(
                _("Only a campaign waiting for booking can be booked (status: %(status)s).")
                % {"status": campaign.get_status_display()},
                code="not_pending",
            )
        client = client or MarketingClient()
        try:
            _book_objects(campaign, client, now=now or timezone.now())
        except GraphError as exc:
            message = meta_error_message_de(exc)
            logger.warning(
                "Meta booking failed",
                extra={"campaign_id": campaign.pk, "error": exc.summary(), "trace": exc.fbtrace_id},
            )
            _store(campaign, booking_error=message, status_reason=message)
            raise _domain_error(exc, message) from None
        return campaign_transition(
            campaign=campaign, to=S.ACTIVE, actor=actor, note=_("Booked in Meta."), booking_error="", status_reason=""
        )


def campaign_attach_ids(*, campaign: AdCampaign, ids: dict[str, Any], actor: Any | None) -> AdCampaign:
    """Attach the ids of a campaign booked by hand in Ads Manager (API-547 with ids) → ``active``."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name in ID_FIELDS:
        value = str(ids.get(name) or "").strip()
        if not re.fullmatch(r"\d{1,64}", value):
            errors[name] = [_("Enter the id Meta shows: digits only.")]
        cleaned[name] = value
    if errors:
        raise DomainError(_("Please check the Meta ids."), code="validation_error", fields=errors)
    clash = AdCampaign.objects.filter(meta_form_id=cleaned["meta_form_id"]).exclude(pk=campaign.pk).first()
    if clash is not None:
        raise ConflictError(
            _("Lead form %(form)s already belongs to campaign %(campaign)s.")
            % {"form": cleaned["meta_form_id"], "campaign": clash.pk},
            code="form_taken",
        )
    with transaction.atomic():
        campaign = campaign_transition(
            campaign=campaign,
            to=S.ACTIVE,
            actor=actor,
            note=_("Meta ids attached (booked by hand)."),
            booking_error="",
            status_reason="",
            **cleaned,
        )
        campaign_route_register(campaign=campaign)
    return campaign


# --- pause / resume / complete ---------------------------------------------------------------------------

_ACTION_TARGET = {A.PAUSE: S.PAUSED, A.RESUME: S.ACTIVE, A.COMPLETE: S.COMPLETED}


def _apply_in_meta(client: MarketingClient, campaign: AdCampaign, action: str) -> None:
    """Pausing the campaign object stops delivery; complete = paused, then archived."""
    if action == A.PAUSE:
        client.set_status(campaign.meta_campaign_id, "PAUSED")
    elif action == A.RESUME:
        client.set_status(campaign.meta_campaign_id, "ACTIVE")
    else:
        client.set_status(campaign.meta_campaign_id, "PAUSED")
        client.set_status(campaign.meta_campaign_id, "ARCHIVED")


def _mirror(*, campaign: AdCampaign, action: str, actor: Any | None, client: MarketingClient | None) -> AdCampaign:
    campaign = AdCampaign.objects.get(pk=campaign.pk)
    target = _ACTION_TARGET[action]
    if campaign.status == target:
        if campaign.sync_pending:
            _store(campaign, sync_pending=A.NONE)  # the wish changed back before Meta took the old one
        return campaign
    if target not in CAMPAIGN_TRANSITIONS[campaign.status]:
        raise TransitionNotAllowed(campaign.get_status_display(), S(target).label)
    note = ""
    if not campaign.meta_campaign_id:
        note = _("Changed here only: the campaign has no Meta ids.")
    elif marketing_settings_missing():
        note = _("Changed here only: the Marketing API is not configured; change it in Ads Manager too.")
    else:
        try:
            _apply_in_meta(client or MarketingClient(), campaign, action)
        except GraphTransientError as exc:
            _store(campaign, sync_pending=action, status_reason=meta_error_message_de(exc))
            logger.info("Meta status change deferred", extra={"campaign_id": campaign.pk, "action": action})
            return campaign
        except GraphError as exc:
            message = meta_error_message_de(exc)
            _store(campaign, sync_pending=A.NONE, status_reason=message)
            raise _domain_error(exc, message) from None
    return campaign_transition(
        campaign=campaign, to=target, actor=actor, note=note, sync_pending=A.NONE, status_reason=""
    )


def campaign_pause(*, campaign: AdCampaign, actor: Any | None, client: MarketingClient | None = None) -> AdCampaign:
    """API-543: pause in Meta, then here; a Meta outage leaves it active with ``sync_pending`` = pause."""
    return _mirror(campaign=campaign, action=A.PAUSE, actor=actor, client=client)


def campaign_resume(*, campaign: AdCampaign, actor: Any | None, client: MarketingClient | None = None) -> AdCampaign:
    """API-544: activate in Meta, then here."""
    return _mirror(campaign=campaign, action=A.RESUME, actor=actor, client=client)


def campaign_complete(*, campaign: AdCampaign, actor: Any | None, client: MarketingClient | None = None) -> AdCampaign:
    """API-548: pause and archive in Meta, then ``completed`` here (final)."""
    return _mirror(campaign=campaign, action=A.COMPLETE, actor=actor, client=client)


# --- the beat sweep: deferred status calls and Meta's review state ----------------------------------------


def _safe_reverse(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _notify_rejected(campaign: AdCampaign, reason: str) -> None:
    context = {"name": campaign.name, "reason": reason}
    title = gettext_noop("Campaign rejected by Meta: %(name)s")
    body = gettext_noop(
        "Meta's review rejected the campaign %(name)s: %(reason)s Create a new campaign with changed content."
    )
    with translation.override(settings.LANGUAGE_CODE):
        notify(
            users=[campaign.partner],
            kind=Notification.Kind.SYSTEM,
            title=title,
            body=body,
            context=context,
            url=_safe_reverse("portal:campaign_detail", campaign.pk),
            dedup_key=f"campaign-rejected:{campaign.pk}",
            email=True,
        )
        notify(
            users=staff_list_active(),
            kind=Notification.Kind.SYSTEM,
            title=title,
            body=body,
            context=context,
            url=_safe_reverse("admin:campaigns_adcampaign_change", campaign.pk),
            dedup_key=f"campaign-rejected:{campaign.pk}",
        )


def _review_state(campaign: AdCampaign, nodes: dict[str, dict[str, Any]]) -> tuple[str, list[dict[str, Any]], str]:
    """(effective status to show, issues to store, rejection reason or "") from the ad and campaign nodes."""
    ad = nodes.get(campaign.meta_ad_id) or {} if campaign.meta_ad_id else {}
    camp = nodes.get(campaign.meta_campaign_id) or {} if campaign.meta_campaign_id else {}
    effective = str(ad.get("effective_status") or camp.get("effective_status") or "")
    issues = [
        {"object": kind, **issue}
        for kind, node in (("ad", ad), ("campaign", camp))
        for issue in (node.get("issues_info") or [])
        if isinstance(issue, dict)
    ]
    rejected = ad.get("effective_status") in REJECTED_STATES or camp.get("effective_status") == "WITH_ISSUES"
    reason = ""
    if rejected:
        texts = issue_texts(ad) + issue_texts(camp)
        reason = "; ".join(dict.fromkeys(texts)) or effective
    return effective, issues, reason


def _sync_review(client: MarketingClient) -> dict[str, int]:
    counts = {"read": 0, "rejected": 0}
    campaigns = list(
        AdCampaign.objects.filter(status__in=[S.ACTIVE, S.PAUSED, S.PENDING])
        .exclude(meta_campaign_id="", meta_ad_id="")
        .select_related("partner")
        .order_by("updated_at", "pk")[:STATUS_SYNC_BATCH]
    )
    if not campaigns:
        return counts
    nodes = client.read_statuses([c.meta_ad_id for c in campaigns if c.meta_ad_id], fields=AD_STATUS_FIELDS)
    nodes.update(
        client.read_statuses([c.meta_campaign_id for c in campaigns if c.meta_campaign_id], fields=STATUS_FIELDS)
    )
    for campaign in campaigns:
        effective, issues, reason = _review_state(campaign, nodes)
        counts["read"] += 1
        try:
            with transaction.atomic():
                campaign.meta_effective_status = effective[:40]
                campaign.meta_issues = issues
                campaign.save(update_fields=["meta_effective_status", "meta_issues", "updated_at"])
                if reason and S.REJECTED in CAMPAIGN_TRANSITIONS[campaign.status]:
                    text = _("Rejected by Meta: %(reason)s") % {"reason": reason}
                    campaign = campaign_transition(
                        campaign=campaign, to=S.REJECTED, actor=None, note=text, status_reason=text, sync_pending=A.NONE
                    )
                    _notify_rejected(campaign, reason)
                    counts["rejected"] += 1
        except TransitionNotAllowed:
            continue  # completed meanwhile under our feet: nothing to reject any more
    return counts


def campaign_status_sync(*, client: MarketingClient | None = None) -> dict[str, int]:
    """Beat (every 15 min): retry deferred pause/resume/complete calls, then read Meta's review state."""
    counts = {"synced": 0, "deferred": 0, "read": 0, "rejected": 0}
    if marketing_settings_missing():
        return counts
    client = client or MarketingClient()
    waiting = AdCampaign.objects.exclude(sync_pending=A.NONE).exclude(meta_campaign_id="").order_by("updated_at")
    for campaign in waiting[:STATUS_SYNC_BATCH]:
        try:
            result = _mirror(campaign=campaign, action=campaign.sync_pending, actor=None, client=client)
        except DomainError as exc:  # permanent Meta refusal or a move no longer allowed: stop retrying
            logger.warning("Deferred Meta status change dropped", extra={"campaign_id": campaign.pk, "error": exc.code})
            _store(campaign, sync_pending=A.NONE)
            continue
        counts["deferred" if result.sync_pending else "synced"] += 1
    try:
        counts.update(_sync_review(client))
    except GraphError as exc:
        logger.warning("Reading Meta's review state failed", extra={"error": exc.summary()})
    return counts
