"""Account endpoints: who am I."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView

from accounts.security import api_lockout_response, is_locked_out, login_failed, totp_device, totp_verify


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(allow_null=True)
        email = serializers.EmailField(allow_null=True)
        role = serializers.CharField()
        organization = serializers.CharField(allow_null=True)
        is_platform_organization = serializers.BooleanField()

    @extend_schema(operation_id="auth_me", summary="Current principal", responses=OutputSerializer)
    def get(self, request):
        user = request.user
        org = getattr(user, "organization", None)
        data = {
            "id": user.pk,
            "email": getattr(user, "email", None),
            "role": user.role,
            "organization": org.slug if org else None,
            "is_platform_organization": bool(org and org.is_platform),
        }
        return Response(self.OutputSerializer(data).data)


class TokenObtainInputSerializer(TokenObtainPairSerializer):
    """Email and password, plus the TOTP code when the account has a device (or is staff who must have one)."""

    otp_token = serializers.CharField(required=False, allow_blank=True, max_length=16, write_only=True)

    def validate(self, attrs):
        data = super().validate(attrs)  # the password (axes counts and locks here)
        user, token = self.user, attrs.get("otp_token", "")
        device = totp_device(user)
        if device is None:
            if getattr(user, "is_staff_role", False) and settings.STAFF_2FA_REQUIRED:
                raise AuthenticationFailed(
                    _("Two-factor authentication is required: set it up in the admin first."), code="otp_setup_required"
                )
            return data
        if not token:
            raise AuthenticationFailed(_("Enter the code from your authenticator app."), code="otp_required")
        if not totp_verify(device, token):
            login_failed(self.context["request"], attrs.get(self.username_field, ""))
            raise AuthenticationFailed(_("The code is not valid."), code="otp_invalid")
        return data


class TokenObtainApi(TokenObtainPairView):
    """JWT obtain (``/api/auth/token/``) with django-axes' lockout: 429 in the error shape, with ``Retry-After``.

    simplejwt passes DRF's request to ``authenticate``, so axes marks *that* object (not the Django request
    its middleware sees) when it refuses or locks; this view turns the mark into the answer.
    """

    serializer_class = TokenObtainInputSerializer

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            if is_locked_out(request):
                return api_lockout_response()
            raise
