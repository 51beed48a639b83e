"""Enrichment and AI analysis behind small provider interfaces (SPEC §4.4).

The offline provider always works (email domain, TLD, form data) and runs inline during ingest;
an HTTP provider (Clearbit-style company API) and an LLM analyser (Anthropic Messages shape) are
used only when their settings are present, from a Celery task that retries transient failures.
A deterministic offline analyser returns the same JSON shape as the LLM. The HTTP clients are
``integrations.enrichment`` and ``integrations.llm``; what to send and what to store is decided here.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import transaction

from integrations.enrichment import client as enrichment_client
from integrations.llm import client as llm_client
from leads.models import Company, Lead, LeadActivity, LeadEnrichment, LeadIntent
from leads.normalize import Verification, is_free_mail
from leads.services.config import tenant_config
from leads.services.scoring import icp_match, is_decision_maker, is_large_company

logger = logging.getLogger(__name__)

TLD_COUNTRIES = {
    "de": "DE",
    "at": "AT",
    "ch": "CH",
    "li": "LI",
    "lu": "LU",
    "nl": "NL",
    "be": "BE",
    "fr": "FR",
    "it": "IT",
    "es": "ES",
    "pl": "PL",
    "cz": "CZ",
    "dk": "DK",
    "se": "SE",
    "uk": "GB",
}
LEGAL_SUFFIXES = re.compile(r"[-_.](gmbh|ag|kg|ohg|ug|se|ev|mbh|group|gruppe|holding)$", re.I)
SENIORITY = [
    (
        "c_level",
        re.compile(r"\b(ceo|cfo|cto|coo|cmo|chief|geschäftsführ\w*|inhaber\w*|founder|gründer\w*|vorstand)", re.I),
    ),
    ("vp", re.compile(r"\b(vp|vice president|bereichsleit\w*)", re.I)),
    ("director", re.compile(r"\b(director|direktor\w*|head of)|leiter|leitung", re.I)),
    ("manager", re.compile(r"\b(manager\w*|teamlead\w*|team lead)", re.I)),
]
ANALYSIS_KEYS = ("intent_level", "buying_signals", "recommended_approach", "qualification_score", "next_best_action")


@dataclass
class EnrichmentOutcome:
    provider: str
    company_data: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


class EnrichmentProvider(Protocol):
    name: str

    def is_configured(self) -> bool: ...

    def enrich(self, lead: Lead) -> EnrichmentOutcome | None: ...


def _domain_of(lead: Lead) -> str:
    if lead.company_domain:
        return lead.company_domain.lower()
    if "@" in (lead.email or ""):
        return lead.email.rsplit("@", 1)[1].lower()
    return ""


def guess_company_name(domain: str) -> str:
    """ "mueller-bau.de" → "Mueller Bau", "acme-gmbh.de" → "Acme GmbH"."""
    label = domain.split(".")[-2] if domain.count(".") >= 1 else domain
    suffix = LEGAL_SUFFIXES.search(label)
    legal = ""
    if suffix:
        legal = {"gmbh": "GmbH", "mbh": "mbH", "ev": "e.V."}.get(suffix.group(1).lower(), suffix.group(1).upper())
        label = label[: suffix.start()]
    words = [w.capitalize() for w in re.split(r"[-_.]+", label) if w]
    return " ".join([*words, legal]).strip()


def seniority_of(job_title: str) -> str:
    for level, pattern in SENIORITY:
        if job_title and pattern.search(job_title):
            return level
    return "staff" if job_title else ""


class OfflineProvider:
    """Works without network: company guess from the email domain, country from the TLD, form data."""

    name = "offline"

    def is_configured(self) -> bool:
        return True

    def enrich(self, lead: Lead, verification: Verification | None = None) -> EnrichmentOutcome:
        data, domain, free = self.company(lead, verification)
        if lead.job_title:
            data["seniority"] = seniority_of(lead.job_title)
            data["decision_maker"] = is_decision_maker(lead.job_title)
        if lead.employees is not None or lead.company_size_band:
            data["large_company"] = is_large_company(lead)
        return EnrichmentOutcome(provider=self.name, company_data=data, raw={"domain": domain, "free_mail": free})

    def company(self, lead: Lead, verification: Verification | None = None) -> tuple[dict[str, Any], str, bool]:
        """The company part alone (``b2c``, domain, name, country), the domain and whether it is free
        mail: what a lead's empty company fields are filled from (imports need no more at once)."""
        domain = _domain_of(lead)
        free = bool(domain) and (
            verification.email_free if verification and verification.email_domain else is_free_mail(domain)
        )
        data: dict[str, Any] = {"b2c": free or not domain}
        if domain and not free:
            data["company_domain"] = domain
            data["company_name"] = lead.company_name or guess_company_name(domain)
            tld = domain.rsplit(".", 1)[-1]
            if tld in TLD_COUNTRIES:
                data["country"] = TLD_COUNTRIES[tld]
        elif lead.company_name:
            data["company_name"] = lead.company_name
        return data, domain, free


