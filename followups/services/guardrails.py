"""Guardrails of marketing email (SPEC §11): the send window in the recipient's time zone and a global cap.

A step that falls outside them is not dropped: the tick moves its due row to the next slot.
Settings are parsed strictly: a malformed ``EMAIL_SEND_WINDOW`` or ``EMAIL_FREQUENCY_CAP`` is an
``ImproperlyConfigured`` error naming the value and the expected form, never a silent default.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from followups.models import EmailMessage

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIME_ZONE = "Europe/Berlin"
#: Country → time zone of the recipients we write to (DACH); anyone else gets Berlin time.
COUNTRY_TIME_ZONES = {"DE": "Europe/Berlin", "AT": "Europe/Vienna", "CH": "Europe/Zurich"}
#: Phone prefixes that tell the country when the lead has none.
PHONE_TIME_ZONES = (
    ("+43", "Europe/Vienna"),
    ("0043", "Europe/Vienna"),
    ("+41", "Europe/Zurich"),
    ("0041", "Europe/Zurich"),
)

_WINDOW = re.compile(r"^\s*([A-Za-z]{3}(?:\s*[-,]\s*[A-Za-z]{3})*)\s+(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")
_CAP = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([dh])\s*$")


@dataclass(frozen=True)
class SendWindow:
    """Weekdays (0 = Monday) and the minutes of the day [start, end) in which marketing email may leave."""

    days: frozenset[int]
    start: int
    end: int

    def contains(self, local: dt.datetime) -> bool:
        minute = local.hour * 60 + local.minute
        return local.weekday() in self.days and self.start <= minute < self.end

    @property
    def always(self) -> bool:
        return len(self.days) == 7 and self.start == 0 and self.end == 24 * 60


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``limit`` marketing emails per recipient in any ``period``."""

    limit: int
    period: dt.timedelta


def _bad_window(value: str, why: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"EMAIL_SEND_WINDOW={value!r} is not valid ({why}); expected e.g. 'Mon-Fri 08:00-18:00' "
        f"or 'Mon-Sun 00:00-24:00' for any time."
    )


def _day(value: str, name: str) -> int:
    try:
        return DAYS.index(name.strip().lower())
    except ValueError:
        raise _bad_window(value, f"unknown day {name.strip()!r}") from None


@lru_cache(maxsize=16)
def parse_send_window(value: str) -> SendWindow:
    """``"Mon-Fri 08:00-18:00"``, ``"Mon,Wed,Fri 09:00-17:30"``, ``"Mon-Sun 00:00-24:00"`` (any time)."""
    match = _WINDOW.match(value or "")
    if not match:
        raise _bad_window(value, "format")
    days: set[int] = set()
    for part in match.group(1).split(","):
        bounds = part.split("-")
        if len(bounds) == 1:
            days.add(_day(value, bounds[0]))
            continue
        first, last = _day(value, bounds[0]), _day(value, bounds[1])
        if last < first:
            raise _bad_window(value, "a day range runs backwards")
        days.update(range(first, last + 1))
    sh, sm, eh, em = (int(match.group(n)) for n in range(2, 6))
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em):
        raise _bad_window(value, "a time is out of range")
    start, end = sh * 60 + sm, eh * 60 + em
    if end <= start:
        raise _bad_window(value, "the window ends before it starts")
    return SendWindow(days=frozenset(days), start=start, end=end)


@lru_cache(maxsize=16)
def parse_frequency_cap(value: str) -> FrequencyCap:
    """``"2/7d"``: at most 2 in 7 days; ``"1/12h"``: one per 12 hours."""
    match = _CAP.match(value or "")
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ImproperlyConfigured(
            f"EMAIL_FREQUENCY_CAP={value!r} is not valid; expected 'N/Dd' (e.g. '2/7d') or 'N/Hh', N and D at least 1."
        )
    amount = int(match.group(2))
    period = dt.timedelta(days=amount) if match.group(3) == "d" else dt.timedelta(hours=amount)
    return FrequencyCap(limit=int(match.group(1)), period=period)


