"""API routes of the campaigns app, mounted under /api/ before leads.urls (SPEC §9: API-540–549).

Paths work with and without a trailing slash; ``campaign_id`` is the campaign's integer id.
"""

from django.urls import re_path

from campaigns.api import (
    CampaignBookApi,
    CampaignCompleteApi,
    CampaignDetailApi,
    CampaignListCreateApi,
    CampaignPauseApi,
    CampaignResumeApi,
    CampaignStatsApi,
    CampaignSubmitApi,
    CampaignTemplateListApi,
)

CAMPAIGN_ID = r"(?P<campaign_id>[0-9]{1,18})"

urlpatterns = [
    re_path(r"^leads/campaigns/?$", CampaignListCreateApi.as_view(), name="api-campaign-list"),
    re_path(r"^leads/campaigns/templates/?$", CampaignTemplateListApi.as_view(), name="api-campaign-templates"),
    re_path(rf"^leads/campaigns/{CAMPAIGN_ID}/?$", CampaignDetailApi.as_view(), name="api-campaign-detail"),
    re_path(rf"^leads/campaigns/{CAMPAIGN_ID}/pause/?$", CampaignPauseApi.as_view(), name="api-campaign-pause"),
    re_path(rf"^leads/campaigns/{CAMPAIGN_ID}/resume/?$", CampaignResumeApi.as_view(), name="api-campaign-resume"),
    re_path(rf"^leads/campaigns/{CAMPAIGN_ID}/stats/?$", CampaignStatsApi.as_view(), name="api-campaign-stats"),
    re_path(rf"^leads/campaigns/{CAMPAIGN_ID}/submit/?$", CampaignSubmitApi.as_view(), name="api-campaign-submit"),
    re_path(
        rf"^leads/campaigns/{CAMPAIGN_ID}/complete/?$", CampaignCompleteApi.as_view(), name="api-campaign-complete"
    ),
    re_path(rf"^admin/campaigns/{CAMPAIGN_ID}/book/?$", CampaignBookApi.as_view(), name="api-campaign-book"),
]
