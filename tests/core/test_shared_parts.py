"""The shared parts in core/: date ranges, CSV safety, keyset pagination, estimated counts, role permissions."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import User
from core.csv import csv_safe
from core.dates import DateRange
from core.pagination import EstimatedCountPaginator, KeysetPagination
from core.permissions import IsPartner, IsPlatformAdmin, IsStaffRole, require_scope
from tests.accounts.factories import UserFactory

# --- DateRange ---------------------------------------------------------------------------------


def _last_30(end: dt.date) -> dt.date:
    return end - dt.timedelta(days=29)


def test_date_range_defaults_to_the_callers_window_ending_today():
    today = timezone.localdate()
    rng = DateRange.bounded(None, None, default_from=_last_30, max_days=366)
    assert (rng.date_from, rng.date_to) == (today - dt.timedelta(days=29), today)
    assert len(rng.days) == 30 and rng.days[0] == rng.date_from and rng.days[-1] == today
    # whole local days, end exclusive
    assert rng.start == timezone.make_aware(dt.datetime.combine(rng.date_from, dt.time.min))
    assert rng.end - rng.start == dt.timedelta(days=30)


def test_date_range_never_ends_in_the_future_swaps_reversed_bounds_and_is_clamped():
    today = timezone.localdate()
    future = DateRange.bounded(None, today + dt.timedelta(days=40), default_from=_last_30, max_days=366)
    assert future.date_to == today
    reversed_ = DateRange.bounded(dt.date(2026, 3, 10), dt.date(2026, 3, 1), default_from=_last_30, max_days=366)
    assert (reversed_.date_from, reversed_.date_to) == (dt.date(2026, 3, 1), dt.date(2026, 3, 10))
    wide = DateRange.bounded(dt.date(2020, 1, 1), dt.date(2026, 3, 1), default_from=_last_30, max_days=366)
    assert len(wide.days) == 366 and wide.date_to == dt.date(2026, 3, 1)


def test_date_range_months_cover_every_month_touched():
    rng = DateRange(dt.date(2025, 11, 15), dt.date(2026, 2, 1))
    assert rng.months() == [dt.date(2025, 11, 1), dt.date(2025, 12, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1)]


# --- csv_safe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+49 171 1234567", "'+49 171 1234567"),  # not E.164: a formula for Excel
        ("+491711234567", "+491711234567"),  # E.164 stays as it is
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("Müller GmbH", "Müller GmbH"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_safe_neutralises_formulas_and_keeps_phone_numbers(value, expected):
    assert csv_safe(value) == expected


# --- KeysetPagination --------------------------------------------------------------------------


class UserKeyset(KeysetPagination):
    model = User
    orderings = {"-date_joined": ("-date_joined", "-id"), "date_joined": ("date_joined", "id")}
    default_ordering = "-date_joined"


def _request(**params) -> Request:
    return Request(APIRequestFactory().get("/api/users/", params))


@pytest.mark.django_db
def test_keyset_pages_through_every_row_once_with_ties_broken_by_id():
    # given: seven users, four of them joined at the same instant (ties)
    same = timezone.now() - dt.timedelta(days=1)
    users = [UserFactory(date_joined=same) for _ in range(4)]
    users += [UserFactory(date_joined=same + dt.timedelta(minutes=n)) for n in range(1, 4)]
    queryset = User.objects.filter(pk__in=[u.pk for u in users])
    # when: following the cursors, three at a time
    seen, cursor, pages = [], None, 0
    while True:
        paginator = UserKeyset(_request(page_size=3, ordering="date_joined", **({"cursor": cursor} if cursor else {})))
        rows = paginator.paginate(queryset)
        seen += [row.pk for row in rows]
        pages += 1
        next_url = paginator.response([]).data["next"]
        if not next_url:
            break
        cursor = next_url.split("cursor=")[1].split("&")[0]
    # then: every user once, in order, over three pages
    assert pages == 3
    assert seen == list(queryset.order_by("date_joined", "id").values_list("pk", flat=True))


@pytest.mark.parametrize(
    "params", [{"cursor": "not-base64!"}, {"cursor": "WzFd"}, {"ordering": "email"}, {"page_size": "ten"}]
)
def test_keyset_refuses_bad_parameters_with_a_validation_error(params):
    with pytest.raises(ValidationError):
        UserKeyset(_request(**params))


def test_keyset_caps_the_page_size():
    assert UserKeyset(_request(page_size=100_000)).size == KeysetPagination.max_page_size


# --- EstimatedCountPaginator -------------------------------------------------------------------


@pytest.mark.django_db
def test_estimated_count_is_exact_below_the_threshold_and_an_estimate_above(monkeypatch):
    UserFactory.create_batch(3)
    queryset = User.objects.order_by("pk")
    assert EstimatedCountPaginator(queryset, 2).count == queryset.count()
    # above the threshold the planner's estimate is trusted, and a page past its end is empty, not an error
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 0)
    paginator = EstimatedCountPaginator(queryset, 2)
    assert paginator.count >= 0
    assert paginator.validate_number(paginator.num_pages + 5) == paginator.num_pages + 5


# --- permissions -------------------------------------------------------------------------------


def _principal(**attrs):
    return SimpleNamespace(is_authenticated=True, is_active=True, **attrs)


def test_role_permissions_read_the_principal_without_knowing_accounts():
    staff = SimpleNamespace(user=_principal(is_staff_role=True, is_platform_admin=False, is_partner=False))
    admin = SimpleNamespace(user=_principal(is_staff_role=True, is_platform_admin=True, is_partner=False))
    partner = SimpleNamespace(user=_principal(is_staff_role=False, is_platform_admin=False, is_partner=True))
    key = SimpleNamespace(user=_principal(has_scope=lambda scope: scope == "leads:write"))
    assert IsStaffRole().has_permission(staff, None) and not IsStaffRole().has_permission(partner, None)
    assert IsPlatformAdmin().has_permission(admin, None) and not IsPlatformAdmin().has_permission(staff, None)
    assert IsPartner().has_permission(partner, None) and not IsPartner().has_permission(staff, None)
    assert require_scope("leads:write")().has_permission(key, None)
    assert not require_scope("activities")().has_permission(key, None)
    assert not require_scope("activities")().has_permission(partner, None)


@pytest.mark.django_db
def test_user_roles_map_to_the_permissions():
    ops = UserFactory(role=User.Role.INTERNAL_OPS)
    partner = UserFactory(role=User.Role.SALES_PARTNER)
    assert ops.is_staff_role and not partner.is_staff_role
    assert IsStaffRole().has_permission(SimpleNamespace(user=ops), None)
    assert not IsStaffRole().has_permission(SimpleNamespace(user=partner), None)
