"""OpenAPI helpers shared by every app's API: the one error shape (SPEC §6) and its documented statuses."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ApiErrorDetail"

    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False)


class ErrorOutputSerializer(serializers.Serializer):
    """SPEC §6's one error shape, for the schema."""

    class Meta:
        ref_name = "ApiError"

    error = ErrorDetailSerializer()


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Document the error statuses an operation can answer with (all in the one error shape)."""
    descriptions = {
        400: "Invalid input",
        401: "Not authenticated",
        403: "Not a sales partner",
        404: "Unknown or another partner's object",
        409: "Transition not allowed or conflicting state",
        422: "A business rule refused the input",
    }
    return {code: OpenApiResponse(ErrorOutputSerializer, description=descriptions[code]) for code in codes}


READ_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 422)
