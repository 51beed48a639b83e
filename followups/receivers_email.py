"""Double opt-in: every new marketing-email grant of a lead gets its plain confirmation mail (SPEC §11/§12).

A marketing consent from a form, an import or a service is ``pending`` in the ledger until the
person clicks the link of a confirmation mail with no advertising in it. Three ways a grant
arrives: ``consent_recorded`` (a consent service appended it; sent inside the transaction, so the
task is queued after commit), ``lead_created`` and ``leads_imported`` (a new lead is written with its
records, which are not announced one by one). Each queues a task with ids only; the task sends
once per grant (``followups.services.email.email_doi_send``). A grant made by
``consent_doi_request`` itself is skipped: its caller holds the token and sends the link.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.dispatch import receiver

from compliance.models import ConsentRecord
from compliance.signals import consent_recorded
from core.transactions import on_commit
from followups.services.email import EmailSendFailed, doi_grant_needs_mail, doi_pending_grant, email_doi_send
from leads.models import Lead
from leads.signals import lead_created, leads_imported

logger = logging.getLogger(__name__)

#: Leads per task when an import announces a batch (each may send one mail).
DOI_BATCH = 200


#: A mail server that is down for a while: try again later (the row says ``failed`` meanwhile).
RETRY_AFTER_SECONDS = 600


@shared_task(
    name="followups.consent_doi_mail_send_task",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(EmailSendFailed,),
    retry_backoff=RETRY_AFTER_SECONDS,
    max_retries=5,
)
def consent_doi_mail_send_task(grant_id: int) -> None:
    """Send the double-opt-in mail of one marketing-email grant (idempotent per grant, so retries are safe)."""
    email_doi_send(grant_id=grant_id)


@shared_task(name="followups.consent_doi_mail_for_leads_task", ignore_result=True, acks_late=True)
def consent_doi_mail_for_leads_task(lead_ids: list[str]) -> int:
    """Send the double-opt-in mail to each of these new leads whose marketing consent is pending."""
    sent = 0
    for lead in Lead.objects.filter(pk__in=lead_ids, consent_marketing=True, erased_at__isnull=True):
        grant = doi_pending_grant(lead)
        if grant is None:
            continue
        try:
            sent += email_doi_send(grant_id=grant.pk) is not None
        except EmailSendFailed:
            # One refused mail must not keep the others of the batch from theirs: it is retried on its own.
            logger.warning("double opt-in mail for a lead of the batch failed; retrying later")
            consent_doi_mail_send_task.apply_async((grant.pk,), countdown=RETRY_AFTER_SECONDS)
    return sent


@receiver(consent_recorded, sender=ConsentRecord, dispatch_uid="followups_doi_mail")
def consent_recorded_doi_mail(sender: Any, record: ConsentRecord, **kwargs: Any) -> None:
    """A new marketing grant of a lead waits for its confirmation: queue its mail after commit."""
    if doi_grant_needs_mail(record):
        on_commit(consent_doi_mail_send_task.delay, record.pk)


@receiver(lead_created, sender=Lead, dispatch_uid="followups_doi_mail_lead_created")
def lead_created_doi_mail(sender: Any, lead: Lead, **kwargs: Any) -> None:
    """A lead created with a ticked marketing consent box (a form, a lead ad) gets its confirmation mail."""
    if lead.consent_marketing and lead.email and lead.opted_out_at is None:
        consent_doi_mail_for_leads_task.delay([str(lead.pk)])


@receiver(leads_imported, sender=Lead, dispatch_uid="followups_doi_mail_leads_imported")
def leads_imported_doi_mail(sender: Any, lead_ids: list[str], **kwargs: Any) -> None:
    """An import batch: the leads with a pending marketing consent get their mails, in tasks of ``DOI_BATCH``."""
    pending = [
        str(pk)
        for pk in Lead.objects.filter(pk__in=lead_ids, consent_marketing=True, opted_out_at__isnull=True)
        .exclude(email_hash="")
        .values_list("pk", flat=True)
    ]
    for start in range(0, len(pending), DOI_BATCH):
        consent_doi_mail_for_leads_task.delay(pending[start : start + DOI_BATCH])
