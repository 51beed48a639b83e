"""Structured logs carry the request id; the platform organization is unique and protected."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import IntegrityError, transaction

from accounts.models import Organization
from accounts.services import organization_create
from core.exceptions import DomainError
from core.logging import JsonFormatter, RequestIdFilter, request_id_var


def test_json_log_line_has_request_id_and_extras():
    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord("webhooks", logging.WARNING, __file__, 1, "refused %s", ("signature",), None)
        record.provider = "facebook"
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "refused signature"
    assert line["request_id"] == "req-42"
    assert line["provider"] == "facebook"
    assert line["level"] == "WARNING"


@pytest.mark.django_db
def test_exactly_one_platform_organization():
    platform = Organization.platform()
    assert platform.kind == Organization.Kind.PLATFORM
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(name="Zweite", slug="zweite", kind="platform", is_platform=True)
    with pytest.raises(DomainError):
        organization_create(name="Noch eine", kind=Organization.Kind.PLATFORM, actor=None)
    with pytest.raises(DomainError):
        platform.delete()
    assert Organization.objects.filter(is_platform=True).count() == 1


@pytest.mark.django_db
def test_organization_slugs_are_unique():
    first = organization_create(name="Müller Immobilien", actor=None)
    second = organization_create(name="Müller Immobilien", actor=None)
    assert (first.slug, second.slug) == ("muller-immobilien", "muller-immobilien-2")
