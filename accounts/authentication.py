"""API-key authentication for integrations (website capture, activity tracking)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import ApiKey
from accounts.services import api_key_verify

HEADER = "X-Api-Key"


class ApiKeyPrincipal:
    """The caller behind an API key: authenticated, tenant-bound, no user account or admin rights."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_partner = False
    is_platform_admin = False
    pk = None
    id = None
    role = "api_key"

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.organization = api_key.organization

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def has_scope(self, scope: str) -> bool:
        return self.api_key.has_scope(scope)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate ``X-Api-Key: lp_<prefix>_<secret>`` (or ``Authorization: Api-Key …``)."""

    def authenticate(self, request):
        raw = request.headers.get(HEADER, "")
        if not raw:
            header = request.headers.get("Authorization", "")
            if header.lower().startswith("api-key "):
                raw = header[8:]
        if not raw:
            return None
        api_key = api_key_verify(raw)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API key."))
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return "Api-Key"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": HEADER}
