"""Pause, resume and complete mirrored to Meta; deferred calls and Meta's review state in the beat sweep."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.utils import translation

from accounts.models import Notification
from campaigns.models import AdCampaign, CampaignStatusChange
from campaigns.services.booking import (
    MetaUpstreamError,
    campaign_complete,
    campaign_pause,
    campaign_resume,
    campaign_status_sync,
)
from campaigns.tasks import campaign_status_sync_task
from core.exceptions import TransitionNotAllowed
from tests.campaigns.factories import AdCampaignFactory


@pytest.fixture(autouse=True)
def _english(settings):
    """The assertions read the English source texts (the platform's language is German)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db

GRAPH = "https://graph.test/v25.0"
S = AdCampaign.Status
A = AdCampaign.SyncAction


@pytest.fixture(autouse=True)
def ads_settings(settings):
    settings.META_GRAPH_API_URL = GRAPH
    settings.META_APP_SECRET = ""
    settings.META_ADS_ACCESS_TOKEN = "EAASystemUserToken"
    settings.META_AD_ACCOUNT_ID = "1234567890"
    settings.META_ADS_PAGE_ID = "104857600012345"
    from django.core.cache import cache

    cache.clear()
    return settings


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def booked(status: str = S.ACTIVE, n: int = 1, **extra) -> AdCampaign:
    ids = {f"meta_{k}_id": f"{base + n}" for k, base in (("campaign", 7100), ("adset", 7200), ("ad", 7300))}
    return AdCampaignFactory(status=status, meta_form_id=f"{7400 + n}", **{**ids, **extra})


def statuses(graph) -> list[tuple[str, str]]:
    return [
        (urlparse(c.request.url).path.rsplit("/", 1)[-1], json.loads(c.request.body)["status"]) for c in graph.calls
    ]


def test_pause_is_mirrored_to_meta_before_the_local_status_changes(graph, partner_user):
    campaign = booked()
    graph.post(f"{GRAPH}/{campaign.meta_campaign_id}", json={"success": True})
    result = campaign_pause(campaign=campaign, actor=campaign.partner)
    assert statuses(graph) == [(campaign.meta_campaign_id, "PAUSED")]
    assert result.status == S.PAUSED and result.sync_pending == ""
    assert CampaignStatusChange.objects.filter(campaign=campaign, to_status=S.PAUSED, actor=campaign.partner).exists()
    graph.post(f"{GRAPH}/{campaign.meta_campaign_id}", json={"success": True})
    assert campaign_resume(campaign=result, actor=None).status == S.ACTIVE
    assert statuses(graph)[-1] == (campaign.meta_campaign_id, "ACTIVE")


def test_complete_pauses_then_archives_the_meta_campaign(graph):
    campaign = booked(S.PAUSED)
    graph.post(f"{GRAPH}/{campaign.meta_campaign_id}", json={"success": True})
    result = campaign_complete(campaign=campaign, actor=None)
    assert statuses(graph) == [(campaign.meta_campaign_id, "PAUSED"), (campaign.meta_campaign_id, "ARCHIVED")]
    assert result.status == S.COMPLETED and result.completed_at is not None


def test_a_meta_outage_leaves_the_status_and_the_sweep_finishes_the_pause(graph):
    # given: Meta is down while the partner pauses
    campaign = booked()
    graph.post(f"{GRAPH}/{campaign.meta_campaign_id}", json={"error": {"message": "down", "code": 2}}, status=503)
    graph.post(f"{GRAPH}/{campaign.meta_campaign_id}", json={"success": True})
    graph.get(GRAPH + "/", json={})
    # when
    result = campaign_pause(campaign=campaign, actor=None)
    # then
    assert result.status == S.ACTIVE and result.sync_pending == A.PAUSE and "down" in result.status_reason
    # when: the beat task runs with Meta back
    counts = campaign_status_sync_task.delay().get()
    # then
    campaign.refresh_from_db()
    assert counts["synced"] == 1 and campaign.status == S.PAUSED and campaign.sync_pending == ""
    assert campaign.status_reason == ""


def test_a_permanent_meta_refusal_is_raised_and_nothing_changes(graph):
    campaign = booked()
    error = {"message": "(#1487056) archived", "code": 100, "error_user_msg": "Die Kampagne wurde gelöscht."}
    graph.post(f"{GRAPH}/{campaign.meta_campaign_id}", json={"error": error}, status=400)
    with pytest.raises(MetaUpstreamError) as caught:
        campaign_pause(campaign=campaign, actor=None)
    assert "Die Kampagne wurde gelöscht." in caught.value.message
    campaign.refresh_from_db()
    assert campaign.status == S.ACTIVE and campaign.sync_pending == ""


def test_without_meta_ids_or_settings_the_change_is_local(graph, settings):
    no_ids = AdCampaignFactory(status=S.ACTIVE)
    assert campaign_pause(campaign=no_ids, actor=None).status == S.PAUSED
    settings.META_ADS_ACCESS_TOKEN = ""  # demo: ids attached by hand, no Marketing API
    by_hand = booked(n=2)
    assert campaign_complete(campaign=by_hand, actor=None).status == S.COMPLETED
    assert not graph.calls
    assert "Ads Manager" in CampaignStatusChange.objects.get(campaign=by_hand, to_status=S.COMPLETED).note


def test_resuming_while_a_pause_waits_for_meta_cancels_the_pause(graph):
    campaign = booked(sync_pending=A.PAUSE)
    result = campaign_resume(campaign=campaign, actor=None)
    assert result.status == S.ACTIVE and result.sync_pending == "" and not graph.calls


def test_a_draft_cannot_be_paused(graph):
    with pytest.raises(TransitionNotAllowed):
        campaign_pause(campaign=AdCampaignFactory(), actor=None)
    assert not graph.calls


def test_a_disapproved_ad_rejects_the_campaign_with_metas_reason_and_tells_partner_and_admins(graph, admin_user):
    # given: two booked campaigns, one of them disapproved by Meta's review
    ok, bad = booked(n=1), booked(S.PAUSED, n=2)
    feedback = {"global": {"Diskriminierung": "Die Anzeige schließt Personengruppen aus."}}
    issues = [{"error_code": 2909035, "error_summary": "Zielgruppe", "error_message": "Radius zu klein", "level": "AD"}]
    graph.get(
        GRAPH + "/",
        json={
            ok.meta_ad_id: {"id": ok.meta_ad_id, "effective_status": "ACTIVE"},
            bad.meta_ad_id: {
                "id": bad.meta_ad_id,
                "effective_status": "DISAPPROVED",
                "issues_info": issues,
                "ad_review_feedback": feedback,
            },
        },
    )
    graph.get(GRAPH + "/", json={c.meta_campaign_id: {"effective_status": "ACTIVE"} for c in (ok, bad)})
    # when
    counts = campaign_status_sync()
    # then: two requests for both campaigns
    assert len(graph.calls) == 2 and counts["read"] == 2 and counts["rejected"] == 1
    assert "ad_review_feedback" in parse_qs(urlparse(graph.calls[0].request.url).query)["fields"][0]
    ok.refresh_from_db()
    bad.refresh_from_db()
    assert ok.status == S.ACTIVE and ok.meta_effective_status == "ACTIVE"
    assert bad.status == S.REJECTED and bad.meta_effective_status == "DISAPPROVED"
    assert "Radius zu klein" in bad.status_reason and "schließt Personengruppen aus" in bad.status_reason
    assert bad.meta_issues[0]["error_code"] == 2909035
    partner_notice = Notification.objects.get(recipient=bad.partner)
    assert bad.name in partner_notice.title and "Radius zu klein" in partner_notice.body
    assert Notification.objects.filter(recipient=admin_user, dedup_key=f"campaign-rejected:{bad.pk}").exists()
    # a second sweep neither rejects nor notifies again
    graph.get(GRAPH + "/", json={})
    graph.get(GRAPH + "/", json={})
    campaign_status_sync()
    assert Notification.objects.filter(recipient=bad.partner).count() == 1


def test_with_issues_on_a_pending_campaign_with_ids_rejects_it(graph):
    campaign = booked(S.PENDING, meta_ad_id="")
    issue = {"error_code": 2859024, "error_summary": "Zertifizierung fehlt", "level": "CAMPAIGN"}
    graph.get(
        GRAPH + "/", json={campaign.meta_campaign_id: {"effective_status": "WITH_ISSUES", "issues_info": [issue]}}
    )
    counts = campaign_status_sync()
    campaign.refresh_from_db()
    assert counts["rejected"] == 1 and campaign.status == S.REJECTED
    assert "Zertifizierung fehlt" in campaign.status_reason and len(graph.calls) == 1


def test_the_sweep_does_nothing_without_meta_settings(graph, settings):
    settings.META_AD_ACCOUNT_ID = ""
    booked(sync_pending=A.PAUSE)
    assert campaign_status_sync() == {"synced": 0, "deferred": 0, "read": 0, "rejected": 0}
    assert not graph.calls
