"""Account endpoints: who am I."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


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
