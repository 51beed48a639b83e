"""Demo data of the sequence engine for ``seed_demo``: two nurture sequences with runs and emails in every state.

The rows are built directly (no mail leaves, no tick runs): runs at different steps, emails queued,
sent, delivered, opened, clicked, bounced, complained and suppressed, with their events, a suppressed
address and an unsubscribed run, so that the admin's figures and the lead pages have something to show.
Idempotent: sequences and steps by code and number; a sequence's demo runs are created once (their
emails carry a ``<demo-…>`` Message-ID).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.template import Context, engines
from django.utils import timezone

from followups.models import (
    DueStep,
    EmailEvent,
    EmailMessage,
    EmailSuppression,
    FollowupTask,
    Sequence,
    SequenceRun,
    SequenceStep,
)
from leads.models import Lead

SITE = "https://www.example.org"


def _email(subject: str, html: str, text: str = "") -> dict[str, Any]:
    return {"kind": SequenceStep.Kind.EMAIL, "subject": subject, "body_html": html, "body_text": text}


def _task(channel: str, subject: str, text: str) -> dict[str, Any]:
    return {"kind": SequenceStep.Kind.TASK, "channel": channel, "subject": subject, "body_text": text}


SEQUENCES: list[dict[str, Any]] = [
    {
        "code": "willkommen-kapitalanlage",
        "name": "Willkommen Kapitalanlage",
        "description": (
            "Begrüßt neue Interessenten von Website und Facebook und erklärt die Kapitalanlage Schritt für Schritt."
        ),
        "trigger": Sequence.Trigger.LEAD_CREATED,
        "trigger_filter": {"channels": ["website", "facebook"]},
        "steps": [
            (
                0,
                _email(
                    "Willkommen, {{ first_name|default:'schön, dass Sie da sind' }}!",
                    "<p>Hallo {{ first_name|default:'und herzlich willkommen' }},</p>"
                    "<p>danke für Ihr Interesse an einer Immobilie als Kapitalanlage. In den nächsten Tagen "
                    "zeigen wir Ihnen, worauf es ankommt: Lage, Mietrendite und Finanzierung.</p>"
                    f'<p><a href="{SITE}/ratgeber/kapitalanlage">Zum kostenlosen Ratgeber</a></p>',
                ),
            ),
            (
                48,
                _email(
                    "Drei Fragen vor dem ersten Investment",
                    "<p>Hallo {{ first_name|default:'zusammen' }},</p>"
                    "<p>Wie viel Eigenkapital möchten Sie einsetzen? Welche Rendite erwarten Sie? Und wie lange "
                    "möchten Sie die Immobilie halten? Unser Rechner hilft bei allen drei Fragen.</p>"
                    f'<p><a href="{SITE}/rechner">Renditerechner öffnen</a></p>',
                ),
            ),
            (
                72,
                _task(
                    SequenceStep.Channel.CALL,
                    "Erstgespräch anbieten",
                    "Hallo {{ first_name|default:'' }}, hier ist Ihr Berater der Lead-Plattform. Passt Ihnen "
                    "diese Woche ein kurzes Gespräch zu Ihrer Kapitalanlage?",
                ),
            ),
            (
                120,
                _email(
                    "Beispielrechnung: 2-Zimmer-Wohnung in Leipzig",
                    "<p>Hallo {{ first_name|default:'zusammen' }},</p>"
                    "<p>eine Beispielrechnung mit Kaufpreis, Miete, Nebenkosten und Steuervorteil finden Sie "
                    "hier. Sollen wir die Zahlen einmal mit Ihnen durchgehen?</p>"
                    f'<p><a href="{SITE}/beispielrechnung">Beispielrechnung ansehen</a></p>',
                ),
            ),
        ],
    },
    {
        "code": "rechner-nachfass",
        "name": "Rechner-Nachfass",
        "description": "Fasst nach, wenn ein Interessent den Renditerechner benutzt hat.",
        "trigger": Sequence.Trigger.CALCULATOR_USED,
        "trigger_filter": {},
        "steps": [
            (
                1,
                _email(
                    "Ihr Ergebnis aus dem Renditerechner",
                    "<p>Hallo {{ first_name|default:'zusammen' }},</p>"
                    "<p>Sie haben gerade unseren Renditerechner genutzt. Möchten Sie wissen, welche Objekte zu "
                    "Ihrem Ergebnis passen?</p>"
                    f'<p><a href="{SITE}/objekte">Passende Objekte ansehen</a></p>',
                ),
            ),
            (
                72,
                _email(
                    "So finanzieren andere Anleger",
                    "<p>Hallo {{ first_name|default:'zusammen' }},</p>"
                    "<p>die meisten unserer Anleger finanzieren mit 10–20 % Eigenkapital. Wie das aussehen "
                    "kann, zeigt unser Finanzierungsbeispiel.</p>"
                    f'<p><a href="{SITE}/finanzierung">Finanzierungsbeispiel</a></p>',
                ),
            ),
            (
                96,
                _task(
                    SequenceStep.Channel.WHATSAPP,
                    "Per WhatsApp nachfassen",
                    "Hallo {{ first_name|default:'' }}, Sie hatten unseren Renditerechner genutzt. Darf ich "
                    "Ihnen zwei passende Objekte schicken?",
                ),
            ),
            (
                168,
                _email(
                    "Letzte Erinnerung: Ihr persönliches Angebot",
                    "<p>Hallo {{ first_name|default:'zusammen' }},</p>"
                    "<p>Ihr persönliches Angebot ist noch eine Woche reserviert. Antworten Sie einfach auf "
                    "diese E-Mail, wenn Sie Fragen haben.</p>",
                ),
            ),
        ],
    },
]


@dataclass(frozen=True)
class Scenario:
    """One demo run: its sequence, state, the step reached and the states of the emails it sent, in order."""

    code: str
    status: str
    current_step: int
    emails: tuple[str, ...]
    exit_reason: str = ""


A, P, C, X = (SequenceRun.Status.ACTIVE, SequenceRun.Status.PAUSED, SequenceRun.Status.COMPLETED, "cancelled")
R = SequenceRun.ExitReason
WELCOME, CALC = "willkommen-kapitalanlage", "rechner-nachfass"
SCENARIOS = [
    Scenario(WELCOME, A, 3, ("clicked", "opened")),  # at the task step: an open call task
    Scenario(WELCOME, A, 2, ("delivered", "delivered")),
    Scenario(WELCOME, A, 1, ("queued",)),
    Scenario(WELCOME, C, 4, ("clicked", "opened", "delivered"), R.COMPLETED),
    Scenario(WELCOME, X, 1, ("bounced",), R.BOUNCED),
    Scenario(WELCOME, X, 2, ("opened", "unsubscribed"), R.UNSUBSCRIBED),
    Scenario(CALC, A, 1, ("sent",)),
    Scenario(CALC, A, 2, ("clicked", "opened")),
    Scenario(CALC, P, 1, ("delivered",)),
    Scenario(CALC, X, 1, ("complained",), R.COMPLAINED),
    Scenario(CALC, X, 2, ("clicked", "replied"), R.REPLIED),
    Scenario(CALC, X, 1, ("suppressed",), R.BOUNCED),
]
#: Email states: which timestamps and events each state implies (cumulative, in the order they happen).
REACHED = {
    "queued": [],
    "sent": ["sent"],
    "delivered": ["sent", "delivered"],
    "opened": ["sent", "delivered", "opened"],
    "clicked": ["sent", "delivered", "opened", "clicked"],
    "replied": ["sent", "delivered", "opened", "replied"],
    "unsubscribed": ["sent", "delivered", "opened", "unsubscribed"],
    "bounced": ["sent", "bounced"],
    "complained": ["sent", "delivered", "complained"],
    "suppressed": [],
}
STATUS = {
    "queued": EmailMessage.Status.QUEUED,
    "sent": EmailMessage.Status.SENT,
    "bounced": EmailMessage.Status.BOUNCED,
    "complained": EmailMessage.Status.COMPLAINED,
    "suppressed": EmailMessage.Status.SUPPRESSED,
}


def _say(stdout, text: str) -> None:
    if stdout is not None:
        stdout.write(text)


def _render(source: str, lead: Lead) -> str:
    engine = engines["django"].engine
    return engine.from_string(source).render(Context({"first_name": lead.first_name}, autoescape=False)).strip()


def _sequences(platform) -> tuple[dict[str, Sequence], list[int]]:
    """The demo sequences by code, and the ids of those created now (born inactive, see below)."""
    sequences, created_ids = {}, []
    for spec in SEQUENCES:
        sequence, created = Sequence.objects.get_or_create(
            code=spec["code"],
            defaults={
                "name": spec["name"],
                "description": spec["description"],
                "kind": Sequence.Kind.NURTURE,
                "trigger": spec["trigger"],
                "trigger_filter": spec["trigger_filter"],
                "organization": platform,
                "is_active": False,
            },
        )
        if created:
            created_ids.append(sequence.pk)
        for number, (delay, fields) in enumerate(spec["steps"], start=1):
            SequenceStep.objects.get_or_create(
                sequence=sequence, number=number, defaults={"delay_hours": delay, **fields}
            )
        sequences[spec["code"]] = sequence
    return sequences, created_ids


def _leads(partners, count: int) -> list[Lead]:
    """Live demo leads with an address, the partners' leads first (so the portal pages show runs too)."""
    base = Lead.objects.filter(merged_into__isnull=True, erased_at__isnull=True, is_test=False).exclude(email_hash="")
    partner_ids = [p.pk for p in partners]
    chosen = list(base.filter(assigned_partner_id__in=partner_ids).order_by("created_at", "pk")[:count])
    if len(chosen) < count:
        chosen += list(
            base.exclude(pk__in=[lead.pk for lead in chosen]).order_by("created_at", "pk")[: count - len(chosen)]
        )
    return chosen


