"""API routes of the deals app, mounted under /api/ (SPEC §9: /api/leads/deals/…, with or without trailing slash).

Also the lead side of deals: a lead with its deal (API-501) and converting it (API-503) under /api/leads/<id>/.
"""

from django.urls import re_path

from deals.api import (
    DealDetailApi,
    DealListCreateApi,
    DealLoseApi,
    DealStageApi,
    DealWinApi,
    LeadConvertApi,
    LeadDetailApi,
)
from leads.api.leads import UUID_OR_PUBLIC_ID

DEAL_ID = r"(?P<deal_id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"

urlpatterns = [
    re_path(r"^leads/deals/?$", DealListCreateApi.as_view(), name="api-deal-list"),
    re_path(rf"^leads/deals/{DEAL_ID}/?$", DealDetailApi.as_view(), name="api-deal-detail"),
    re_path(rf"^leads/deals/{DEAL_ID}/stage/?$", DealStageApi.as_view(), name="api-deal-stage"),
    re_path(rf"^leads/deals/{DEAL_ID}/win/?$", DealWinApi.as_view(), name="api-deal-win"),
    re_path(rf"^leads/deals/{DEAL_ID}/lose/?$", DealLoseApi.as_view(), name="api-deal-lose"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/?$", LeadDetailApi.as_view(), name="api-lead-detail"),
    re_path(rf"^leads/{UUID_OR_PUBLIC_ID}/convert/?$", LeadConvertApi.as_view(), name="api-lead-convert"),
]
