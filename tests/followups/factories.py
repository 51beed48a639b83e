"""Factories of the sequence engine: sequences, steps, runs, due rows, tasks (shared by the followups tests)."""

from __future__ import annotations

import factory
from django.utils import timezone

from accounts.models import Organization
from followups.models import DueStep, FollowupTask, Sequence, SequenceRun, SequenceStep
from tests.leads.factories import LeadFactory


class SequenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sequence

    code = factory.Sequence(lambda n: f"sequence-{n}")
    name = factory.Sequence(lambda n: f"Sequence {n}")
    kind = Sequence.Kind.NURTURE
    trigger = Sequence.Trigger.MANUAL
    organization = factory.LazyFunction(Organization.platform)


class FollowupSequenceFactory(SequenceFactory):
    kind = Sequence.Kind.FOLLOWUP


class SequenceStepFactory(factory.django.DjangoModelFactory):
    """An email step by default; ``kind=SequenceStep.Kind.TASK, channel="call"`` for a task step."""

    class Meta:
        model = SequenceStep

    sequence = factory.SubFactory(SequenceFactory)
    number = factory.Sequence(lambda n: n + 1)
    kind = SequenceStep.Kind.EMAIL
    delay_hours = 0
    subject = "Hallo {{ first_name }}"
    body_html = "<p>Hallo {{ first_name|default:'zusammen' }}</p>"
    body_text = "Hallo {{ first_name|default:'zusammen' }}"


class TaskStepFactory(SequenceStepFactory):
    kind = SequenceStep.Kind.TASK
    channel = SequenceStep.Channel.CALL
    subject = "Anrufen"
    body_text = "Hallo {{ first_name }}, kurz telefonieren?"


class SequenceRunFactory(factory.django.DjangoModelFactory):
    """A bare run row (no due rows): use ``followups.services.engine.sequence_enrol`` for a scheduled run."""

    class Meta:
        model = SequenceRun

    sequence = factory.SubFactory(SequenceFactory)
    lead = factory.SubFactory(LeadFactory)
    tenant = factory.LazyAttribute(lambda run: run.lead.tenant)
    partner = factory.LazyAttribute(lambda run: run.lead.assigned_partner)
    status = SequenceRun.Status.ACTIVE


class DueStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DueStep

    run = factory.SubFactory(SequenceRunFactory)
    step = factory.SubFactory(SequenceStepFactory, sequence=factory.SelfAttribute("..run.sequence"))
    due_at = factory.LazyFunction(timezone.now)


class FollowupTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowupTask

    lead = factory.SubFactory(LeadFactory)
    tenant = factory.LazyAttribute(lambda task: task.lead.tenant)
    assignee = factory.LazyAttribute(lambda task: task.lead.assigned_partner)
    channel = SequenceStep.Channel.CALL
    message = "Bitte anrufen"
    due_at = factory.LazyFunction(timezone.now)


def sequence_with_steps(*, steps: int = 2, kind: str = SequenceStep.Kind.EMAIL, delay_hours: int = 24, **fields):
    """A sequence with ``steps`` active steps numbered 1…n, the first at once and the others ``delay_hours`` apart."""
    sequence = SequenceFactory(**fields)
    for number in range(1, steps + 1):
        SequenceStepFactory(
            sequence=sequence,
            number=number,
            kind=kind,
            channel=SequenceStep.Channel.CALL if kind == SequenceStep.Kind.TASK else SequenceStep.Channel.AUTO,
            delay_hours=0 if number == 1 else delay_hours,
        )
    return sequence


def lead_with_consent(*, confirmed: bool = True, **fields):
    """A lead with marketing-email consent in the ledger: confirmed by double opt-in, or still pending."""
    from compliance.services.consent import consent_doi_confirm, consent_doi_request

    lead = LeadFactory(**fields)
    _record, token = consent_doi_request(actor=None, lead=lead, version="test-1", text="Newsletter per E-Mail")
    if confirmed:
        consent_doi_confirm(token, ip="127.0.0.1", user_agent="pytest")
    lead.refresh_from_db()
    return lead
