from django.urls import re_path

from accounts.api import MeApi

urlpatterns = [
    re_path(r"^auth/me/?$", MeApi.as_view(), name="auth-me"),
]
