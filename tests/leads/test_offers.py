"""Pool offers: create, accept (split consent, ownership), reject, revoke, expiry via the beat task."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone, translation

from accounts.models import Notification, PartnerProfile, User
from compliance.models import AuditEvent, ConsentRecord
from core.exceptions import ConflictError, DomainError, NotFoundError
from leads.models import Lead, LeadAssignment, PipelineSettings
from leads.services import (
    lead_pool_reject,
    offer_accept,
    offer_create,
    offer_expire_due,
    offer_reject,
    offer_revoke,
)
from leads.tasks import offer_expire_due_task
from tests.accounts.factories import PartnerFactory, UserFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _partner(capacity: int = 25, **profile) -> User:
    partner = PartnerFactory()
    PartnerProfile.objects.filter(user=partner).update(capacity=capacity, **profile)
    return partner


def _events(lead: Lead, event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_id=str(lead.pk), event_type=event_type))


def test_offer_create_notifies_partner_after_commit_and_audits(
    admin_user, django_capture_on_commit_callbacks, settings
):
    # given
    partner = _partner()
    lead = LeadFactory(company_name="Muster GmbH", score=70, stage="hot")

    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        offer = offer_create(lead=lead, partner=partner, actor=admin_user)
    assert not mail.outbox and not Notification.objects.exists()  # nothing before commit
    with django_capture_on_commit_callbacks(execute=True):  # the email leaves after the notice's own commit
        for callback in callbacks:
            callback()

    # then
    assert offer.status == LeadAssignment.Status.OFFERED and offer.offered_by == admin_user
    assert offer.expires_at - offer.offered_at == timedelta(hours=settings.OFFER_TTL_HOURS) == timedelta(hours=48)
    (event,) = _events(lead, "lead.assigned")
    assert event.payload["partner_id"] == partner.pk and event.payload["automatic"] is False
    assert event.actor == admin_user
    notice = Notification.objects.get(recipient=partner)
    assert notice.kind == Notification.Kind.OFFER and lead.public_id in notice.title
    assert notice.url.endswith(f"/portal/leads/inbox/{lead.pk}/")
    (message,) = mail.outbox
    assert message.to == [partner.email] and lead.public_id in message.subject
    assert "Muster GmbH" in message.body
    assert lead.email not in message.body and "Mustermann" not in message.body  # no contact data before accepting


def test_one_open_offer_per_lead(admin_user):
    lead = LeadFactory()
    offer_create(lead=lead, partner=_partner(), actor=admin_user)
    with pytest.raises(ConflictError) as exc:
        offer_create(lead=lead, partner=_partner(), actor=admin_user)
    assert exc.value.code == "offer_open" and exc.value.status_code == 409


def test_never_above_capacity(admin_user):
    partner = _partner(capacity=2)
    LeadFactory(tenant=partner.organization, assigned_partner=partner)  # one open lead in their hands
    offer_create(lead=LeadFactory(), partner=partner, actor=admin_user)  # the second slot
    with translation.override("en"), pytest.raises(ConflictError) as exc:
        offer_create(lead=LeadFactory(), partner=partner, actor=admin_user)
    assert exc.value.code == "partner_capacity_full"
    assert "2 of 2" in exc.value.message


def test_partner_who_rejected_is_not_offered_again(admin_user):
    partner = _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=partner, actor=admin_user)
    offer_reject(offer=offer, actor=partner, reason="Nicht meine Region")
    with pytest.raises(ConflictError) as exc:
        offer_create(lead=lead, partner=partner, actor=admin_user)
    assert exc.value.code == "partner_rejected_lead"
    offer_create(lead=lead, partner=_partner(), actor=admin_user)  # someone else may have it


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda lead, partner: User.objects.filter(pk=partner.pk).update(is_active=False), "partner_inactive"),
        (lambda lead, partner: PartnerProfile.objects.filter(user=partner).update(is_active=False), "partner_inactive"),
        (lambda lead, partner: Lead.objects.filter(pk=lead.pk).update(status="lost"), "lead_not_in_pool"),
        (lambda lead, partner: Lead.objects.filter(pk=lead.pk).update(merged_into=LeadFactory()), "lead_not_in_pool"),
        (
            lambda lead, partner: Lead.objects.filter(pk=lead.pk).update(
                tenant=partner.organization, assigned_partner=partner
            ),
            "lead_not_in_pool",
        ),
    ],
    ids=["user-inactive", "profile-inactive", "lost", "merged", "assigned"],
)
def test_offer_create_refuses_with_a_clear_error(admin_user, setup, code):
    lead, partner = LeadFactory(), _partner()
    setup(lead, partner)
    partner.refresh_from_db()
    with pytest.raises(DomainError) as exc:
        offer_create(lead=lead, partner=partner, actor=admin_user)
    assert exc.value.code == code
    assert lead.public_id in exc.value.message or partner.email in exc.value.message


def test_offer_to_a_non_partner_is_refused(admin_user):
    with pytest.raises(DomainError) as exc:
        offer_create(lead=LeadFactory(), partner=UserFactory(role=User.Role.INTERNAL_OPS), actor=admin_user)
    assert exc.value.code == "not_a_partner"


def test_accept_records_split_transfers_ownership_in_one_go(admin_user, platform_org):
    # given
    partner = _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=partner, actor=admin_user)

    # when
    accepted = offer_accept(offer=offer, actor=partner)

    # then
    lead.refresh_from_db()
    assert accepted.status == LeadAssignment.Status.ACCEPTED and accepted.responded_at is not None
    assert lead.tenant_id == partner.organization_id != platform_org.pk
    assert lead.assigned_partner_id == partner.pk
    consent = ConsentRecord.objects.get(subject_lead=lead, code=ConsentRecord.Code.LEAD_SPLIT_AGREEMENT)
    assert consent.evidence["split"] == {"platform": "0.3333", "partner": "0.6667"}
    shares = {k: Decimal(v) for k, v in consent.evidence["split"].items()}
    assert shares["platform"] + shares["partner"] == Decimal("1.0000")
    assert consent.evidence["offer_id"] == offer.pk and consent.tenant_id == partner.organization_id
    assert (consent.action, consent.lawful_basis, consent.source) == ("granted", "contract", "portal")
    assert consent.version == "2026-01" and consent.recorded_at is not None
    (event,) = _events(lead, "lead.accepted")
    assert event.actor == partner and event.payload["consent_id"] == consent.pk
    assert event.payload["split"] == {"platform": "0.3333", "partner": "0.6667"}


def test_accept_is_idempotent_for_the_same_partner(admin_user):
    partner = _partner()
    offer = offer_create(lead=LeadFactory(), partner=partner, actor=admin_user)
    offer_accept(offer=offer, actor=partner)
    again = offer_accept(offer=offer, actor=partner)
    assert again.status == LeadAssignment.Status.ACCEPTED
    assert ConsentRecord.objects.filter(code=ConsentRecord.Code.LEAD_SPLIT_AGREEMENT).count() == 1
    assert AuditEvent.objects.filter(event_type="lead.accepted").count() == 1


def test_someone_elses_offer_is_not_found(admin_user):
    partner, other = _partner(), _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=partner, actor=admin_user)
    with pytest.raises(NotFoundError):
        offer_accept(offer=offer, actor=other)
    with pytest.raises(NotFoundError):
        offer_reject(offer=offer, actor=other, reason="x")
    lead.refresh_from_db()
    assert lead.assigned_partner_id is None


def test_an_overdue_offer_cannot_be_accepted_even_before_the_sweeper_ran(admin_user):
    partner = _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=partner, actor=admin_user)
    LeadAssignment.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ConflictError) as exc:
        offer_accept(offer=offer, actor=partner)
    assert exc.value.code == "offer_expired"
    lead.refresh_from_db()
    assert lead.assigned_partner_id is None


def test_reject_returns_lead_to_pool_with_reason(admin_user, platform_org):
    partner = _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=partner, actor=admin_user)
    with pytest.raises(DomainError) as exc:
        offer_reject(offer=offer, actor=partner, reason="  ")
    assert exc.value.code == "reason_required"
    offer = offer_reject(offer=offer, actor=partner, reason="Kein Bedarf in meiner Region")
    lead.refresh_from_db()
    assert offer.status == LeadAssignment.Status.REJECTED and offer.reason == "Kein Bedarf in meiner Region"
    assert lead.tenant_id == platform_org.pk and lead.assigned_partner_id is None and lead.status == "new"
    (event,) = _events(lead, "lead.rejected")
    # Free text stays on the offer (encrypted), the audit payload only says a reason was given.
    assert event.payload["reason_given"] is True and "reason" not in event.payload and event.actor == partner
    assert LeadAssignment.objects.get(pk=offer.pk).reason == "Kein Bedarf in meiner Region"
    with pytest.raises(ConflictError):
        offer_accept(offer=offer, actor=partner)
    with pytest.raises(ConflictError) as again:  # never a silent success that hands back the offer
        offer_reject(offer=offer, actor=partner, reason="nochmal")
    assert again.value.code == "offer_not_open"


def test_accepting_again_after_the_lead_moved_on_is_not_found(admin_user):
    partner = _partner()
    lead = LeadFactory()
    offer = offer_accept(offer=offer_create(lead=lead, partner=partner, actor=admin_user), actor=partner)
    Lead.objects.filter(pk=lead.pk).update(assigned_partner=_partner())
    with pytest.raises(NotFoundError):
        offer_accept(offer=offer, actor=partner)


def test_revoke_frees_the_lead_and_tells_the_partner(admin_user, django_capture_on_commit_callbacks):
    partner = _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=partner, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        offer = offer_revoke(offer=offer, actor=admin_user, reason="falscher Partner")
    assert offer.status == LeadAssignment.Status.REVOKED
    assert _events(lead, "lead.offer_revoked")[0].payload["reason_given"] is True
    assert LeadAssignment.objects.get(pk=offer.pk).reason == "falscher Partner"
    assert Notification.objects.filter(recipient=partner, dedup_key=f"offer:{offer.pk}:revoked").exists()
    assert offer_revoke(offer=offer, actor=admin_user).status == LeadAssignment.Status.REVOKED  # no-op
    with pytest.raises(ConflictError):
        offer_accept(offer=offer, actor=partner)
    offer_create(lead=lead, partner=partner, actor=admin_user)  # a revoke does not exclude the partner


def test_beat_task_expires_overdue_offers_back_to_the_pool(admin_user, settings, django_capture_on_commit_callbacks):
    # given: one overdue and one fresh offer
    assert settings.CELERY_BEAT_SCHEDULE["leads-offer-expiry"]["task"] == offer_expire_due_task.name
    partner = _partner()
    overdue_lead, fresh_lead = LeadFactory(), LeadFactory()
    overdue = offer_create(lead=overdue_lead, partner=partner, actor=admin_user)
    fresh = offer_create(lead=fresh_lead, partner=partner, actor=admin_user)
    LeadAssignment.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        expired = offer_expire_due_task.delay().get()

    # then
    assert expired == 1
    overdue.refresh_from_db()
    fresh.refresh_from_db()
    assert overdue.status == LeadAssignment.Status.EXPIRED and overdue.responded_at is not None
    assert fresh.status == LeadAssignment.Status.OFFERED
    assert _events(overdue_lead, "lead.offer_expired")[0].actor is None
    assert Notification.objects.filter(recipient=partner, dedup_key=f"offer:{overdue.pk}:expired").exists()
    assert offer_expire_due() == 0  # a second sweep finds nothing
    offer_create(lead=overdue_lead, partner=partner, actor=admin_user)  # free to be offered again


def test_expiry_reoffers_to_the_next_candidate_when_auto_assignment_is_on(
    admin_user, platform_org, django_capture_on_commit_callbacks
):
    # given: auto-assignment on, two partners; the lead was offered to the first one
    PipelineSettings.objects.create(tenant=platform_org, auto_assign_enabled=True)
    first, second = _partner(), _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=first, actor=admin_user)
    LeadAssignment.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        offer_expire_due_task.delay().get()

    # then: a new open offer, to the partner offered longest ago, with its decision
    reoffer = LeadAssignment.objects.get(lead=lead, status=LeadAssignment.Status.OFFERED)
    assert reoffer.partner == second and reoffer.offered_by is None and reoffer.decision is not None


def test_expiry_without_auto_assignment_leaves_the_lead_in_the_pool(admin_user, django_capture_on_commit_callbacks):
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=_partner(), actor=admin_user)
    LeadAssignment.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert offer_expire_due() == 1
    assert not LeadAssignment.objects.filter(lead=lead, status=LeadAssignment.Status.OFFERED).exists()


def test_partner_rejection_reoffers_when_auto_assignment_is_on(
    admin_user, platform_org, django_capture_on_commit_callbacks
):
    PipelineSettings.objects.create(tenant=platform_org, auto_assign_enabled=True)
    first, second = _partner(), _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=first, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        offer = offer_reject(offer=offer, actor=first, reason="nein")
    reoffer = LeadAssignment.objects.get(lead=lead, status=LeadAssignment.Status.OFFERED)
    assert reoffer.partner == second and offer.status == LeadAssignment.Status.REJECTED


def test_pool_reject_marks_lost_and_withdraws_the_open_offer(admin_user):
    partner = _partner()
    lead = LeadFactory()
    offer = offer_create(lead=lead, partner=partner, actor=admin_user)
    lead = lead_pool_reject(lead=lead, actor=admin_user, reason="Spam")
    offer.refresh_from_db()
    assert lead.status == Lead.Status.LOST and lead.lost_reason == "Spam"
    assert offer.status == LeadAssignment.Status.REVOKED
    assert _events(lead, "lead.lost")[0].payload == {"from": "new", "to": "lost", "reason_given": True}
    with pytest.raises(DomainError):
        lead_pool_reject(lead=LeadFactory(), actor=admin_user, reason="")
    accepted = LeadFactory(tenant=partner.organization, assigned_partner=partner)
    with pytest.raises(ConflictError):
        lead_pool_reject(lead=accepted, actor=admin_user, reason="Spam")
