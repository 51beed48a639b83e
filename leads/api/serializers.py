"""Input fields shared by the APIs that create leads (API-505 manual lead, API-580 website capture)."""

from __future__ import annotations

from rest_framework import serializers

from core.validation import SafeCharField


class LeadContactInputSerializer(serializers.Serializer):
    """A person's contact and profile fields as ``lead_ingest`` takes them (all optional, validated there).

    Control characters are refused here (``SafeCharField``): they have no place in a name or an address.
    """

    email = SafeCharField(required=False, allow_blank=True, max_length=254)
    phone = SafeCharField(required=False, allow_blank=True, max_length=40)
    full_name = SafeCharField(required=False, allow_blank=True, max_length=300)
    first_name = SafeCharField(required=False, allow_blank=True, max_length=150)
    last_name = SafeCharField(required=False, allow_blank=True, max_length=150)
    company_name = SafeCharField(required=False, allow_blank=True, max_length=255)
    job_title = SafeCharField(required=False, allow_blank=True, max_length=255)
    interest_type = SafeCharField(required=False, allow_blank=True, max_length=40)
    postcode = SafeCharField(required=False, allow_blank=True, max_length=16)
    city = SafeCharField(required=False, allow_blank=True, max_length=120)
    region = SafeCharField(required=False, allow_blank=True, max_length=120)
    country = SafeCharField(required=False, allow_blank=True, max_length=2)
