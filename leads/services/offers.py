"""Pool offers: create, accept, reject, expire, revoke, and rejecting a pool lead (SPEC §8).

Lock order, to stay free of deadlocks: (the tenant's pipeline settings, taken by automatic
assignment,) the lead row, then the offer row, then the partner profile. The expiry sweeper locks
only the offer (one conditional UPDATE) and never waits for a lead while holding it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override

from accounts.models import Notification, Organization, PartnerProfile, User
from accounts.services import notify
from compliance.models import ConsentRecord
from compliance.services import audit_record, consent_grant
from core.exceptions import ConflictError, DomainError, NotFoundError
from core.transactions import on_commit, send_after_commit
from leads.models import AssignmentDecision, Lead, LeadAssignment
from leads.selectors.capacity import partner_capacities
from leads.services.ingest import lead_identities_share
from leads.signals import lead_partner_changed, offer_accepted

#: The frozen pool split (SPEC §3/§4.7): 1/3 platform, 2/3 partner, four decimal places.
POOL_SPLIT: dict[str, Decimal] = {"platform": Decimal("0.3333"), "partner": Decimal("0.6667")}
SPLIT_AGREEMENT_VERSION = "2026-01"
#: Statuses a pool lead may still be offered in; converted and lost leads are finished.
OFFERABLE_STATUSES = frozenset({Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED})
REASON_MAX = 500


def split_evidence() -> dict[str, str]:
    """The split as Decimal strings, the form it is frozen in consent evidence and deals."""
    return {side: str(share) for side, share in POOL_SPLIT.items()}


def _pool_problem(lead: Lead, platform_id: int) -> str | None:
    """Say why a lead cannot be offered or accepted from the pool, or None when it can."""
    if lead.merged_into_id is not None:
        return _("Lead %(lead)s was merged into another lead.") % {"lead": lead.public_id}
    if lead.tenant_id != platform_id or lead.assigned_partner_id is not None:
        return _("Lead %(lead)s is not in the pool any more.") % {"lead": lead.public_id}
    if lead.status not in OFFERABLE_STATUSES:
        return _("Lead %(lead)s is %(status)s and cannot be offered.") % {
            "lead": lead.public_id,
            "status": lead.get_status_display(),
        }
    return None


def _check_partner(partner: User) -> PartnerProfile:
    """Refuse users who cannot receive offers; return the locked partner profile."""
    partner = User.objects.get(pk=partner.pk)  # the caller's copy may be stale (deactivated since)
    if not partner.is_partner:
        raise DomainError(_("%(email)s is not a sales partner.") % {"email": partner.email}, code="not_a_partner")
    # Locking the profile serializes offers to one partner, so two admins cannot both fill the last slot.
    profile = PartnerProfile.objects.select_for_update().filter(user_id=partner.pk).first()
    if profile is None:
        raise DomainError(
            _("%(email)s has no partner profile.") % {"email": partner.email}, code="partner_profile_missing"
        )
    if not partner.is_active or not profile.is_active:
        raise DomainError(_("Partner %(email)s is inactive.") % {"email": partner.email}, code="partner_inactive")
    if partner.organization_id is None:
        raise DomainError(
            _("Partner %(email)s has no organization to own accepted leads.") % {"email": partner.email},
            code="partner_without_organization",
        )
    return profile


@transaction.atomic
def offer_create(
    *, lead: Lead, partner: User, actor: User | None, decision: AssignmentDecision | None = None
) -> LeadAssignment:
    """Offer a pool lead to a partner for ``OFFER_TTL_HOURS``; audited as ``lead.assigned``."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    problem = _pool_problem(lead, Organization.platform().pk)
    if problem:
        raise ConflictError(problem, code="lead_not_in_pool")
    if LeadAssignment.objects.filter(lead=lead, status=LeadAssignment.Status.OFFERED).exists():
        raise ConflictError(
            _("Lead %(lead)s already has an open offer; revoke it first.") % {"lead": lead.public_id},
            code="offer_open",
        )
    _check_partner(partner)
    if LeadAssignment.objects.filter(lead=lead, partner=partner, status=LeadAssignment.Status.REJECTED).exists():
        raise ConflictError(
            _("%(email)s rejected lead %(lead)s before and is not offered it again.")
            % {"email": partner.email, "lead": lead.public_id},
            code="partner_rejected_lead",
        )
    capacity = partner_capacities([partner.pk]).get(partner.pk)
    if capacity is None or capacity.free <= 0:
        raise ConflictError(
            _("%(email)s has no free capacity (%(used)s of %(capacity)s in use).")
            % {
                "email": partner.email,
                "used": capacity.used if capacity else 0,
                "capacity": capacity.capacity if capacity else 0,
            },
            code="partner_capacity_full",
        )
    now = timezone.now()
    try:
        # The partial unique index is the last word on "one open offer per lead".
        with transaction.atomic():
            offer = LeadAssignment.objects.create(
                lead=lead,
                partner=partner,
                offered_by=actor if getattr(actor, "pk", None) is not None else None,
                offered_at=now,
                expires_at=now + timedelta(hours=settings.OFFER_TTL_HOURS),
                decision=decision,
            )
    except IntegrityError:
        raise ConflictError(
            _("Lead %(lead)s already has an open offer; revoke it first.") % {"lead": lead.public_id},
            code="offer_open",
        ) from None
    audit_record(
        event_type="lead.assigned",
        actor=actor,
        obj=lead,
        payload={
            "offer_id": offer.pk,
            "partner_id": partner.pk,
            "expires_at": offer.expires_at.isoformat(),
            "automatic": decision is not None,
        },
    )
    _enqueue_notify(offer.pk, "offered")
    return offer