def _email_row(*, run: SequenceRun, step: SequenceStep, due: DueStep, lead: Lead, state: str, at) -> EmailMessage:
    reached = REACHED[state]
    message_id = f"<demo-{run.sequence.code}-{lead.public_id}-{step.number}@demo.local>"
    links = [SITE + "/ratgeber"]
    times = {name: at + timedelta(minutes=10 * i) for i, name in enumerate(reached)}
    status = STATUS.get(state) or (
        EmailMessage.Status.DELIVERED if "delivered" in reached else EmailMessage.Status.SENT
    )
    email, created = EmailMessage.objects.get_or_create(
        message_id=message_id,
        defaults={
            "kind": EmailMessage.Kind.MARKETING,
            "purpose": EmailMessage.Purpose.SEQUENCE,
            "lead": lead,
            "tenant_id": lead.tenant_id,
            "due_step": due,
            "run": run,
            "sequence": run.sequence,
            "step": step,
            "to_hash": lead.email_hash,
            "to_email": lead.email,
            "subject": _render(step.subject, lead),
            "links": links,
            "status": status,
            "error": "550 5.1.1 mailbox unavailable" if state == "bounced" else "",
            "sent_at": times.get("sent"),
            "delivered_at": times.get("delivered"),
            "opened_at": times.get("opened"),
            "open_count": 2 if "opened" in times else 0,
            "clicked_at": times.get("clicked"),
            "click_count": 1 if "clicked" in times else 0,
            "replied_at": times.get("replied"),
            "bounced_at": times.get("bounced"),
            "complained_at": times.get("complained"),
            "unsubscribed_at": times.get("unsubscribed"),
        },
    )
    if created:
        kinds = {
            "delivered": EmailEvent.Type.DELIVERED,
            "opened": EmailEvent.Type.OPENED,
            "clicked": EmailEvent.Type.CLICKED,
            "bounced": EmailEvent.Type.BOUNCED,
            "complained": EmailEvent.Type.COMPLAINED,
            "unsubscribed": EmailEvent.Type.UNSUBSCRIBED,
        }
        events = [
            EmailEvent(
                esp="tracking" if name in ("opened", "clicked") else "demo",
                event_id=f"demo-{email.token}-{name}",
                event_type=kind,
                message=email,
                recipient_hash=lead.email_hash,
                occurred_at=times[name],
                url=links[0] if name == "clicked" else "",
            )
            for name, kind in kinds.items()
            if name in times
        ]
        if "opened" in times:  # the privacy proxy's fetch right after sending: recorded, not counted
            events.append(
                EmailEvent(
                    esp="tracking",
                    event_id=f"demo-{email.token}-prefetch",
                    event_type=EmailEvent.Type.OPENED,
                    message=email,
                    recipient_hash=lead.email_hash,
                    occurred_at=times["sent"] + timedelta(seconds=2),
                    is_bot=True,
                )
            )
        EmailEvent.objects.bulk_create(events, ignore_conflicts=True)
    return email


