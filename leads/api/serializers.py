"""Input fields shared by the APIs that create leads (API-505 manual lead, API-580 website capture)."""

from __future__ import annotations

from rest_framework import serializers


class LeadContactInputSerializer(serializers.Serializer):
    """A person's contact and profile fields as ``lead_ingest`` takes them (all optional, validated there)."""

    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    full_name = serializers.CharField(required=False, allow_blank=True, max_length=300)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    company_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    job_title = serializers.CharField(required=False, allow_blank=True, max_length=255)
    interest_type = serializers.CharField(required=False, allow_blank=True, max_length=40)
    postcode = serializers.CharField(required=False, allow_blank=True, max_length=16)
    city = serializers.CharField(required=False, allow_blank=True, max_length=120)
    region = serializers.CharField(required=False, allow_blank=True, max_length=120)
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)