def _lock_offer(offer: LeadAssignment) -> tuple[Lead, LeadAssignment]:
    """Lock the lead, then the offer (the service-wide lock order)."""
    lead = Lead.objects.select_for_update().get(pk=offer.lead_id)
    return lead, LeadAssignment.objects.select_for_update().get(pk=offer.pk)


def _not_open(offer: LeadAssignment, now: datetime) -> ConflictError:
    if offer.status == LeadAssignment.Status.OFFERED and offer.expires_at <= now:
        return ConflictError(_("This offer has expired."), code="offer_expired")
    return ConflictError(
        _("This offer is %(status)s and can no longer be answered.") % {"status": offer.get_status_display()},
        code="offer_not_open",
    )


def _require_own(offer: LeadAssignment, actor: User) -> None:
    # Someone else's offer does not exist for this caller: 404, never 403 (SPEC §6).
    if actor is None or offer.partner_id != actor.pk:
        raise NotFoundError(_("No such offer."))


@transaction.atomic
def offer_accept(*, offer: LeadAssignment, actor: User) -> LeadAssignment:
    """Accept an open offer: split consent, ownership to the partner and ``lead.accepted`` in one go.

    Accepting twice is a no-op for the same partner while the lead is still theirs; anyone else gets a 404.
    """
    _require_own(offer, actor)
    lead, offer = _lock_offer(offer)
    if offer.status == LeadAssignment.Status.ACCEPTED:
        if lead.assigned_partner_id != actor.pk or lead.merged_into_id is not None:
            raise NotFoundError(_("No such offer."))  # the lead moved on since: nothing about it is theirs
        return offer
    now = timezone.now()
    if offer.status != LeadAssignment.Status.OFFERED or offer.expires_at <= now:
        raise _not_open(offer, now)
    problem = _pool_problem(lead, Organization.platform().pk)
    if problem:
        raise ConflictError(problem, code="lead_not_in_pool")
    partner = User.objects.select_related("organization").get(pk=offer.partner_id)
    if partner.organization_id is None:
        raise DomainError(_("Your account has no organization."), code="partner_without_organization")

    offer.status = LeadAssignment.Status.ACCEPTED
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    split = split_evidence()
    consent = consent_grant(
        code=ConsentRecord.Code.LEAD_SPLIT_AGREEMENT,
        version=SPLIT_AGREEMENT_VERSION,
        actor=partner,
        lead=lead,
        tenant=partner.organization,
        # An agreement between the platform and the partner (Zone 2: the portal or its API).
        lawful_basis=ConsentRecord.LawfulBasis.CONTRACT,
        source=ConsentRecord.Source.PORTAL,
        text=_(
            "By accepting this pool lead I agree that any commission from it is split "
            "1/3 to the platform and 2/3 to me."
        ),
        evidence={
            "split": split,
            "offer_id": offer.pk,
            "partner_id": partner.pk,
            "partner_organization_id": partner.organization_id,
            "accepted_at": now.isoformat(),
        },
    )
    lead.tenant = partner.organization
    lead.assigned_partner = partner
    lead.save(update_fields=["tenant", "assigned_partner", "updated_at"])
    # The person is now also known in the partner's tenant: their own campaigns dedup against it.
    lead_identities_share(lead=lead, tenant_id=partner.organization_id)
    audit_record(
        event_type="lead.accepted",
        actor=partner,
        obj=lead,
        tenant=partner.organization,
        payload={"offer_id": offer.pk, "partner_id": partner.pk, "consent_id": consent.pk, "split": split},
    )
    send_after_commit(offer_accepted, sender=LeadAssignment, offer=offer, lead=lead, partner=partner, actor=actor)
    send_after_commit(
        lead_partner_changed, sender=Lead, lead=lead, from_partner_id=None, to_partner_id=partner.pk, actor=actor
    )
    return offer


