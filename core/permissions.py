"""DRF permission classes by role and API-key scope.

They read the principal's role properties (``is_staff_role``, ``is_platform_admin``, ``is_partner``,
``has_scope``) and never import ``accounts``, so every floor can guard its API with them.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsStaffRole(BasePermission):
    """Platform admins and internal ops (Zone 1)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and getattr(user, "is_staff_role", False))


class IsPlatformAdmin(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_platform_admin", False))


class IsPartner(BasePermission):
    """Sales partners and team leaders (Zone 2)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "is_partner", False))


def require_scope(scope: str) -> type[BasePermission]:
    """Build a permission that admits API keys holding ``scope``."""

    class HasScope(BasePermission):
        def has_permission(self, request, view) -> bool:
            has_scope = getattr(request.user, "has_scope", None)
            return bool(has_scope and has_scope(scope))

    HasScope.__name__ = f"HasScope_{scope.replace(':', '_')}"
    return HasScope
