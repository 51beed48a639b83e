"""The accounts app in the subject data registry: in-app notices that name one of the person's leads.

``notify`` writes notices for the apps above (offers, hot-lead alerts), which name the lead by its
public id and company and link to it. ``accounts`` cannot know which lead a notice is about, so each
of those apps registers here how to find its notices for a person: the recipients and dedup keys it
used. Both together hit the unique (recipient, dedup_key) index. The eraser rewrites the notices to a
neutral text; the rows stay (the recipient's inbox and read state are theirs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from accounts.models import Notification
from compliance.registry import ErasureContext, Subject, register_subject_data

ORDER = 20
SECTIONS = ("notifications",)
#: The neutral title of a notice about a lead whose personal data was erased (German in the catalogue).
ERASED_TITLE = gettext_noop("Notice about a lead whose personal data was erased")

#: ``Subject`` → (recipient ids, dedup keys) of the notices an app wrote about the person.
NotificationRefs = Callable[[Subject], tuple[Iterable[int], Iterable[str]]]
_refs: dict[str, NotificationRefs] = {}


def register_notification_refs(key: str, refs: NotificationRefs) -> None:
    """Tell accounts how to find the notices an app wrote about a person (keyed: a second call replaces)."""
    _refs[key] = refs


def _notices(subject: Subject):
    recipients: set[int] = set()
    keys: set[str] = set()
    for refs in _refs.values():
        found_recipients, found_keys = refs(subject)
        recipients.update(found_recipients)
        keys.update(key[:120] for key in found_keys if key)
    if not recipients or not keys:
        return Notification.objects.none()
    # ``dedup_key <> ''`` repeats the unique index's condition, so the planner may use it.
    return Notification.objects.filter(
        ~Q(dedup_key=""), recipient_id__in=sorted(recipients), dedup_key__in=sorted(keys)
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def subject_notifications_export(subject: Subject) -> dict[str, list[Any]]:
    """The notices about the person's leads, as their recipients saw them."""
    rows = (
        _notices(subject)
        .order_by("created_at", "pk")
        .values("id", "recipient_id", "kind", "title", "body", "url", "dedup_key", "read_at", "created_at")
    )
    return {
        "notifications": [
            {**row, "read_at": _iso(row["read_at"]), "created_at": _iso(row["created_at"])} for row in rows
        ]
    }


def subject_notifications_erase(subject: Subject, context: ErasureContext) -> dict[str, int]:
    """Rewrite the notices to a neutral text without the lead's public id or company (idempotent)."""
    with translation.override(settings.LANGUAGE_CODE):  # recipients read German; workers have no request language
        title = gettext(ERASED_TITLE)[:200]
    changed = _notices(subject).filter(~Q(title=title) | ~Q(body="")).update(title=title, body="")
    return {"notifications": changed}


def register() -> None:
    """Called from ``AccountsConfig.ready``."""
    register_subject_data(
        "accounts",
        sections=SECTIONS,
        exporter=subject_notifications_export,
        eraser=subject_notifications_erase,
        order=ORDER,
    )