def _clean_reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise DomainError(_("Please give a reason."), code="reason_required", fields={"reason": [_("Required.")]})
    return reason[:REASON_MAX]


@transaction.atomic
def offer_reject(*, offer: LeadAssignment, actor: User, reason: str) -> LeadAssignment:
    """Reject an open offer: the lead goes back to the pool and skips this partner from now on.

    Only an open offer: rejecting again is refused like any answered offer, never a silent success
    that would hand the caller the offer (and its lead, which may be another partner's by now).
    """
    _require_own(offer, actor)
    reason = _clean_reason(reason, required=True)
    lead, offer = _lock_offer(offer)
    now = timezone.now()
    if offer.status != LeadAssignment.Status.OFFERED or offer.expires_at <= now:
        raise _not_open(offer, now)
    offer.status = LeadAssignment.Status.REJECTED
    offer.responded_at = now
    offer.reason = reason
    offer.save(update_fields=["status", "responded_at", "reason"])
    audit_record(
        event_type="lead.rejected",
        actor=actor,
        obj=lead,
        # The reason is free text (it may name the person): kept encrypted on the offer, not here.
        payload={"offer_id": offer.pk, "partner_id": offer.partner_id, "reason_given": bool(reason)},
    )
    _enqueue_reoffer(lead.pk)
    return offer


@transaction.atomic
def offer_revoke(*, offer: LeadAssignment, actor: User | None, reason: str = "") -> LeadAssignment:
    """Withdraw an open offer (admin/ops); revoking a revoked offer is a no-op."""
    reason = _clean_reason(reason, required=False)
    lead, offer = _lock_offer(offer)
    if offer.status == LeadAssignment.Status.REVOKED:
        return offer
    if offer.status != LeadAssignment.Status.OFFERED:
        raise _not_open(offer, timezone.now())
    offer.status = LeadAssignment.Status.REVOKED
    offer.responded_at = timezone.now()
    offer.reason = reason
    offer.save(update_fields=["status", "responded_at", "reason"])
    audit_record(
        event_type="lead.offer_revoked",
        actor=actor,
        obj=lead,
        payload={"offer_id": offer.pk, "partner_id": offer.partner_id, "reason_given": bool(reason)},
    )
    _enqueue_notify(offer.pk, "revoked")
    return offer


def offer_expire(*, offer_id: int, now: datetime | None = None) -> bool:
    """Expire one overdue offer if nobody answered it first; returns whether this call expired it."""
    now = now or timezone.now()
    with transaction.atomic():
        # Conditional claim: an accept or reject that committed first leaves nothing to update.
        claimed = LeadAssignment.objects.filter(
            pk=offer_id, status=LeadAssignment.Status.OFFERED, expires_at__lte=now
        ).update(status=LeadAssignment.Status.EXPIRED, responded_at=now)
        if not claimed:
            return False
        offer = LeadAssignment.objects.select_related("lead").get(pk=offer_id)
        audit_record(
            event_type="lead.offer_expired",
            actor=None,
            obj=offer.lead,
            payload={"offer_id": offer.pk, "partner_id": offer.partner_id},
        )
        _enqueue_notify(offer.pk, "expired")
        _enqueue_reoffer(offer.lead_id)
    return True