def _run(*, scenario: Scenario, sequence: Sequence, steps: list[SequenceStep], lead: Lead, now) -> SequenceRun:
    started = now - timedelta(days=len(scenario.emails) * 2 + 1)
    finished = scenario.status in (C, X)
    run = SequenceRun.objects.create(
        sequence=sequence,
        lead=lead,
        tenant_id=lead.tenant_id,
        partner_id=lead.assigned_partner_id,
        status=scenario.status,
        current_step=scenario.current_step,
        exit_reason=scenario.exit_reason,
        finished_at=now - timedelta(hours=6) if finished else None,
    )
    SequenceRun.objects.filter(pk=run.pk).update(enrolled_at=started)
    email_states = iter(scenario.emails)
    at = started
    for step in steps:
        if step.number > scenario.current_step:
            if not finished:
                due_at = now + timedelta(hours=max(step.delay_hours, 20))
                DueStep.objects.create(run=run, step=step, due_at=due_at)
                run.next_due_at = due_at
                run.save(update_fields=["next_due_at"])
            break
        at += timedelta(hours=step.delay_hours or 1)
        if step.kind == SequenceStep.Kind.TASK:
            due = DueStep.objects.create(run=run, step=step, due_at=at, status=DueStep.Status.DONE, executed_at=at)
            FollowupTask.objects.create(
                lead=lead,
                tenant_id=lead.tenant_id,
                assignee_id=lead.assigned_partner_id,
                run=run,
                due_step=due,
                channel=step.channel,
                subject=step.subject,
                message=_render(step.body_text, lead),
                due_at=now + timedelta(hours=4) if not finished else at,
                status=FollowupTask.Status.OPEN if not finished else FollowupTask.Status.DONE,
                completed_at=at if finished else None,
            )
            continue
        state = next(email_states, "delivered")
        # Done even for the queued email: no tick picks a demo row up and sends it.
        due = DueStep.objects.create(
            run=run,
            step=step,
            due_at=at,
            status=DueStep.Status.DONE,
            executed_at=at,
            note="suppressed" if state == "suppressed" else "",
        )
        _email_row(run=run, step=step, due=due, lead=lead, state=state, at=at)
        if state in ("bounced", "complained", "suppressed"):
            reason = {
                "bounced": EmailSuppression.Reason.BOUNCED,
                "complained": EmailSuppression.Reason.COMPLAINED,
            }.get(state, EmailSuppression.Reason.MANUAL)
            EmailSuppression.objects.get_or_create(email_hash=lead.email_hash, defaults={"reason": reason})
    return run


