"""Translate a LinkedIn lead form response into ``lead_ingest``'s payload keys.

Answers reference questions only by ``questionId``; the form definition says what each question
is. A ``predefinedField`` (filled from the member's profile: name, email, title, company, size,
country …) maps to a lead field; a custom question is kept in ``attributes`` under its question
text, multiple-choice option indexes become the option texts. Hidden fields, consent responses
and the response's metadata are kept too. Per response, ``attributes["_linkedin:<id>"]`` records
which attribute keys it contributed, so a ``DELETED`` notification can remove exactly those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from integrations.linkedin.client import form_ref_of, owner_urn_of
from webhooks.mapping import COUNTRY_NAMES, field_key

#: ``predefinedField`` → payload key; earlier entries win (EMAIL before WORK_EMAIL).
PREDEFINED_TARGETS: tuple[tuple[str, str], ...] = (
    ("FIRST_NAME", "first_name"),
    ("LAST_NAME", "last_name"),
    ("EMAIL", "email"),
    ("WORK_EMAIL", "email"),
    ("PHONE_NUMBER", "phone"),
    ("MOBILE_PHONE_NUMBER", "phone"),
    ("WORK_PHONE_NUMBER", "phone"),
    ("JOB_TITLE", "job_title"),
    ("COMPANY_NAME", "company_name"),
    ("COMPANY_SIZE", "company_size_band"),
    ("INDUSTRY", "industry"),
    ("CITY", "city"),
    ("STATE", "region"),
    ("ZIP_CODE", "postcode"),
    ("POSTAL_CODE", "postcode"),
    ("COUNTRY", "country"),
)
UTM_FIELDS = frozenset({"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"})
MAX_KEY = 200
META_PREFIX = "_linkedin:"


@dataclass(frozen=True)
class Question:
    question_id: str
    label: str
    predefined: str
    options: dict[int, str] = field(default_factory=dict)
    option_list: tuple[str, ...] = ()

    def option_texts(self, indexes: list[Any]) -> list[str]:
        """Option texts for the answer's indexes (by option id, else by position; unknown ones kept as numbers)."""
        texts = []
        for index in indexes:
            if isinstance(index, int) and index in self.options:
                texts.append(self.options[index])
            elif isinstance(index, int) and 0 <= index < len(self.option_list):
                texts.append(self.option_list[index])
            else:
                texts.append(str(index))
        return texts


@dataclass(frozen=True)
class Consent:
    consent_id: str
    accepted: bool
    text: str
    required: bool


@dataclass
class MappedResponse:
    payload: dict[str, Any]
    consents: list[Consent]
    form_id: str
    form_version: str


def meta_key(response_id: str) -> str:
    return f"{META_PREFIX}{response_id}"


def _locale(form: dict[str, Any]) -> str:
    locale = form.get("creationLocale") or {}
    if isinstance(locale, dict) and locale.get("language"):
        return f"{locale['language']}_{locale.get('country') or ''}".rstrip("_")
    return ""


def localized(value: Any, locale: str = "") -> str:
    """Text of a ``{"localized": {"de_DE": …}}`` value, in the form's locale when present."""
    if isinstance(value, str):
        return value.strip()
    texts = (value or {}).get("localized") if isinstance(value, dict) else None
    if not isinstance(texts, dict) or not texts:
        return ""
    text = texts.get(locale) or next(iter(texts.values()))
    return str(text or "").strip()


def form_questions(form: dict[str, Any] | None) -> dict[str, Question]:
    """The form's questions by id (as a string: ids exceed 2^31 and arrive as numbers)."""
    if not isinstance(form, dict):
        return {}
    locale = _locale(form)
    questions = {}
    for raw in (form.get("content") or {}).get("questions") or []:
        if not isinstance(raw, dict) or raw.get("questionId") is None:
            continue
        details = (raw.get("questionDetails") or {}).get("multipleChoiceQuestionDetails") or {}
        option_list = [o for o in details.get("options") or [] if isinstance(o, dict)]
        options = {o["id"]: localized(o.get("text"), locale) for o in option_list if isinstance(o.get("id"), int)}
        label = localized(raw.get("question"), locale) or str(raw.get("name") or "")
        question_id = str(raw["questionId"])
        questions[question_id] = Question(
            question_id=question_id,
            label=label[:MAX_KEY] or f"question_{question_id}",
            predefined=str(raw.get("predefinedField") or "").upper(),
            options=options,
            option_list=tuple(localized(o.get("text"), locale) for o in option_list),
        )
    return questions


def _answer_value(answer: dict[str, Any], question: Question | None) -> str | list[str]:
    details = answer.get("answerDetails") or {}
    if "textQuestionAnswer" in details:
        return str((details.get("textQuestionAnswer") or {}).get("answer") or "").strip()
    if "multipleChoiceAnswer" in details:
        indexes = (details.get("multipleChoiceAnswer") or {}).get("options") or []
        texts = question.option_texts(list(indexes)) if question else [str(i) for i in indexes]
        return texts[0] if len(texts) == 1 else texts
    return ""