def send_window() -> SendWindow:
    return parse_send_window(settings.EMAIL_SEND_WINDOW)


def frequency_cap() -> FrequencyCap:
    return parse_frequency_cap(settings.EMAIL_FREQUENCY_CAP)


def check_settings() -> None:
    """Parse both settings (raises ``ImproperlyConfigured``): the tick calls it before claiming anything."""
    send_window()
    frequency_cap()


def recipient_time_zone(lead: Any) -> ZoneInfo:
    """The lead's time zone from its country, else its phone prefix; Berlin for everyone else."""
    country = (getattr(lead, "country", "") or "").upper()
    if country:
        return ZoneInfo(COUNTRY_TIME_ZONES.get(country, DEFAULT_TIME_ZONE))
    phone = (getattr(lead, "phone", "") or "").replace(" ", "")
    for prefix, name in PHONE_TIME_ZONES:
        if phone.startswith(prefix):
            return ZoneInfo(name)
    return ZoneInfo(DEFAULT_TIME_ZONE)


def next_window_slot(at: dt.datetime, tz: ZoneInfo, window: SendWindow | None = None) -> dt.datetime:
    """``at`` when it lies in the window (local time of ``tz``), else the window's next opening (in UTC)."""
    window = window or send_window()
    if window.always:
        return at
    local = at.astimezone(tz)
    if window.contains(local):
        return at
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        opening = dt.datetime.combine(day, dt.time(window.start // 60, window.start % 60), tzinfo=tz)
        if opening > local:
            return opening.astimezone(dt.UTC)
    raise ImproperlyConfigured("EMAIL_SEND_WINDOW has no day.")  # unreachable: parsing requires a day


def recent_sends(hashes: Iterable[str], *, now: dt.datetime, cap: FrequencyCap | None = None) -> dict[str, list]:
    """The send times of marketing email per recipient within the cap's period (one query, by ``email_cap_recipient``).

    Transactional mail (double opt-in, test sends) does not count.
    """
    cap = cap or frequency_cap()
    hashes = [h for h in set(hashes) if h]
    sends: dict[str, list] = {h: [] for h in hashes}
    if not hashes:
        return sends
    rows = (
        EmailMessage.objects.filter(
            kind=EmailMessage.Kind.MARKETING, to_hash__in=hashes, sent_at__gt=now - cap.period, sent_at__lte=now
        )
        .order_by("sent_at")
        .values_list("to_hash", "sent_at")
    )
    for to_hash, sent_at in rows:
        sends[to_hash].append(sent_at)
    return sends


def next_cap_slot(sent: list, *, now: dt.datetime, cap: FrequencyCap | None = None) -> dt.datetime:
    """``now`` when the recipient is under the cap, else when the oldest counted email leaves the period."""
    cap = cap or frequency_cap()
    counted = sorted(s for s in sent if s > now - cap.period)
    if len(counted) < cap.limit:
        return now
    return counted[len(counted) - cap.limit] + cap.period + dt.timedelta(seconds=1)


def next_send_slot(lead: Any, *, now: dt.datetime, sent: list | None = None) -> tuple[dt.datetime, str]:
    """When a marketing email to ``lead`` may leave, and why it waits ("" = now, "send_window", "frequency_cap").

    Both rules at once: a slot the cap allows is moved into the window, and re-checked against the cap.
    """
    window, cap = send_window(), frequency_cap()
    if sent is None:
        sent = recent_sends([lead.email_hash], now=now, cap=cap).get(lead.email_hash, [])
    tz = recipient_time_zone(lead)
    slot, reason = now, ""
    for _round in range(4):
        capped = next_cap_slot(sent, now=slot, cap=cap)
        windowed = next_window_slot(capped, tz, window)
        if capped > slot:
            reason = reason or "frequency_cap"
        if windowed > capped:
            reason = reason or "send_window"
        if windowed == slot:
            break
        slot = windowed
    return slot, reason