def seed_followups_demo(*, platform, partners, stdout=None) -> int:
    """Create the demo sequences and, once, their runs and emails; returns the number of runs created."""
    now = timezone.now()
    with transaction.atomic():
        sequences, created_ids = _sequences(platform)
        # seed_demo's leads announce lead_created and their calculator activity after its transaction
        # commits; active sequences would enrol them all and the tick would mail made-up addresses.
        # The new sequences switch on after those events (on_commit callbacks run in order).
        transaction.on_commit(lambda: Sequence.objects.filter(pk__in=created_ids).update(is_active=True))
        leads = _leads(partners, len(SCENARIOS))
        created = 0
        for scenario, lead in zip(SCENARIOS, leads, strict=False):
            sequence = sequences[scenario.code]
            if EmailMessage.objects.filter(sequence=sequence, lead=lead, message_id__startswith="<demo-").exists():
                continue
            if SequenceRun.objects.filter(sequence=sequence, lead=lead).exists():
                continue  # the lead is in this sequence already (enrolled by the engine)
            steps = list(sequence.steps.order_by("number"))
            _run(scenario=scenario, sequence=sequence, steps=steps, lead=lead, now=now)
            created += 1
    _say(stdout, f"Follow-up demo: {len(sequences)} sequences, {created} new runs.")
    return created
