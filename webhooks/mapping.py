"""Translate a Graph lead (``field_data``) into ``lead_ingest``'s payload keys.

Order: the page's per-form overrides, then the standard names of SPEC §5 and their German/English
synonyms; every other answer is kept in ``attributes`` under its original name. Values are not
normalized here: ``lead_ingest`` trims, validates (a value that does not fit is kept, not fatal),
normalizes emails and phones and recognises test leads.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

#: Payload keys a form field may map to (besides ``attributes`` and ``ignore``).
TARGETS = frozenset(
    {
        "email",
        "phone",
        "full_name",
        "first_name",
        "last_name",
        "company_name",
        "job_title",
        "postcode",
        "city",
        "region",
        "country",
        "interest_type",
        "consent_marketing",
    }
)
KEEP_AS_ATTRIBUTE = "attributes"
IGNORE = "ignore"

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e_mail", "email_address", "e_mail_adresse", "emailadresse", "mail", "e_mail_address"),
    "phone": (
        "phone_number",
        "phone",
        "telephone",
        "mobile",
        "mobile_number",
        "cell_phone",
        "telefon",
        "telefonnummer",
        "tel",
        "handy",
        "handynummer",
        "mobilnummer",
        "rufnummer",
    ),
    "full_name": ("full_name", "name", "vollstaendiger_name", "vollständiger_name", "ganzer_name", "vor_und_nachname"),
    "first_name": ("first_name", "firstname", "given_name", "vorname"),
    "last_name": ("last_name", "lastname", "surname", "family_name", "nachname", "familienname"),
    "company_name": ("company_name", "company", "firma", "firmenname", "unternehmen", "unternehmensname"),
    "job_title": ("job_title", "title", "position", "jobtitel", "berufsbezeichnung", "beruf", "funktion"),
    "postcode": ("zip_code", "post_code", "postal_code", "zip", "zipcode", "postcode", "postleitzahl", "plz"),
    "city": ("city", "town", "stadt", "ort", "wohnort"),
    "region": ("state", "province", "region", "bundesland", "kanton"),
    "country": ("country", "land"),
}
STANDARD_NAMES: dict[str, str] = {name: target for target, names in _SYNONYMS.items() for name in names}

COUNTRY_NAMES = {
    "deutschland": "DE",
    "germany": "DE",
    "oesterreich": "AT",
    "osterreich": "AT",
    "austria": "AT",
    "schweiz": "CH",
    "switzerland": "CH",
    "suisse": "CH",
    "liechtenstein": "LI",
    "luxemburg": "LU",
    "luxembourg": "LU",
}
CHECKED_VALUES = frozenset({"1", "true", "yes", "on"})


def field_key(name: str) -> str:
    """Normalize a field name so synonyms match: "E-Mail-Adresse" → "e_mail_adresse", "Größe" → "groesse"."""
    name = name.strip().lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        name = name.replace(umlaut, plain)
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_")


def _overrides_for(overrides: dict[str, Any] | None, form_id: str) -> dict[str, str]:
    if not isinstance(overrides, dict):
        return {}
    merged: dict[str, str] = {}
    for scope in ("*", form_id):
        for name, target in (overrides.get(scope) or {}).items():
            merged[field_key(name)] = target
    return merged


def _value(values: Any) -> str | list[str]:
    if not isinstance(values, list):
        return "" if values is None else str(values)
    cleaned = [str(v) for v in values if v not in (None, "")]
    return cleaned[0] if len(cleaned) == 1 else cleaned


def _coerce(target: str, value: str) -> str | None:
    """Translate country names to ISO codes; ``lead_ingest`` validates and normalizes everything else."""
    value = value.strip()
    if target == "country" and not (len(value) == 2 and value.isalpha()):
        return COUNTRY_NAMES.get(field_key(value))
    return value


def parse_graph_time(value: Any) -> datetime | None:
    """Parse Graph's ``2015-02-28T08:49:14+0000`` (or a Unix time in seconds, as in the webhook)."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return None


def map_field_data(field_data: list[dict[str, Any]], *, overrides: dict[str, Any] | None, form_id: str) -> dict:
    """Map ``field_data`` to payload keys; unmapped (or unfitting) answers go to ``attributes``."""
    form_overrides = _overrides_for(overrides, form_id)
    payload: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for entry in field_data or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        name = str(entry["name"])
        value = _value(entry.get("values"))
        key = field_key(name)
        target = form_overrides.get(key) or STANDARD_NAMES.get(key) or KEEP_AS_ATTRIBUTE
        if target == IGNORE:
            continue
        if target in TARGETS and isinstance(value, str) and value.strip() and target not in payload:
            coerced = _coerce(target, value)
            if coerced:
                payload[target] = coerced
                continue
        if value not in ("", []):
            attributes[name] = value
    if attributes:
        payload["attributes"] = attributes
    return payload


def map_graph_lead(lead: dict[str, Any], *, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the whole ``lead_ingest`` payload for one Graph lead object."""
    form_id = str(lead.get("form_id") or "")
    payload = map_field_data(lead.get("field_data") or [], overrides=overrides, form_id=form_id)
    payload["facebook_lead_id"] = str(lead.get("id") or "")
    captured_at = parse_graph_time(lead.get("created_time"))
    if captured_at:
        payload["captured_at"] = captured_at
    platform = str(lead.get("platform") or "").lower()
    payload["utm_source"] = "instagram" if platform == "ig" else "facebook"
    if lead.get("campaign_id"):
        payload["source_campaign"] = str(lead["campaign_id"])
    meta = {
        key: str(lead[key])
        for key in ("form_id", "ad_id", "adset_id", "campaign_id", "platform")
        if lead.get(key) not in (None, "")
    }
    if "is_organic" in lead:
        meta["is_organic"] = bool(lead["is_organic"])
    payload.setdefault("attributes", {})["_meta"] = meta
    # A custom disclaimer checkbox the page maps to ``consent_marketing`` (``{"*": {"newsletter":
    # "consent_marketing"}}``) is the person's marketing consent: ``lead_ingest`` records it in the ledger.
    form_overrides = _overrides_for(overrides, form_id)
    if any(
        form_overrides.get(field_key(box["checkbox_key"])) == "consent_marketing" for box in checked_disclaimers(lead)
    ):
        payload["consent_marketing"] = True
    return payload


def checked_disclaimers(lead: dict[str, Any]) -> list[dict[str, str]]:
    """Return the custom disclaimer checkboxes the person ticked (``is_checked`` is "1" or "")."""
    checked = []
    for response in lead.get("custom_disclaimer_responses") or []:
        if not isinstance(response, dict):
            continue
        if str(response.get("is_checked", "")).strip().lower() in CHECKED_VALUES:
            checked.append({"checkbox_key": str(response.get("checkbox_key") or "")[:200]})
    return checked
