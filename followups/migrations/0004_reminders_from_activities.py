"""Today's planned follow-ups become reminders (SPEC §11).

For every live, open lead with an assigned partner whose latest follow-up plan (a ``follow_up_planned``
activity, or a logged contact with a date; the clear column ``LeadActivity.next_follow_up``) lies today or
later, one open ``Reminder`` of that partner at 09:00 in the partner's time zone. Leads without a partner,
with a cleared or past plan, or that already have an open reminder are skipped. From now on the receiver
``followups.receivers_reminders`` keeps the reminders in step with new plans. The column stays.
"""

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import migrations
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

BATCH = 1000
OPEN_STATUSES = ("new", "contacted", "qualified")


def _zone(name):
    try:
        return ZoneInfo(name or "Europe/Berlin")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Berlin")


def forwards(apps, schema_editor):
    Lead = apps.get_model("leads", "Lead")
    LeadActivity = apps.get_model("leads", "LeadActivity")
    Reminder = apps.get_model("followups", "Reminder")
    FollowupPreference = apps.get_model("followups", "FollowupPreference")

    today = timezone.localdate()
    planning = Q(activity_type="follow_up_planned") | Q(activity_type="contact_logged", next_follow_up__isnull=False)
    latest = (
        LeadActivity.objects.filter(planning, lead=OuterRef("pk"))
        .order_by("-occurred_at", "-id")
        .values("next_follow_up")[:1]
    )
    rows = (
        Lead.objects.filter(assigned_partner__isnull=False, merged_into__isnull=True, status__in=OPEN_STATUSES)
        .annotate(planned=Subquery(latest))
        .filter(planned__gte=today)
        .exclude(Exists(Reminder.objects.filter(lead=OuterRef("pk"), status="open")))
        .values_list("pk", "tenant_id", "assigned_partner_id", "planned")
        .order_by("pk")
    )
    zones = {}
    batch = []
    for lead_id, tenant_id, user_id, planned in rows.iterator(chunk_size=2000):
        if user_id not in zones:
            pref = FollowupPreference.objects.filter(user_id=user_id).values_list("timezone", flat=True).first()
            zones[user_id] = _zone(pref)
        at = dt.datetime.combine(planned, dt.time(9), tzinfo=zones[user_id])
        batch.append(
            Reminder(
                lead_id=lead_id,
                tenant_id=tenant_id,
                user_id=user_id,
                action_type="call",
                priority="scheduled",
                scheduled_for=at,
                first_scheduled_for=at,
                note="",
                status="open",
            )
        )
        if len(batch) >= BATCH:
            Reminder.objects.bulk_create(batch)
            batch = []
    if batch:
        Reminder.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("followups", "0003_message_templates"),
        ("leads", "0014_leadformroute"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