def offer_expire_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Expire overdue offers (beat task); each is claimed on its own, so workers may overlap."""
    now = now or timezone.now()
    due = list(
        LeadAssignment.objects.filter(status=LeadAssignment.Status.OFFERED, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for offer_id in due if offer_expire(offer_id=offer_id, now=now))


@transaction.atomic
def lead_pool_reject(*, lead: Lead, actor: User | None, reason: str) -> Lead:
    """Take a pool lead out (spam, invalid): open offers are revoked and the lead is marked lost."""
    from leads.services.core import lead_status_transition

    reason = _clean_reason(reason, required=True)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == Lead.Status.LOST:
        return lead
    if lead.merged_into_id is not None or lead.tenant_id != Organization.platform().pk or lead.assigned_partner_id:
        raise ConflictError(
            _("Lead %(lead)s is not in the pool any more.") % {"lead": lead.public_id}, code="lead_not_in_pool"
        )
    for offer in LeadAssignment.objects.filter(lead=lead, status=LeadAssignment.Status.OFFERED):
        offer_revoke(offer=offer, actor=actor, reason=reason)
    return lead_status_transition(lead=lead, to=Lead.Status.LOST, actor=actor, reason=reason)


def lead_reoffer(*, lead_id) -> LeadAssignment | None:
    """Offer a lead that came back to the pool to the next candidate, if the tenant auto-assigns."""
    from leads.services.assignment import lead_auto_assign

    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None or LeadAssignment.objects.filter(lead=lead, status=LeadAssignment.Status.OFFERED).exists():
        return None
    if _pool_problem(lead, Organization.platform().pk):
        return None
    return lead_auto_assign(lead=lead, actor=None)


_NOTICES = {
    "offered": (
        gettext_noop("New lead offer %(lead)s"),
        gettext_noop("Lead %(lead)s (%(stage)s, score %(score)s, %(company)s) is waiting for you until %(expires)s."),
    ),
    "revoked": (
        gettext_noop("Offer %(lead)s withdrawn"),
        gettext_noop("The platform withdrew its offer of lead %(lead)s."),
    ),
    "expired": (
        gettext_noop("Offer %(lead)s expired"),
        gettext_noop("You did not answer the offer of lead %(lead)s within the deadline."),
    ),
}


def offer_notify(*, offer_id: int, event: str) -> None:
    """Tell the partner about an offer by email and in the portal, once per offer and event."""
    offer = LeadAssignment.objects.select_related("lead", "partner").filter(pk=offer_id).first()
    if offer is None or event not in _NOTICES:
        return
    if event == "offered" and offer.status != LeadAssignment.Status.OFFERED:
        return  # answered, revoked or expired before the worker got here
    lead = offer.lead
    title, body = _NOTICES[event]
    with override(settings.LANGUAGE_CODE):  # partners read German; workers have no request language
        notify(
            users=[offer.partner],
            kind=Notification.Kind.OFFER,
            title=title,
            body=body,
            # No contact data before acceptance: public id, stage, score and company only.
            context={
                "lead": lead.public_id,
                "stage": lead.get_stage_display(),
                "score": lead.score,
                "company": lead.company_name or "–",
                "expires": timezone.localtime(offer.expires_at).strftime("%d.%m.%Y %H:%M"),
            },
            # Only an open offer has a page; a withdrawn or expired one is a 404 there, so those link to the inbox.
            url=reverse("portal:inbox_detail", args=[lead.pk]) if event == "offered" else reverse("portal:inbox"),
            dedup_key=f"offer:{offer.pk}:{event}",
            email=True,
        )


def _enqueue_notify(offer_id: int, event: str) -> None:
    from leads.tasks import offer_notify_task

    on_commit(offer_notify_task.delay, offer_id, event)


def _enqueue_reoffer(lead_id) -> None:
    from leads.tasks import lead_reoffer_task

    on_commit(lead_reoffer_task.delay, str(lead_id))