def company_size_band(value: str) -> str:
    """ "201-500 employees", "SIZE_201_TO_500", "10,001+" → "201-500", "201-500", "10001+" (what scoring parses)."""
    text = re.sub(r"(?<=\d)[.,](?=\d{3})", "", value)
    numbers = re.findall(r"\d+", text)
    if not numbers:
        return value[:20]
    if len(numbers) == 1:
        return f"{numbers[0]}+" if "+" in text or "plus" in text.lower() else numbers[0]
    return f"{numbers[0]}-{numbers[1]}"[:20]


def _country(value: str) -> str | None:
    if len(value) == 2 and value.isalpha():
        return value.upper()
    return COUNTRY_NAMES.get(field_key(value))


def _unique_key(name: str, taken: dict[str, Any], question_id: str) -> str:
    name = name[:MAX_KEY]
    return name if name not in taken else f"{name} ({question_id})"[: MAX_KEY + 24]


def _ms_to_datetime(value: Any) -> datetime | None:
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None


def map_lead_form_response(
    response: dict[str, Any], form: dict[str, Any] | None, *, response_id: str, owner_urn: str = ""
) -> MappedResponse:
    """Build the ``lead_ingest`` payload and the consents of one lead form response."""
    questions = form_questions(form)
    form_response = response.get("formResponse") or {}
    by_predefined: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    for answer in form_response.get("answers") or []:
        if not isinstance(answer, dict):
            continue
        question_id = str(answer.get("questionId") or "")
        question = questions.get(question_id)
        value = _answer_value(answer, question)
        if value in ("", []):
            continue
        if question is not None and question.predefined:
            text = ", ".join(value) if isinstance(value, list) else value
            by_predefined.setdefault(question.predefined, text)
            continue
        label = question.label if question else f"question_{question_id}"
        attributes[_unique_key(label, attributes, question_id)] = value

    payload: dict[str, Any] = {}
    used: set[str] = set()
    for predefined, target in PREDEFINED_TARGETS:
        value = by_predefined.get(predefined)
        if not value or target in payload:
            continue
        if target == "country":
            code = _country(value)
            if code is None:
                continue  # kept in attributes below: ingest only takes ISO codes
            value = code
        elif target == "company_size_band":
            attributes.setdefault("company_size", value)
            value = company_size_band(value)
        payload[target] = value
        used.add(predefined)
    for predefined, value in by_predefined.items():
        if predefined not in used:
            attributes.setdefault(predefined.lower(), value)

    hidden = _hidden_fields(response, form)
    for name, value in hidden.items():
        if name.lower() in UTM_FIELDS and value:
            payload[name.lower()] = value
    if hidden:
        attributes["hidden_fields"] = hidden

    form_ref = form_ref_of(response.get("versionedLeadGenFormUrn")) or ("", "")
    consents = _consents(form_response, form)
    metadata = (response.get("leadMetadata") or {}).get("sponsoredLeadMetadata") or {}
    associated = response.get("associatedEntity") or {}
    meta = {
        "form_id": form_ref[0],
        "form_version": form_ref[1],
        "form_name": str((form or {}).get("name") or "")[:200],
        "owner": owner_urn_of(response.get("owner")) or owner_urn,
        "lead_type": str(response.get("leadType") or ""),
        "campaign": str(metadata.get("campaign") or ""),
        "associated_entity": next((str(v) for v in associated.values()), "") if isinstance(associated, dict) else "",
        "consents": [{"id": c.consent_id, "accepted": c.accepted} for c in consents],
        "keys": sorted(attributes),
    }
    attributes[meta_key(response_id)] = {k: v for k, v in meta.items() if v not in ("", [])}

    payload["attributes"] = attributes
    payload["linkedin_response_id"] = response_id
    payload.setdefault("utm_source", "linkedin")
    payload["is_test"] = bool(response.get("testLead"))
    if meta["campaign"]:
        payload["source_campaign"] = meta["campaign"]
    submitted = _ms_to_datetime(response.get("submittedAt"))
    if submitted:
        payload["captured_at"] = submitted
    return MappedResponse(payload=payload, consents=consents, form_id=form_ref[0], form_version=form_ref[1])


def _hidden_fields(response: dict[str, Any], form: dict[str, Any] | None) -> dict[str, str]:
    """Owner-set tracking values: on the form definition, or on the response's ``form`` projection."""
    hidden: dict[str, str] = {}
    for source in ((response.get("form") or {}).get("hiddenFields"), (form or {}).get("hiddenFields")):
        for entry in source or []:
            if isinstance(entry, dict) and entry.get("name"):
                hidden.setdefault(str(entry["name"])[:MAX_KEY], str(entry.get("value") or ""))
    return hidden


def _consents(form_response: dict[str, Any], form: dict[str, Any] | None) -> list[Consent]:
    locale = _locale(form or {})
    legal = ((form or {}).get("content") or {}).get("legalInfo") or {}
    texts = {
        str(c.get("id", c.get("consentId"))): (localized(c.get("consent"), locale), bool(c.get("checkRequired")))
        for c in legal.get("consents") or []
        if isinstance(c, dict)
    }
    consents = []
    for response in form_response.get("consentResponses") or []:
        if not isinstance(response, dict):
            continue
        consent_id = str(response.get("consentId", ""))
        text, required = texts.get(consent_id, ("", False))
        consents.append(
            Consent(consent_id=consent_id, accepted=response.get("accepted") is True, text=text, required=required)
        )
    return consents
