"""The leads app in the subject data registry (``compliance.registry``): the resolver, the export and the eraser.

``compliance`` finds a person through the resolver registered here and collects or destroys what
every app holds about them. The leads eraser runs last (order 90): the erasers of the other apps
still read the leads' provider ids and public ids that it blanks. The notices ``notify`` wrote about
the person's offers and hot-lead alerts are found for ``accounts`` through the refs registered here.
"""

from __future__ import annotations

from accounts.models import User
from compliance.registry import ErasureContext, Subject, register_subject_data, register_subject_resolver
from leads.models import Lead, LeadAlert, LeadAssignment
from leads.selectors.subjects import SECTIONS, subject_leads_export, subject_resolve
from leads.services.erasure import leads_erase

ORDER = 90
#: The events ``offer_notify`` tells a partner about, each under the dedup key ``offer:<id>:<event>``.
OFFER_NOTICE_EVENTS = ("offered", "revoked", "expired")


def subject_leads_erase(subject: Subject, context: ErasureContext) -> dict[str, int]:
    """The registry's eraser: every lead of the person, set-based (see ``leads.services.erasure``)."""
    return leads_erase(
        lead_ids=subject.lead_ids,
        at=context.at,
        actor=context.actor,
        reason_code=context.reason_code,
        erasure_id=context.erasure_id,
    )


def subject_notification_refs(subject: Subject) -> tuple[set[int], set[str]]:
    """Recipients and dedup keys of the in-app notices about the person's offers and hot-lead alerts.

    Offer notices went to the offer's partner; an alert to the lead's partner or, for a pool lead,
    to the platform staff at that time (every staff user is a candidate).
    """
    ids = list(subject.lead_ids)
    recipients: set[int] = set()
    keys: set[str] = set()
    if not ids:
        return recipients, keys
    for pk, partner_id in LeadAssignment.objects.filter(lead_id__in=ids).values_list("pk", "partner_id"):
        recipients.add(partner_id)
        keys.update(f"offer:{pk}:{event}" for event in OFFER_NOTICE_EVENTS)
    alerts = list(LeadAlert.objects.filter(lead_id__in=ids).values_list("pk", flat=True))
    if alerts:
        keys.update(f"burning:{pk}" for pk in alerts)
        recipients.update(
            Lead.objects.filter(pk__in=ids, assigned_partner__isnull=False).values_list(
                "assigned_partner_id", flat=True
            )
        )
        recipients.update(User.objects.filter(role__in=User.STAFF_ROLES).values_list("pk", flat=True))
    return recipients, keys


def register() -> None:
    """Called from ``LeadsConfig.ready``; registrations are keyed, so a second call replaces the first."""
    from accounts.subject_data import register_notification_refs

    register_subject_resolver(subject_resolve)
    register_subject_data(
        "leads", sections=SECTIONS, exporter=subject_leads_export, eraser=subject_leads_erase, order=ORDER
    )
    register_notification_refs("leads", subject_notification_refs)
