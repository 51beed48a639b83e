"""Header → field mapping: known English/German headers → lead fields, the rest → ``attributes``.

``ColumnMap`` turns a reader's row into a ``lead_ingest`` payload, parsing what spreadsheets do to
values on the way (German dates, phone numbers stored as numbers, website URLs for domains);
``load_mapping`` reads a ``--mapping`` file that overrides the automatic mapping.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone
from django.utils.translation import gettext as _

from leads.imports.readers import ROW_ERROR, ROW_TEXT, ImportFileError, clean_header
from leads.services.merge import SURVIVOR_FIELDS

IGNORE = "ignore"
ATTRIBUTES = "attributes"
#: Payload keys of ``normalize_payload`` a column may fill: the survivorship fields and the inputs
#: that only take part in normalization.
FIELD_TARGETS = frozenset(SURVIVOR_FIELDS) | {
    "full_name",
    "consent_marketing",
    "consent_at",
    "opted_out",
    "is_test",
    "captured_at",
    "import_key",
}
IDENTITY_TARGETS = frozenset(
    {"email", "phone", "import_key", "facebook_lead_id", "linkedin_response_id", "instagram_igsid"}
)
DATE_TARGETS = frozenset({"captured_at", "consent_at"})

_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emails", "mail", "emailadresse", "emailaddress", "mailadresse", "emailadr", "kontaktemail"),
    "phone": (
        "phone",
        "phonenumber",
        "telephone",
        "telefon",
        "telefonnummer",
        "tel",
        "telnr",
        "rufnummer",
        "festnetz",
        "mobile",
        "mobilephone",
        "mobil",
        "mobilnummer",
        "mobiltelefon",
        "mobilfunk",
        "mobilfunknummer",
        "handy",
        "handynummer",
        "cell",
        "cellphone",
    ),
    "first_name": ("firstname", "first", "givenname", "forename", "vorname"),
    "last_name": ("lastname", "last", "surname", "familyname", "nachname", "familienname", "zuname"),
    "full_name": (
        "fullname",
        "name",
        "vollername",
        "vollstaendigername",
        "contactname",
        "contact",
        "kontakt",
        "kontaktperson",
        "ansprechpartner",
    ),
    "company_name": (
        "company",
        "companyname",
        "organisation",
        "organization",
        "organisationname",
        "organizationname",
        "employer",
        "firma",
        "firmenname",
        "unternehmen",
        "unternehmensname",
        "arbeitgeber",
    ),
    "company_domain": ("domain", "companydomain", "website", "webseite", "homepage", "internetseite", "firmendomain"),
    "company_size_band": (
        "companysize",
        "companysizeband",
        "size",
        "sizeband",
        "firmengroesse",
        "unternehmensgroesse",
        "groesse",
    ),
    "employees": (
        "employees",
        "numberofemployees",
        "headcount",
        "mitarbeiter",
        "mitarbeiterzahl",
        "anzahlmitarbeiter",
        "beschaeftigte",
    ),
    "revenue_band": ("revenue", "revenueband", "annualrevenue", "umsatz", "jahresumsatz"),
    "industry": ("industry", "sector", "branche", "sektor"),
    "job_title": (
        "jobtitle",
        "title",
        "job",
        "position",
        "jobposition",
        "role",
        "rolle",
        "funktion",
        "jobtitel",
        "beruf",
        "berufsbezeichnung",
    ),
    "interest_type": ("interest", "interesttype", "interesse", "interessenart", "anliegen"),
    "postcode": ("postcode", "postalcode", "zip", "zipcode", "plz", "postleitzahl"),
    "city": ("city", "town", "ort", "stadt", "wohnort"),
    "region": ("region", "state", "province", "bundesland", "kanton"),
    "country": ("country", "countrycode", "land", "laendercode"),
    "consent_marketing": (
        "consent",
        "consentmarketing",
        "marketingconsent",
        "optin",
        "newsletter",
        "newsletteroptin",
        "einwilligung",
        "marketingeinwilligung",
        "werbeeinwilligung",
        "dsgvoeinwilligung",
    ),
    "consent_at": ("consentat", "consentdate", "optindate", "einwilligungsdatum", "einwilligungam", "optindatum"),
    "opted_out": ("optedout", "optedoutat", "optout", "unsubscribed", "abgemeldet", "abmeldung", "widerspruch"),
    "is_test": ("istest", "test", "testlead"),
    "captured_at": (
        "date",
        "capturedat",
        "submittedat",
        "leaddate",
        "timestamp",
        "datum",
        "erfasstam",
        "erfasst",
        "anfragedatum",
        "eingangsdatum",
        "zeitstempel",
    ),
    "import_key": ("importkey", "externalid", "externeid"),
    "utm_source": ("utmsource",),
    "utm_medium": ("utmmedium",),
    "utm_campaign": ("utmcampaign",),
    "utm_term": ("utmterm",),
    "utm_content": ("utmcontent",),
    "referrer": ("referrer", "referer"),
    "landing_page": ("landingpage", "landingpageurl", "pageurl", "zielseite"),
    "source_campaign": ("campaign", "campaignname", "sourcecampaign", "kampagne", "kampagnenname"),
    "facebook_lead_id": ("facebookleadid", "fbleadid", "leadgenid"),
    "linkedin_response_id": ("linkedinresponseid",),
    "company_linkedin_url": ("companylinkedinurl", "linkedinunternehmen"),
    ATTRIBUTES: ("attributes", "attribute"),
    # Columns of our own exports that the platform computes itself: ignored on re-import.
    IGNORE: (
        "publicid",
        "oeffentlicheid",
        "channel",
        "kanal",
        "source",
        "quelle",
        "status",
        "stage",
        "stufe",
        "score",
        "p",
        "i",
        "e",
        "pscore",
        "iscore",
        "escore",
        "assignedpartner",
        "zugewiesenerpartner",
        "lastactivity",
        "lastactivityat",
        "letzteaktivitaet",
        "updatedat",
        "aktualisiertam",
        # Our exports' creation time: the lead's, not the person's enquiry (that is "Anfragedatum").
        "createdat",
        "created",
        "erstelltam",
        "erstellt",
    ),
}
HEADER_ALIASES: dict[str, str] = {alias: target for target, aliases in _ALIASES.items() for alias in aliases}
COUNTRY_NAMES = {
    "deutschland": "DE",
    "germany": "DE",
    "oesterreich": "AT",
    "austria": "AT",
    "schweiz": "CH",
    "switzerland": "CH",
    "liechtenstein": "LI",
    "luxemburg": "LU",
    "luxembourg": "LU",
    "niederlande": "NL",
    "netherlands": "NL",
    "belgien": "BE",
    "belgium": "BE",
    "frankreich": "FR",
    "france": "FR",
    "italien": "IT",
    "italy": "IT",
    "spanien": "ES",
    "spain": "ES",
    "polen": "PL",
    "poland": "PL",
    "daenemark": "DK",
    "denmark": "DK",
}
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_GERMAN_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})(?:[ ,T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
)


def header_key(header: Any) -> str:
    """Normalize a header for matching: "E-Mail-Adresse" → "emailadresse", "Straße" → "strasse"."""
    text = unicodedata.normalize("NFKC", str(header or "")).strip().lower().translate(_UMLAUTS)
    return re.sub(r"[^0-9a-z]+", "", text)


# --- values -----------------------------------------------------------------------------------


def cell_text(value: Any) -> Any:
    """A cell as text (spreadsheet numbers without ".0"); bools and JSON structures stay as they are."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | dict | list):
        return value
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def parse_date(value: Any) -> dt.datetime | None:
    """Parse ISO and German dates ("15.01.2024 10:30"); naive values are local time (Europe/Berlin)."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)  # noqa: DTZ001 - made aware below
    else:
        text = str(value).strip()
        if not text:
            return None
        parsed = None
        german = _GERMAN_DATE.match(text)
        if german:
            day, month, year, hour, minute, second = german.groups()
            year_number = int(year) + (2000 if len(year) == 2 else 0)
            try:
                parsed = dt.datetime(  # noqa: DTZ001 - made aware below
                    year_number, int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
                )
            except ValueError:
                return None
        else:
            with contextlib.suppress(ValueError):
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed is None:
            for fmt in _DATE_FORMATS:
                try:
                    parsed = dt.datetime.strptime(text, fmt)  # noqa: DTZ007 - made aware below
                    break
                except ValueError:
                    continue
        if parsed is None:
            return None
    if parsed.tzinfo is None:
        # Django's cached zone (reset when the setting changes): reading settings per cell showed in profiles.
        parsed = parsed.replace(tzinfo=timezone.get_default_timezone())
    return parsed


def _domain(value: str) -> str:
    text = value.strip().lower()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    text = text.split("/", 1)[0]
    return text.removeprefix("www.")


def _numeric_phone(value: float) -> str:
    """A phone number Excel stored as a number: it ate the "+" of 4915… or the leading 0 of 151…."""
    digits = str(int(value))
    if digits.startswith(("49", "43", "41")) and len(digits) >= 11:
        return "+" + digits
    return "0" + digits


def _country(value: str) -> str:
    return COUNTRY_NAMES.get(header_key(value), value)


# --- mapping ----------------------------------------------------------------------------------


def load_mapping(path: str | Path) -> dict[str, str]:
    """Read a ``--mapping`` file (YAML or JSON): ``{"Header in file": "field" | "attributes.key" | "ignore"}``.

    The columns may also sit under a top-level ``columns:`` key. A null target means "ignore".
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        message = _("Cannot read the mapping file %(path)s: %(error)s") % {"path": path, "error": exc}
        raise ImportFileError(message) from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # ValueError, yaml.YAMLError
        raise ImportFileError(_("The mapping file is not valid YAML/JSON: %(error)s") % {"error": exc}) from exc
    if isinstance(data, dict) and isinstance(data.get("columns"), dict):
        data = data["columns"]
    if not isinstance(data, dict) or not data:
        raise ImportFileError(_("The mapping file must map column headers to fields."))
    mapping: dict[str, str] = {}
    for header, target in data.items():
        target = IGNORE if target in (None, "", "-") else str(target).strip()
        if not (
            target in FIELD_TARGETS
            or target in (IGNORE, ATTRIBUTES)
            or (target.startswith("attributes.") and len(target) > 11)
        ):
            raise ImportFileError(
                _("Mapping for column %(header)r: unknown field %(target)r. Use one of: %(fields)s, attributes.<name>.")
                % {"header": header, "target": target, "fields": ", ".join(sorted(FIELD_TARGETS | {IGNORE}))}
            )
        mapping[str(header)] = target
    return mapping


