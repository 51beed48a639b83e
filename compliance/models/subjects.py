"""Data-subject requests: erasures (crash-safe, step by step) and the tombstones they leave (SPEC §12)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.fields import EncryptedTextField


class SubjectErasure(models.Model):
    """One erasure request (Art. 17) and how far it got.

    The person is resolved once, when the request starts, and the result (lead ids and blind-index
    hashes, never plaintext) is stored here: after the first step the person can no longer be found
    by email or phone, so a re-run after a crash must continue from this record, not search again.
    ``steps`` maps each registered app to the time it finished and what it destroyed.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")

    class QueryKind(models.TextChoices):
        LEAD = "lead", _("Lead")
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")
        LINKEDIN_RESPONSE_ID = "linkedin_response_id", _("LinkedIn response")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    query_kind = models.CharField(_("found by"), max_length=32, choices=QueryKind.choices)
    query_hash = models.CharField(
        _("query (blind index)"), max_length=64, help_text=_("The lead id, or the blind index of the email or phone.")
    )
    reason = EncryptedTextField(_("reason"), blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(_("requested by (label)"), max_length=254, blank=True)
    lead_ids = models.JSONField(_("leads"), default=list, blank=True)
    hashes = models.JSONField(
        _("identity hashes"), default=dict, blank=True, help_text=_("Identity kind → blind-index hashes.")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    steps = models.JSONField(_("steps done"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        ordering = ["-created_at"]
        constraints = [
            # Two admins erasing the same person at once continue one request instead of racing.
            models.UniqueConstraint(
                fields=["query_kind", "query_hash"],
                condition=Q(status="running"),
                name="compliance_erasure_one_running",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_query_kind_display()} {self.created_at:%Y-%m-%d}"


class ErasureTombstone(models.Model):
    """A hash of an erased identity, so that the same person arriving again is flagged, not silently re-created.

    Only blind-index hashes (HMAC with ``BLIND_INDEX_KEY``) are kept: a leaked dump cannot be
    brute-forced into addresses without the key.
    """

    kind = models.CharField(_("kind"), max_length=32)
    value_hash = models.CharField(_("value (blind index)"), max_length=64)
    erasure = models.ForeignKey(
        SubjectErasure,
        verbose_name=_("erasure"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tombstones",
    )
    reason = models.CharField(_("reason code"), max_length=64, blank=True)
    erased_at = models.DateTimeField(_("erased at"), default=timezone.now)

    class Meta:
        verbose_name = _("erasure tombstone")
        verbose_name_plural = _("erasure tombstones")
        ordering = ["-erased_at"]
        constraints = [models.UniqueConstraint(fields=["value_hash", "kind"], name="compliance_tombstone_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.erased_at:%Y-%m-%d}"
