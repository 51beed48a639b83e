"""The sequence engine (SPEC §11): sequences and steps, runs, due rows, tasks, emails and their events.

One engine serves both kinds of sequences: a step either sends an email by itself (``kind=email``) or
creates a task for the partner (``kind=task``). A run belongs to one lead and one sequence; each step
of a run is scheduled as a ``DueStep`` (unique run+step) that a beat tick claims through an index on
``due_at`` with a lease (``core.leases``) and executes exactly once. An email is recorded
(``EmailMessage`` with its Message-ID) before it leaves; ESP events refer back to that Message-ID.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from compliance.fields import EncryptedJSONField, EncryptedTextField
from core.leases import Lease


class Sequence(models.Model):
    """A sequence of steps a lead runs through: an admin's email nurture or a partner/team follow-up."""

    class Kind(models.TextChoices):
        NURTURE = "nurture", _("Email nurture")
        FOLLOWUP = "followup", _("Follow-up")

    class Trigger(models.TextChoices):
        MANUAL = "manual", _("Manual enrolment")
        LEAD_CREATED = "lead_created", _("New lead")
        LEAD_MAGNET_DOWNLOADED = "lead_magnet_downloaded", _("Lead magnet downloaded")
        CALCULATOR_USED = "calculator_used", _("Calculator used")
        OFFER_ACCEPTED = "offer_accepted", _("Pool offer accepted")
        STATUS_CHANGED = "status_changed", _("Status changed")

    class Reenrol(models.TextChoices):
        ONCE = "once", _("Once per lead")
        AFTER_DAYS = "after_days", _("Again after N days")

    code = models.SlugField(_("code"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.NURTURE)
    trigger = models.CharField(_("trigger"), max_length=30, choices=Trigger.choices, default=Trigger.MANUAL)
    # Narrows the trigger: {"channels": ["facebook"], "to_status": ["qualified"], "magnet": "Renditerechner"}.
    trigger_filter = models.JSONField(_("trigger filter"), default=dict, blank=True)
    reenrol = models.CharField(_("re-enrolment"), max_length=12, choices=Reenrol.choices, default=Reenrol.ONCE)
    reenrol_after_days = models.PositiveIntegerField(_("re-enrol after days"), null=True, blank=True)
    # Exit reasons (``SequenceRun.ExitReason`` values) that end a run; empty means all of them.
    exit_on = models.JSONField(_("exit on"), default=list, blank=True)
    organization = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("organization"),
        on_delete=models.CASCADE,
        related_name="sequences",
        help_text=_("The platform organization for nurture sequences; serves leads of every tenant."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="own_sequences",
        help_text=_("A partner's own sequence (a cloned team template); empty for platform sequences."),
    )
    origin = models.ForeignKey(
        "TeamTemplateClone",
        verbose_name=_("cloned from"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sequences",
    )
    next_sequence = models.ForeignKey(
        "self",
        verbose_name=_("next sequence"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sequence")
        verbose_name_plural = _("sequences")
        ordering = ["name"]
        indexes = [models.Index(fields=["trigger"], condition=Q(is_active=True), name="seq_active_trigger")]

    def __str__(self) -> str:
        return self.name


class SequenceStep(models.Model):
    """One step: wait ``delay_hours`` after the previous step, then send an email or create a task."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("Send email")
        TASK = "task", _("Task for the partner")

    class Channel(models.TextChoices):
        AUTO = "auto", _("Automatic")
        EMAIL = "email", _("Email")
        WHATSAPP = "whatsapp", _("WhatsApp")
        CALL = "call", _("Call")
        LINKEDIN = "linkedin", _("LinkedIn")
        MESSAGE = "message", _("Message")

    sequence = models.ForeignKey(Sequence, verbose_name=_("sequence"), on_delete=models.CASCADE, related_name="steps")
    number = models.PositiveSmallIntegerField(_("number"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.EMAIL)
    delay_hours = models.PositiveIntegerField(_("delay (hours)"), default=0)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body_html = models.TextField(_("HTML body"), blank=True, help_text=_("Django template; the lead's fields."))
    body_text = models.TextField(_("text body"), blank=True, help_text=_("Plain-text part; derived when empty."))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.AUTO)
    template_code = models.CharField(_("message template"), max_length=80, blank=True)
    # {"stage_in": [...], "status_in": [...], "score_gte": 40, "has_email": true}: a step whose conditions
    # fail is skipped (the run moves on).
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    # {"positive": "next_step" | "end" | "move_to_nurture" | "wait" | "schedule_call" | <step number>, …}
    on_response = models.JSONField(_("on response"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("sequence step")
        verbose_name_plural = _("sequence steps")
        ordering = ["sequence", "number"]
        constraints = [models.UniqueConstraint(fields=["sequence", "number"], name="seq_step_number_unique")]

    def __str__(self) -> str:
        return f"{self.sequence} #{self.number}"


class SequenceRun(models.Model):
    """One lead in one sequence; at most one open (active or paused) run per lead and sequence."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    class ExitReason(models.TextChoices):
        COMPLETED = "completed", _("All steps done")
        REPLIED = "replied", _("Reply")
        MEETING_BOOKED = "meeting_booked", _("Meeting booked")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Spam complaint")
        LEAD_LOST = "lead_lost", _("Lead lost")
        LEAD_CONVERTED = "lead_converted", _("Lead converted")
        DEAL_LOST = "deal_lost", _("Deal lost")
        PARTNER_CHANGED = "partner_changed", _("Lead moved to another partner")
        CONSENT_TIMEOUT = "consent_timeout", _("Consent not confirmed in time")
        ERASED = "erased", _("Personal data erased")
        STOPPED = "stopped", _("Stopped by hand")
        SEQUENCE_PAUSED = "sequence_paused", _("Sequence switched off")

    sequence = models.ForeignKey(Sequence, verbose_name=_("sequence"), on_delete=models.CASCADE, related_name="runs")
    lead = models.ForeignKey(
        "leads.Lead", verbose_name=_("lead"), on_delete=models.CASCADE, related_name="sequence_runs"
    )
    # Copied from the lead at enrolment: tenant isolation without a join, and the partner whose tasks
    # and signature the run uses (a move to another partner ends the run).
    tenant = models.ForeignKey(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="+"
    )
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("partner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sequence_runs",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    current_step = models.PositiveSmallIntegerField(_("current step"), default=0)
    next_due_at = models.DateTimeField(_("next due at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, blank=True)
    exit_reason = models.CharField(_("exit reason"), max_length=20, choices=ExitReason.choices, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enrolled by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    enrolled_at = models.DateTimeField(_("enrolled at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sequence run")
        verbose_name_plural = _("sequence runs")
        ordering = ["-enrolled_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "lead"],
                condition=Q(status__in=["active", "paused"]),
                name="seq_run_one_open_per_lead",
            )
        ]
        indexes = [
            models.Index(fields=["lead", "status"], name="seq_run_lead_status"),
            models.Index(fields=["partner", "status"], name="seq_run_partner_status"),
            models.Index(fields=["sequence", "status"], name="seq_run_sequence_status"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence} · {self.lead_id}"


class DueStep(models.Model):
    """A step of a run, due at ``due_at``: claimed with a lease by the tick and executed exactly once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        CLAIMED = "claimed", _("Being executed")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(SequenceRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="due_steps")
    step = models.ForeignKey(SequenceStep, verbose_name=_("step"), on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    claimed_by = models.CharField(_("claimed by"), max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Why a step waits or was skipped: "send_window", "frequency_cap", "consent_pending", "condition" …
    note = models.CharField(_("note"), max_length=64, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    executed_at = models.DateTimeField(_("executed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("due step")
        verbose_name_plural = _("due steps")
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="due_step_run_step_unique")]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="due_step_pending_due"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="claimed"), name="due_step_claimed_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.step_id} @ {self.due_at:%Y-%m-%d %H:%M}"


DUE_STEP_LEASE = Lease(model=DueStep, ready=DueStep.Status.PENDING, held=DueStep.Status.CLAIMED)


class FollowupTask(models.Model):
    """Work for the partner that a task step (or a suggestion) created: call, WhatsApp, write personally."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        DISMISSED = "dismissed", _("Dismissed")
        CANCELLED = "cancelled", _("Cancelled")

    lead = models.ForeignKey("leads.Lead", verbose_name=_("lead"), on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="followup_tasks",
    )
    run = models.ForeignKey(
        SequenceRun, verbose_name=_("run"), on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    due_step = models.OneToOneField(
        DueStep, verbose_name=_("due step"), on_delete=models.SET_NULL, null=True, blank=True, related_name="task"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=SequenceStep.Channel.choices)
    template_code = models.CharField(_("message template"), max_length=80, blank=True)
    subject = EncryptedTextField(_("subject"), blank=True, default="")
    message = EncryptedTextField(_("message"), blank=True, default="")  # rendered with the lead's data
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField(_("outcome"), max_length=20, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["due_at"]
        indexes = [
            models.Index(fields=["assignee", "due_at"], condition=Q(status="open"), name="fu_task_open_due"),
            models.Index(fields=["lead", "status"], name="fu_task_lead_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} · {self.lead_id}"


def new_message_token() -> str:
    """The opaque id of one email in tracking and unsubscribe links (not guessable, not the pk)."""
    return secrets.token_urlsafe(16)


class EmailMessage(models.Model):
    """One email, recorded before it leaves; its Message-ID ties ESP events back to it."""

    class Kind(models.TextChoices):
        MARKETING = "marketing", _("Marketing")
        TRANSACTIONAL = "transactional", _("Transactional")

    class Purpose(models.TextChoices):
        SEQUENCE = "sequence", _("Sequence step")
        DOI = "doi", _("Double opt-in confirmation")
        TEST = "test", _("Test send")
        PERSONAL = "personal", _("Sent by the partner")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Spam complaint")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Not sent (suppressed)")

    token = models.CharField(_("token"), max_length=32, unique=True, default=new_message_token, editable=False)
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    esp_message_id = models.CharField(_("ESP message id"), max_length=255, blank=True, db_index=True)
    kind = models.CharField(_("kind"), max_length=14, choices=Kind.choices, default=Kind.MARKETING)
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose.choices, default=Purpose.SEQUENCE)
    lead = models.ForeignKey(
        "leads.Lead",
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="emails",
    )
    tenant = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("tenant"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    due_step = models.OneToOneField(
        DueStep, verbose_name=_("due step"), on_delete=models.SET_NULL, null=True, blank=True, related_name="email"
    )
    run = models.ForeignKey(
        SequenceRun, verbose_name=_("run"), on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    sequence = models.ForeignKey(
        Sequence, verbose_name=_("sequence"), on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    step = models.ForeignKey(
        SequenceStep, verbose_name=_("step"), on_delete=models.SET_NULL, null=True, blank=True, related_name="emails"
    )
    to_hash = models.CharField(_("recipient (blind index)"), max_length=64, db_index=True)
    to_email = EncryptedTextField(_("recipient"), blank=True, default="")
    subject = EncryptedTextField(_("subject"), blank=True, default="")
    # The URLs the email links to (click tracking redirects only to these: no open redirect).
    links = models.JSONField(_("links"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("first opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("first clicked at"), null=True, blank=True)
    open_count = models.PositiveIntegerField(_("opens"), default=0)
    click_count = models.PositiveIntegerField(_("clicks"), default=0)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    complained_at = models.DateTimeField(_("complained at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("email")
        verbose_name_plural = _("emails")
        ordering = ["-created_at"]
        indexes = [
            # The frequency cap counts a recipient's marketing emails of the last days.
            models.Index(fields=["to_hash", "sent_at"], condition=Q(kind="marketing"), name="email_cap_recipient"),
            models.Index(fields=["lead", "-created_at"], name="email_lead_created"),
            models.Index(fields=["step", "status"], name="email_step_status"),
        ]

    def __str__(self) -> str:
        return self.message_id


class EmailEvent(models.Model):
    """An ESP or tracking event of an email, unique per ESP event id (a retried webhook is a duplicate)."""

    class Type(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        OPENED = "opened", _("Opened")
        CLICKED = "clicked", _("Clicked")
        BOUNCED = "bounced", _("Bounced")
        SOFT_BOUNCED = "soft_bounced", _("Soft bounce")
        COMPLAINED = "complained", _("Spam complaint")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        REJECTED = "rejected", _("Rejected")
        DEFERRED = "deferred", _("Deferred")
        OTHER = "other", _("Other")

    esp = models.CharField(_("ESP"), max_length=40, help_text=_('"tracking" for our own pixel and click redirect.'))
    event_id = models.CharField(_("event id"), max_length=255)
    event_type = models.CharField(_("type"), max_length=14, choices=Type.choices)
    message = models.ForeignKey(
        EmailMessage, verbose_name=_("email"), on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    recipient_hash = models.CharField(_("recipient (blind index)"), max_length=64, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    is_bot = models.BooleanField(_("machine (scanner, prefetch)"), default=False)
    url = models.URLField(_("clicked URL"), max_length=2000, blank=True)
    detail = EncryptedJSONField(_("detail"), default=dict, blank=True)  # the ESP's payload: addresses inside
    created_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("email event")
        verbose_name_plural = _("email events")
        ordering = ["-occurred_at"]
        constraints = [models.UniqueConstraint(fields=["esp", "event_id"], name="email_event_unique")]
        indexes = [models.Index(fields=["message", "event_type"], name="email_event_message_type")]

    def __str__(self) -> str:
        return f"{self.esp}:{self.event_type}"


class EmailSuppression(models.Model):
    """An address no marketing email goes to any more (hard bounce, complaint); blind index only."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", _("Hard bounce")
        COMPLAINED = "complained", _("Spam complaint")
        MANUAL = "manual", _("Added by hand")

    email_hash = models.CharField(_("address (blind index)"), max_length=64, unique=True)
    reason = models.CharField(_("reason"), max_length=12, choices=Reason.choices)
    event = models.ForeignKey(
        EmailEvent, verbose_name=_("event"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}… ({self.reason})"


class MessageTemplate(models.Model):
    """A message text with the lead's fields: a platform default (no owner) or a partner's own copy."""

    code = models.SlugField(_("code"), max_length=80)
    name = models.CharField(_("name"), max_length=200)
    channel = models.CharField(
        _("channel"), max_length=10, choices=SequenceStep.Channel.choices, default=SequenceStep.Channel.AUTO
    )
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("text"), help_text=_("Django template; the lead's fields, e.g. {{ first_name }}."))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="message_templates",
        help_text=_("Empty for the platform's defaults."),
    )
    origin = models.ForeignKey(
        "TeamTemplateClone",
        verbose_name=_("cloned from"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="message_templates",
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code"], condition=Q(owner__isnull=True), name="msg_tpl_default_code"),
            models.UniqueConstraint(fields=["owner", "code"], name="msg_tpl_owner_code"),
        ]

    def __str__(self) -> str:
        return self.name


class Reminder(models.Model):
    """A smart reminder: scheduled at the lead's best time, outside quiet hours, snoozable, escalated."""

    class ActionType(models.TextChoices):
        CALL = "call", _("Call")
        EMAIL = "email", _("Email")
        WHATSAPP = "whatsapp", _("WhatsApp")
        MESSAGE = "message", _("Message")
        MEETING = "meeting", _("Meeting")
        TASK = "task", _("Task")

    class Priority(models.TextChoices):
        URGENT = "urgent", _("Urgent")
        HIGH = "high", _("High")
        NORMAL = "normal", _("Normal")
        LOW = "low", _("Low")
        SCHEDULED = "scheduled", _("Scheduled")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        DISMISSED = "dismissed", _("Dismissed")

    lead = models.ForeignKey("leads.Lead", verbose_name=_("lead"), on_delete=models.CASCADE, related_name="reminders")
    tenant = models.ForeignKey(
        "accounts.Organization", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="reminders"
    )
    action_type = models.CharField(_("action"), max_length=10, choices=ActionType.choices, default=ActionType.CALL)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    scheduled_for = models.DateTimeField(_("scheduled for"))
    first_scheduled_for = models.DateTimeField(_("first scheduled for"))
    note = EncryptedTextField(_("note"), blank=True, default="")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    snooze_count = models.PositiveSmallIntegerField(_("snoozes"), default=0)
    # [{"at": iso, "from": iso, "to": iso, "reason": ""}]: the snooze pattern the next suggestion learns from.
    snoozes = models.JSONField(_("snooze history"), default=list, blank=True)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["scheduled_for", "id"]
        indexes = [
            models.Index(fields=["user", "scheduled_for"], condition=Q(status="open"), name="reminder_open_user_due"),
            models.Index(fields=["lead", "status"], name="reminder_lead_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_type_display()} · {self.lead_id}"


class FollowupPreference(models.Model):
    """A user's reminder settings: quiet hours, weekends, how many reminders an hour at most."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="followup_preference"
    )
    quiet_start = models.TimeField(_("quiet hours from"), default="20:00")
    quiet_end = models.TimeField(_("quiet hours until"), default="08:00")
    quiet_weekends = models.BooleanField(_("quiet on weekends"), default=True)
    max_per_hour = models.PositiveSmallIntegerField(_("reminders per hour at most"), default=4)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Berlin")

    class Meta:
        verbose_name = _("follow-up preference")
        verbose_name_plural = _("follow-up preferences")

    def __str__(self) -> str:
        return str(self.user_id)


class Escalation(models.Model):
    """A team member has not reached a lead for 7 days: the leader is told once per lead and week."""

    lead = models.ForeignKey("leads.Lead", verbose_name=_("lead"), on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.CASCADE, related_name="escalations"
    )
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("leader"), on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), on_delete=models.CASCADE, related_name="+")
    week = models.DateField(_("week (Monday)"))
    days_without_contact = models.PositiveSmallIntegerField(_("days without contact"))
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["lead", "week"], name="escalation_lead_week")]
        indexes = [models.Index(fields=["leader", "-created_at"], name="escalation_leader_created")]

    def __str__(self) -> str:
        return f"{self.member_id} · {self.lead_id} · {self.week}"


class TeamTemplate(models.Model):
    """A leader's published playbook: sequences, message templates, daily flow, objection handlers."""

    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), on_delete=models.CASCADE, related_name="+")
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("leader"), on_delete=models.CASCADE, related_name="team_templates"
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    # {"sequences": [...], "message_templates": [...], "daily_flow": {...}, "objection_handlers": [...]}
    config = models.JSONField(_("configuration"), default=dict)
    version = models.PositiveIntegerField(_("version"), default=1)
    is_published = models.BooleanField(_("published"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("team template")
        verbose_name_plural = _("team templates")
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class TeamTemplateClone(models.Model):
    """A member's copy of a team template; in sync while its config still equals what was cloned or pushed."""

    template = models.ForeignKey(
        TeamTemplate, verbose_name=_("template"), on_delete=models.CASCADE, related_name="clones"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.CASCADE, related_name="template_clones"
    )
    version = models.PositiveIntegerField(_("version"))
    config = models.JSONField(_("configuration"), default=dict)
    synced_hash = models.CharField(_("hash of the config as cloned or pushed"), max_length=64)
    created_at = models.DateTimeField(_("cloned at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("team template clone")
        verbose_name_plural = _("team template clones")
        constraints = [models.UniqueConstraint(fields=["template", "user"], name="team_clone_unique")]

    def __str__(self) -> str:
        return f"{self.template_id} → {self.user_id}"