class HttpCompanyProvider:
    """Clearbit-style company lookup (``integrations.enrichment``) for business email domains."""

    name = "http"

    def is_configured(self) -> bool:
        return enrichment_client.configured()

    def enrich(self, lead: Lead) -> EnrichmentOutcome | None:
        domain = _domain_of(lead)
        if not domain or is_free_mail(domain):
            return None
        lookup = enrichment_client.company_find(domain)
        if lookup.refused:
            logger.warning("enrichment refused", extra={"status": lookup.status, "lead_id": str(lead.pk)})
        return EnrichmentOutcome(provider=self.name, company_data=lookup.company, raw=lookup.raw)


def offline_enrichment(lead: Lead, *, verification: Verification | None = None) -> EnrichmentOutcome:
    return OfflineProvider().enrich(lead, verification=verification)


def remote_enrichment_configured() -> bool:
    return HttpCompanyProvider().is_configured() or LlmAnalyser().is_configured()


# --- AI analysis ------------------------------------------------------------------------------

HIGH_INTENT = {
    "calendar_booking_started",
    "budget_calculator_used",
    "phone_clicked",
    "whatsapp_clicked",
    "form_50_percent_filled",
    "pricing_page_visited",
}


class OfflineAnalyser:
    """Deterministic rules with the LLM's output shape, so the product works offline."""

    name = "offline_analyser"

    def analyse(self, lead: Lead, activities: list[str]) -> dict[str, Any]:
        signals = []
        for code in activities:
            if code in HIGH_INTENT:
                signals.append(f"Hohe Kaufabsicht: {code}")
        if is_decision_maker(lead.job_title):
            signals.append("Entscheider-Rolle")
        if lead.interest_type:
            signals.append(f"Interesse: {lead.get_interest_type_display()}")
        if lead.score_breakdown.get("items"):
            signals.extend(item["description"] for item in lead.score_breakdown["items"] if item["component"] == "i")
        signals = list(dict.fromkeys(signals))[:8]
        score = lead.score
        level = "high" if score >= 61 or len(signals) >= 4 else "medium" if score >= 31 or signals else "low"
        approach = {
            "high": "Sofort anrufen und einen Termin vorschlagen.",
            "medium": "Persönliche E-Mail mit passendem Angebot, danach Anruf.",
            "low": "In die Nurture-Sequenz aufnehmen.",
        }[level]
        action = {
            "high": "Innerhalb von 24 Stunden telefonisch Kontakt aufnehmen.",
            "medium": "Innerhalb von 3 Tagen eine persönliche E-Mail senden.",
            "low": "Lead-Magnet passend zum Interesse senden.",
        }[level]
        return {
            "intent_level": level,
            "buying_signals": signals,
            "recommended_approach": approach,
            "qualification_score": score,
            "next_best_action": action,
        }


class LlmAnalyser:
    """The LLM (``integrations.llm``) reads the lead's facts and activities; no contact data is sent."""

    name = "llm"

    def is_configured(self) -> bool:
        return llm_client.configured()

    def prompt(self, lead: Lead, activities: list[str]) -> str:
        facts = {
            "company": lead.company_name,
            "industry": lead.industry,
            "role": lead.job_title,
            "company_size": lead.company_size_band or lead.employees,
            "interest_type": lead.interest_type,
            "channel": lead.channel,
            "activities": activities,
            "form_answers": {k: v for k, v in (lead.attributes or {}).items() if not k.startswith("_")},
        }
        return (
            "Analysiere diesen Lead für eine Immobilien-Vertriebsplattform. Antworte nur mit JSON mit den Schlüsseln "
            "intent_level (low|medium|high), buying_signals (Liste), recommended_approach, "
            "qualification_score (0-100), next_best_action.\n\n" + json.dumps(facts, ensure_ascii=False, default=str)
        )

    def analyse(self, lead: Lead, activities: list[str]) -> dict[str, Any]:
        return parse_analysis(llm_client.complete(self.prompt(lead, activities)))


def parse_analysis(text: str) -> dict[str, Any]:
    """Parse and validate the analyser JSON (code fences tolerated); ValueError when unusable."""
    cleaned = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip())
    data = json.loads(cleaned)
    if not isinstance(data, dict) or any(key not in data for key in ANALYSIS_KEYS):
        raise ValueError("analysis lacks required keys")
    level = str(data["intent_level"]).lower()
    if level not in ("low", "medium", "high"):
        raise ValueError("intent_level must be low, medium or high")
    score = int(data["qualification_score"])
    signals = data["buying_signals"]
    if not isinstance(signals, list):
        raise ValueError("buying_signals must be a list")
    return {
        "intent_level": level,
        "buying_signals": [str(s)[:300] for s in signals][:20],
        "recommended_approach": str(data["recommended_approach"])[:1000],
        "qualification_score": max(0, min(100, score)),
        "next_best_action": str(data["next_best_action"])[:1000],
    }


