"""Meta Marketing API client for managed lead-ad bookings (protocols §1), built on ``GraphClient``.

One system-user token (``META_ADS_ACCESS_TOKEN``), one ad account (``act_{META_AD_ACCOUNT_ID}``) and one
Page (``META_ADS_PAGE_ID``). Every create call answers ``{"id": "<numeric string>"}``; ids stay strings.
This module knows the wire format only; which objects a booking needs and in what order is the
campaigns app's business. Errors are the ``GraphError`` classes of ``integrations.meta.graph``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings

from integrations.meta.graph import GraphClient, GraphPermanentError

#: Read per campaign/ad in the review poll: delivery state and Meta's reasons.
STATUS_FIELDS = "id,effective_status,issues_info"
AD_STATUS_FIELDS = "id,effective_status,issues_info,ad_review_feedback"
#: Graph's limit for ``?ids=`` multi-id reads.
MAX_IDS_PER_READ = 50


def marketing_settings_missing() -> list[str]:
    """Names of the settings a Marketing API booking needs and that are empty."""
    names = ("META_ADS_ACCESS_TOKEN", "META_AD_ACCOUNT_ID", "META_ADS_PAGE_ID")
    return [name for name in names if not getattr(settings, name, "")]


def _created_id(answer: Any, what: str) -> str:
    """The ``id`` of a create answer, as a string (Meta ids exceed 2^53)."""
    object_id = answer.get("id") if isinstance(answer, dict) else None
    if not object_id:
        raise GraphPermanentError(f"Meta answered the {what} create call without an id")
    return str(object_id)


class MarketingClient(GraphClient):
    """Creates and steers the objects of one booking; every object is created ``PAUSED``."""

    def __init__(self, access_token: str = "", *, ad_account_id: str = "", page_id: str = ""):
        super().__init__(access_token or settings.META_ADS_ACCESS_TOKEN)
        self.ad_account = f"act_{(ad_account_id or settings.META_AD_ACCOUNT_ID).removeprefix('act_')}"
        self.page_id = page_id or settings.META_ADS_PAGE_ID

    def create_lead_form(
        self,
        *,
        name: str,
        questions: Sequence[dict[str, Any]],
        privacy_policy_url: str,
        privacy_policy_text: str,
        thank_you_page: dict[str, Any],
        locale: str = "DE_DE",
    ) -> str:
        """``POST /{page_id}/leadgen_forms`` (the form lives on the Page); returns the form id."""
        body = {
            "name": name,
            "locale": locale,
            "block_display_for_non_targeted_viewer": True,
            "questions": list(questions),
            # Meta refuses a link text over 70 characters.
            "privacy_policy": {"url": privacy_policy_url, "link_text": privacy_policy_text[:70]},
            "thank_you_page": thank_you_page,
        }
        return _created_id(self.request("POST", f"{self.page_id}/leadgen_forms", json_body=body), "lead form")

    def create_campaign(self, *, name: str, countries: Sequence[str]) -> str:
        """``POST /act_{id}/campaigns``: OUTCOME_LEADS under the HOUSING special ad category, PAUSED."""
        body = {
            "name": name,
            "objective": "OUTCOME_LEADS",
            "special_ad_categories": ["HOUSING"],
            "special_ad_category_country": list(countries),
            "buying_type": "AUCTION",
            "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
            "status": "PAUSED",
        }
        return _created_id(self.request("POST", f"{self.ad_account}/campaigns", json_body=body), "campaign")

    def create_adset(
        self,
        *,
        name: str,
        campaign_id: str,
        lifetime_budget: int,
        start_time: str,
        end_time: str,
        geo_locations: dict[str, Any],
        dsa_beneficiary: str,
        dsa_payor: str,
    ) -> str:
        """``POST /act_{id}/adsets`` for Instant-Form leads; HOUSING rules: no age, gender or postcode choice."""
        body = {
            "name": name[:400],
            "campaign_id": campaign_id,
            "optimization_goal": "LEAD_GENERATION",
            "billing_event": "IMPRESSIONS",
            "destination_type": "ON_AD",
            "promoted_object": {"page_id": self.page_id},
            "lifetime_budget": int(lifetime_budget),
            "start_time": start_time,
            "end_time": end_time,
            "targeting": {"geo_locations": geo_locations, "targeting_automation": {"advantage_audience": 0}},
            "dsa_beneficiary": dsa_beneficiary[:512],
            "dsa_payor": dsa_payor[:512],
            "status": "PAUSED",
        }
        return _created_id(self.request("POST", f"{self.ad_account}/adsets", json_body=body), "ad set")

    def upload_image(self, *, content: bytes, filename: str) -> str:
        """``POST /act_{id}/adimages`` with the bytes (base64); returns the image hash."""
        answer = self.request(
            "POST",
            f"{self.ad_account}/adimages",
            json_body={"bytes": base64.b64encode(content).decode(), "name": filename},
        )
        images = answer.get("images") if isinstance(answer, dict) else None
        for image in (images or {}).values():
            if isinstance(image, dict) and image.get("hash"):
                return str(image["hash"])
        raise GraphPermanentError("Meta answered the image upload without a hash")

    def create_creative(
        self,
        *,
        name: str,
        message: str,
        headline: str,
        description: str,
        image_hash: str,
        call_to_action: str,
        form_id: str,
    ) -> str:
        """``POST /act_{id}/adcreatives``: a link ad whose button opens the lead form (link must be fb.me)."""
        link_data: dict[str, Any] = {
            "message": message,
            "name": headline,
            "link": "http://fb.me/",
            "call_to_action": {"type": call_to_action, "value": {"lead_gen_form_id": form_id}},
        }
        if description:
            link_data["description"] = description
        if image_hash:
            link_data["image_hash"] = image_hash
        body = {"name": name, "object_story_spec": {"page_id": self.page_id, "link_data": link_data}}
        return _created_id(self.request("POST", f"{self.ad_account}/adcreatives", json_body=body), "creative")

    def create_ad(self, *, name: str, adset_id: str, creative_id: str) -> str:
        """``POST /act_{id}/ads``, PAUSED (publishing starts Meta's review)."""
        body = {"name": name, "adset_id": adset_id, "creative": {"creative_id": creative_id}, "status": "PAUSED"}
        return _created_id(self.request("POST", f"{self.ad_account}/ads", json_body=body), "ad")

    def set_status(self, object_id: str, status: str) -> bool:
        """``POST /{object_id}`` with ``status`` (ACTIVE, PAUSED, ARCHIVED); Meta answers ``{"success": true}``."""
        answer = self.request("POST", str(object_id), json_body={"status": status})
        return bool(answer.get("success", True)) if isinstance(answer, dict) else True

    def read_statuses(self, ids: Iterable[str], *, fields: str = STATUS_FIELDS) -> dict[str, dict[str, Any]]:
        """``GET /?ids=…&fields=…``: many objects per request (at most 50 ids each); keyed by id."""
        unique = list(dict.fromkeys(str(i) for i in ids if i))
        result: dict[str, dict[str, Any]] = {}
        for start in range(0, len(unique), MAX_IDS_PER_READ):
            chunk = unique[start : start + MAX_IDS_PER_READ]
            answer = self.request("GET", "", params={"ids": ",".join(chunk), "fields": fields})
            if isinstance(answer, dict):
                result.update({key: value for key, value in answer.items() if isinstance(value, dict)})
        return result


def issue_texts(node: dict[str, Any]) -> list[str]:
    """Meta's human-readable reasons of one object: ``issues_info`` and the ad's review feedback."""
    texts = []
    for issue in node.get("issues_info") or []:
        if isinstance(issue, dict):
            text = issue.get("error_summary") or issue.get("error_message") or ""
            if issue.get("error_message") and issue.get("error_message") != text:
                text = f"{text}: {issue['error_message']}" if text else issue["error_message"]
            if text:
                texts.append(str(text))
    feedback = node.get("ad_review_feedback")
    if isinstance(feedback, dict):
        for group in feedback.values():
            if isinstance(group, dict):
                texts.extend(f"{key}: {value}" for key, value in group.items())
    return texts
