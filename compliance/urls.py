"""URL routes of the compliance app: the data-subject API (API-590/591) and the consent pages."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("compliance.api")),
    path("", include("compliance.views")),
]