def offline_analysis(lead: Lead, activities: list[str]) -> LeadIntent:
    """The offline analyser's insight as an (unsaved) ``LeadIntent`` row."""
    analysis = OfflineAnalyser().analyse(lead, activities)
    return LeadIntent(
        lead=lead,
        source_type="ai_analysis",
        source_id=OfflineAnalyser.name,
        intent_level=analysis["intent_level"],
        intent_score=analysis["qualification_score"],
        keywords=analysis["buying_signals"],
        analysis=analysis,
    )


def enrichment_row_build(
    lead: Lead, outcome: EnrichmentOutcome, *, icp_score: int, icp_reasons: list[str]
) -> LeadEnrichment:
    """The unsaved enrichment row of a new lead (``lead_ingest`` and the import's scoring batch)."""
    return LeadEnrichment(
        lead=lead,
        provider=outcome.provider,
        company_data=outcome.company_data,
        icp_match_score=icp_score,
        icp_reasons=icp_reasons,
        raw_response=outcome.raw,
    )


def _store_enrichment(lead: Lead, outcome: EnrichmentOutcome) -> None:
    """Keep one current row per provider and fill the lead's empty company fields."""
    icp_score, icp_reasons, _matched = icp_match(lead, tenant_config(lead.tenant_id).icp)
    row = LeadEnrichment.objects.filter(lead=lead, provider=outcome.provider).order_by("-created_at").first()
    values = {
        "company_data": outcome.company_data,
        "raw_response": outcome.raw,
        "icp_match_score": icp_score,
        "icp_reasons": icp_reasons,
    }
    if row is None:
        LeadEnrichment.objects.create(lead=lead, provider=outcome.provider, **values)
    else:
        LeadEnrichment.objects.filter(pk=row.pk).update(**values)


def _fill_company_fields(lead: Lead, data: dict[str, Any]) -> list[str]:
    changed = []
    for name in (
        "company_name",
        "company_domain",
        "industry",
        "employees",
        "company_size_band",
        "revenue_band",
        "country",
        "company_linkedin_url",
    ):
        value = data.get(name)
        if value in (None, "") or getattr(lead, name) not in (None, ""):
            continue
        max_length = Lead._meta.get_field(name).max_length
        if isinstance(value, str) and max_length and len(value) > max_length:
            continue
        setattr(lead, name, value)
        changed.append(name)
    return changed


def link_company(lead: Lead) -> None:
    domain = (lead.company_domain or "").lower()
    if not domain or is_free_mail(domain):
        return
    company, _created = Company.objects.get_or_create(
        tenant_id=lead.tenant_id,
        domain=domain,
        defaults={
            "name": lead.company_name[:255],
            "industry": lead.industry,
            "size_band": lead.company_size_band,
            "employees": lead.employees,
            "country": lead.country,
        },
    )
    Company.leads.through.objects.get_or_create(company=company, lead=lead)


def lead_enrich(*, lead_id: Any) -> Lead | None:
    """Run the configured providers and the analyser, store the results, and rescore on change."""
    from leads.services.scoring import lead_rescore

    lead = Lead.objects.filter(pk=lead_id, merged_into__isnull=True).first()
    if lead is None:
        return None
    # Remote calls happen outside any transaction: a slow provider must not hold row locks.
    outcomes = [OfflineProvider().enrich(lead)]
    http = HttpCompanyProvider()
    if http.is_configured():
        outcome = http.enrich(lead)
        if outcome is not None:
            outcomes.append(outcome)
    activities = list(LeadActivity.objects.filter(lead=lead).values_list("activity_type", flat=True)[:100])
    llm = LlmAnalyser()
    analysis, analyser = None, OfflineAnalyser.name
    if llm.is_configured():
        try:
            analysis, analyser = llm.analyse(lead, activities), llm.name
        except (ValueError, KeyError, TypeError) as exc:
            # The class only: a parse error's message can quote the answer, which drew on the form answers.
            logger.warning("LLM analysis unusable, using offline analyser", extra={"error": type(exc).__name__})
    if analysis is None:
        analysis = OfflineAnalyser().analyse(lead, activities)
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        changed = []
        for outcome in outcomes:
            changed += _fill_company_fields(lead, outcome.company_data)
        if changed:
            lead.save(update_fields=[*set(changed), "updated_at"])
        for outcome in outcomes:
            _store_enrichment(lead, outcome)
        link_company(lead)
        values = {
            "intent_level": analysis["intent_level"],
            "intent_score": analysis["qualification_score"],
            "keywords": analysis["buying_signals"],
            "source_id": analyser,
            "analysis": analysis,
        }
        current = LeadIntent.objects.filter(lead=lead, source_type="ai_analysis").order_by("-created_at").first()
        if current is None:
            LeadIntent.objects.create(lead=lead, source_type="ai_analysis", **values)
        else:
            LeadIntent.objects.filter(pk=current.pk).update(**values)
        if changed:
            lead = lead_rescore(lead=lead, reason="Anreicherung")
    return lead
