"""The data-subject API (API-590/591): admin-only access and erasure requests."""

urlpatterns: list = []
