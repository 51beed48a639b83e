"""Writes of the portal that belong to no other service: marking the partner's notices read."""

from __future__ import annotations

from django.utils import timezone

from accounts.models import Notification, User


def notifications_mark_read(*, user: User, notification_id: int | None = None) -> int:
    """Mark one or all of the user's unread notices read; a conditional update, so repeats change nothing."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())
