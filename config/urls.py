"""Root URL configuration."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework_simplejwt.views import TokenRefreshView

from accounts.api import TokenObtainApi
from config.health import healthz
from core.api import api_path
from followups.esp import anymail_urlpatterns

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    api_path("auth/token", TokenObtainApi.as_view(), name="token_obtain_pair"),
    api_path("auth/token/refresh", TokenRefreshView.as_view(), name="token_refresh"),
    api_path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    api_path("docs", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("accounts.urls")),
    path("api/", include("deals.urls")),
    path("api/", include("campaigns.urls")),
    path("", include("followups.urls")),
    path("api/", include("portal.api")),
    path("api/", include("leads.urls")),
    path("", include("compliance.urls")),
    path("portal/leads/", include("portal.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("anymail/", include((anymail_urlpatterns(), "anymail"))),
    path("integrations/", include("webhooks.linkedin_oauth")),
]

handler400 = "core.api.bad_request"
handler403 = "core.api.permission_denied"
handler404 = "core.api.page_not_found"
handler500 = "core.api.server_error"
