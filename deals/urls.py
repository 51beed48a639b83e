"""API routes of the deals app, mounted under /api/ (SPEC §9: /api/leads/deals/…, with or without trailing slash)."""

from django.urls import re_path

from deals.api import DealDetailApi, DealListCreateApi, DealLoseApi, DealStageApi, DealWinApi

DEAL_ID = r"(?P<deal_id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"

urlpatterns = [
    re_path(r"^leads/deals/?$", DealListCreateApi.as_view(), name="api-deal-list"),
    re_path(rf"^leads/deals/{DEAL_ID}/?$", DealDetailApi.as_view(), name="api-deal-detail"),
    re_path(rf"^leads/deals/{DEAL_ID}/stage/?$", DealStageApi.as_view(), name="api-deal-stage"),
    re_path(rf"^leads/deals/{DEAL_ID}/win/?$", DealWinApi.as_view(), name="api-deal-win"),
    re_path(rf"^leads/deals/{DEAL_ID}/lose/?$", DealLoseApi.as_view(), name="api-deal-lose"),
]
