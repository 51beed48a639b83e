"""Demo data of the smart follow-ups (seed_demo): runs of the YAML sequences with partner tasks, reminders
(some due today, one snoozed three times), an escalation and a team template with two clones.

Idempotent: every part looks for what it made before (by partner, lead and kind) and adds only what is
missing; no new leads (the demo's 48 leads are reused, the partners' own first). The "Heute" page of every
demo partner has something to do right after seeding.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Team
from followups.models import (
    DueStep,
    Escalation,
    FollowupTask,
    MessageTemplate,
    Reminder,
    Sequence,
    SequenceRun,
    TeamTemplate,
)
from followups.rendering import render_task_message
from followups.selectors.team import member_team_id
from followups.services.escalations import week_of
from followups.services.team import template_clone, template_publish
from followups.yaml_sequences import sync_sequences
from leads.models import Lead

YAML_CODES = ("first_contact_to_partner", "ghost_reactivation")
TEMPLATE_NAME = "Annas Erstkontakt-Playbook"
TEAM_CONFIG: dict[str, Any] = {
    "sequences": [
        {
            "code": "anna-erstkontakt",
            "name": "Annas Erstkontakt",
            "steps": [
                {"kind": "task", "channel": "whatsapp", "delay_hours": 0, "template_code": "anna-hallo"},
                {"kind": "task", "channel": "call", "delay_hours": 48, "template_code": "anna-anruf"},
            ],
        }
    ],
    "message_templates": [
        {
            "code": "anna-hallo",
            "name": "Hallo nach dem Erstkontakt",
            "channel": "whatsapp",
            "body": "Hallo {{ first_name }}, schön, dass Sie sich gemeldet haben! Passt Ihnen diese Woche ein kurzes "
            "Telefonat?",
        },
        {
            "code": "anna-anruf",
            "name": "Anruf anbieten",
            "channel": "call",
            "body": "Hallo {{ first_name }}, ich rufe Sie gern an: wann erreiche ich Sie am besten?",
        },
    ],
    "daily_flow": {"morning": ["Heute öffnen", "3 Anrufe", "WhatsApp beantworten"], "evening": ["Notizen"]},
    "objection_handlers": [
        {"objection": "Keine Zeit", "answer": "Verstehe ich gut – darf ich Ihnen 2 Minuten Video schicken?"},
        {"objection": "Zu teuer", "answer": "Lassen Sie uns kurz rechnen, was es Sie kostet, nichts zu tun."},
    ],
}


def _say(stdout, text: str) -> None:
    if stdout is not None:
        stdout.write(text)


def _partner_leads(partner) -> list[Lead]:
    """The partner's live demo leads in a stable order (re-runs pick the same ones)."""
    return list(
        Lead.objects.filter(assigned_partner=partner, merged_into__isnull=True, erased_at__isnull=True)
        .exclude(status__in=(Lead.Status.LOST, Lead.Status.CONVERTED))
        .select_related("assigned_partner")
        .order_by("created_at", "pk")
    )


def _run_with_task(*, sequence: Sequence, lead: Lead, partner, now: dt.datetime) -> bool:
    """A run at its first step: the step done, its task open and due today, the next step pending."""
    if SequenceRun.objects.filter(sequence=sequence, lead=lead).exists():
        return False
    steps = list(sequence.steps.filter(is_active=True).order_by("number")[:2])
    if not steps:
        return False
    started = now - timedelta(hours=3)
    run = SequenceRun.objects.create(
        sequence=sequence, lead=lead, tenant_id=lead.tenant_id, partner=partner, current_step=steps[0].number
    )
    SequenceRun.objects.filter(pk=run.pk).update(enrolled_at=started)
    first = DueStep.objects.create(
        run=run, step=steps[0], due_at=started, status=DueStep.Status.DONE, executed_at=started
    )
    FollowupTask.objects.create(
        lead=lead,
        tenant_id=lead.tenant_id,
        assignee=partner,
        run=run,
        due_step=first,
        channel=steps[0].channel if steps[0].channel != "email" else "whatsapp",
        template_code=steps[0].template_code,
        subject=steps[0].subject,
        message=render_task_message(step=steps[0], lead=lead, partner=partner),
        due_at=now - timedelta(minutes=30),
    )
    if len(steps) > 1:
        due_at = now + timedelta(hours=max(steps[1].delay_hours, 24))
        DueStep.objects.create(run=run, step=steps[1], due_at=due_at)
        run.next_due_at = due_at
        run.save(update_fields=["next_due_at"])
    return True