@dataclass
class ColumnMap:
    """Header → target: a lead field, ``attributes.<key>``, the JSON ``attributes`` column, or ``ignore``."""

    overrides: dict[str, str] = field(default_factory=dict)
    #: Decided for the file's header row (CSV/XLSX): a "Name" next to "Vorname" is the last name.
    fixed: dict[str, str] = field(default_factory=dict)
    #: The header row, for rows that come as lists of values (CSV/XLSX).
    headers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_key = {header_key(h): t for h, t in self.overrides.items()}
        self._cache: dict[str, str] = {}

    @classmethod
    def for_headers(cls, headers: list[str], overrides: dict[str, str] | None = None) -> ColumnMap:
        colmap = cls(overrides=dict(overrides or {}), headers=list(headers))
        targets = {h: colmap.target(h) for h in headers}
        chosen = set(targets.values())
        if "first_name" in chosen and "last_name" not in chosen:
            for header, target in targets.items():
                if target == "full_name" and header_key(header) == "name" and not colmap._overridden(header):
                    targets[header] = "last_name"
        colmap.fixed = targets
        colmap._cache.update(targets)
        return colmap

    def __getstate__(self) -> dict[str, Any]:
        return {"overrides": self.overrides, "fixed": self.fixed, "headers": self.headers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.overrides, self.fixed, self.headers = state["overrides"], state["fixed"], state["headers"]
        self.__post_init__()
        self._cache.update(self.fixed)

    def _overridden(self, header: str) -> bool:
        return header in self.overrides or header_key(header) in self._by_key

    def target(self, header: str) -> str:
        cached = self._cache.get(header)
        if cached is not None:
            return cached
        if header in self.overrides:
            target = self.overrides[header]
        elif header_key(header) in self._by_key:
            target = self._by_key[header_key(header)]
        else:
            target = HEADER_ALIASES.get(header_key(header)) or f"attributes.{clean_header(header)}"
            if target == "attributes." or header_key(header) == "":
                target = IGNORE if not clean_header(header) else target
        self._cache[header] = target
        return target

    def describe(self, headers: list[str]) -> dict[str, list[str]]:
        """Group the headers by what happens to them, for the command's opening line."""
        fields, attributes, ignored = [], [], []
        for header in headers:
            target = self.target(header)
            if target == IGNORE:
                ignored.append(header)
            elif target.startswith("attributes.") or target == ATTRIBUTES:
                attributes.append(header)
            else:
                fields.append(f"{header} → {target}")
        return {"fields": fields, "attributes": attributes, "ignored": ignored}

    def has_identity(self, headers: list[str]) -> bool:
        return any(self.target(h) in IDENTITY_TARGETS for h in headers)

    def as_dict(self, row: list[Any] | dict[str, Any]) -> dict[str, Any]:
        """A row as {header: value} (values beyond the header row under "")."""
        if isinstance(row, dict):
            if ROW_ERROR in row:
                return {ROW_TEXT: row.get(ROW_TEXT, "")}
            return row
        values = dict(zip(self.headers, row, strict=False))
        if len(row) > len(self.headers):
            values[""] = list(row[len(self.headers) :])
        return values

    def payload(self, row: list[Any] | dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Turn one row into a ``lead_ingest`` payload; returns it and (column, reason) problems."""
        payload: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        if isinstance(row, dict):
            if ROW_ERROR in row:
                return {}, [("", row[ROW_ERROR])]
            items: Any = row.items()
        else:
            items = zip(self.headers, row, strict=False)
            if len(row) > len(self.headers) and any(cell_text(v) not in ("", None) for v in row[len(self.headers) :]):
                problems.append(("", _("more values than columns (check the delimiter and quoting)")))
        for header, raw in items:
            if not header:
                continue
            target = self.target(header)
            if target == IGNORE:
                continue
            if target in DATE_TARGETS and isinstance(raw, dt.datetime | dt.date):
                value: Any = raw
            elif target == "phone" and isinstance(raw, int | float) and not isinstance(raw, bool):
                value = _numeric_phone(raw)
            elif target.startswith("attributes.") and isinstance(raw, int | float | bool):
                value = raw  # JSON and spreadsheet numbers stay numbers in the answers
            else:
                value = cell_text(raw)
            if value == "" or value is None:
                continue
            if target.startswith("attributes."):
                attributes[target[11:]] = value
                continue
            if target == ATTRIBUTES:
                extra = value
                if isinstance(value, str):
                    try:
                        extra = json.loads(value)
                    except ValueError:
                        extra = None
                if isinstance(extra, dict):
                    attributes.update(extra)
                else:
                    attributes[clean_header(header)] = value
                continue
            if target in payload:  # a second column for the same field ("Telefon" and "Mobil")
                attributes[clean_header(header)] = value
                continue
            if target in DATE_TARGETS:
                parsed = parse_date(value)
                if parsed is None:
                    problems.append((header, _("not a date: %(value)s") % {"value": str(value)[:60]}))
                    continue
                value = parsed  # normalize_payload takes the aware datetime as it is (no second parse)
            elif target == "opted_out" and not isinstance(value, bool):
                value = True if parse_date(value) is not None else value
            elif target == "company_domain" and isinstance(value, str):
                value = _domain(value)
            elif target == "country" and isinstance(value, str):
                value = _country(value)
            elif isinstance(value, dict | list) and target not in ("consent_marketing", "is_test"):
                attributes[clean_header(header)] = value
                continue
            payload[target] = value
        if attributes:
            payload["attributes"] = attributes
        return payload, problems