def _reminder(*, partner, lead: Lead, action: str, priority: str, at: dt.datetime, note: str, snoozes: int = 0) -> bool:
    if Reminder.objects.filter(user=partner, lead=lead, action_type=action).exists():
        return False
    first = at - timedelta(days=snoozes)
    history = [
        {
            "at": (first + timedelta(days=i, minutes=5)).isoformat(),
            "from": (first + timedelta(days=i)).isoformat(),
            "to": (first + timedelta(days=i + 1)).isoformat(),
            "reason": "",
        }
        for i in range(snoozes)
    ]
    Reminder.objects.create(
        lead=lead,
        tenant_id=lead.tenant_id,
        user=partner,
        action_type=action,
        priority=priority,
        scheduled_for=at,
        first_scheduled_for=first,
        note=note,
        snooze_count=snoozes,
        snoozes=history,
    )
    return True


def _reminders(partner, leads: list[Lead], now: dt.datetime, *, snoozed: bool) -> int:
    """Two due today (one overdue), one tomorrow and, for the first partner, one snoozed three times."""
    plan = [
        ("call", Reminder.Priority.URGENT, now - timedelta(hours=1), "Rückruf zugesagt", 0),
        ("whatsapp", Reminder.Priority.HIGH, now + timedelta(minutes=20), "Unterlagen schicken", 0),
        ("meeting", Reminder.Priority.SCHEDULED, now + timedelta(days=1), "Termin vorbereiten", 0),
    ]
    if snoozed:
        plan.append(("message", Reminder.Priority.NORMAL, now - timedelta(minutes=10), "Immer wieder verschoben", 3))
    created = 0
    for lead, (action, priority, at, note, snoozes) in zip(leads, plan, strict=False):
        created += _reminder(
            partner=partner, lead=lead, action=action, priority=priority, at=at, note=note, snoozes=snoozes
        )
    return created


def _escalation(*, team: Team, member, leads: list[Lead], now: dt.datetime) -> int:
    if not leads or Escalation.objects.filter(member=member, team=team).exists():
        return 0
    Escalation.objects.get_or_create(
        lead=leads[-1],
        week=week_of(now),
        defaults={
            "member": member,
            "leader_id": team.leader_id,
            "team": team,
            "days_without_contact": 8,
            "notified_at": now,
        },
    )
    return 1


def _team_template(*, team: Team, leader, members: list) -> int:
    """The leader's playbook, cloned by the members: the first clone in sync, the second one edited."""
    template = TeamTemplate.objects.filter(team=team, leader=leader, name=TEMPLATE_NAME).first()
    if template is None:
        template = template_publish(
            leader=leader,
            name=TEMPLATE_NAME,
            description="Wie ich neue Kontakte in der ersten Woche begleite – zum Übernehmen.",
            config=TEAM_CONFIG,
            actor=leader,
        )
    cloned = 0
    for index, member in enumerate(members[:2]):
        clone, created = template_clone(template=template, user=member, actor=member)
        cloned += created
        if created and index == 1:  # the second member made the text their own
            MessageTemplate.objects.filter(origin=clone, code="anna-hallo").update(
                body="Hi {{ first_name }}, danke für Ihr Interesse! Wann darf ich kurz anrufen?"
            )
    return cloned


def seed_smart_followups_demo(*, platform, partners, stdout=None) -> dict[str, int]:
    """Create the smart follow-up demo (see the module docstring); returns what was created now."""
    del platform  # the YAML sequences belong to the platform organization; sync_sequences finds it
    now = timezone.now()
    counts = {"runs": 0, "reminders": 0, "escalations": 0, "clones": 0}
    with transaction.atomic():
        sync_sequences()
        sequences = list(Sequence.objects.filter(code__in=YAML_CODES, is_active=True).order_by("code"))
        by_partner = {partner.pk: _partner_leads(partner) for partner in partners}
        for partner in partners:
            leads = by_partner[partner.pk]
            for sequence, lead in zip(sequences, leads[:2], strict=False):
                counts["runs"] += _run_with_task(sequence=sequence, lead=lead, partner=partner, now=now)
            counts["reminders"] += _reminders(partner, leads[2:6], now, snoozed=partner.pk == partners[0].pk)
        for team in Team.objects.filter(leader__in=partners).select_related("leader").order_by("pk"):
            members = [p for p in partners if p.pk != team.leader_id and member_team_id(p) == team.pk]
            if not members:
                continue
            counts["escalations"] += _escalation(team=team, member=members[0], leads=by_partner[members[0].pk], now=now)
            counts["clones"] += _team_template(team=team, leader=team.leader, members=[*members, team.leader])
    _say(
        stdout,
        "Smart follow-up demo: {runs} new runs with tasks, {reminders} reminders, {escalations} escalations, "
        "{clones} template clones.".format(**counts),
    )
    return counts
