"""Normalize and verify an incoming lead payload (SPEC §4.2) without network calls.

Every channel hands ``lead_ingest`` a dict with the lead's field names. This module cleans it:
emails trimmed and lower-cased and checked with ``email-validator`` (syntax only), phones in E.164
with ``phonenumbers`` (default region DE), names split, test leads recognised. A value that fails a
check is never thrown away: it is kept under ``attributes["_invalid"]`` for a human to look at.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy
from email_validator import EmailNotValidError, validate_email

from compliance.blind_index import DEFAULT_PHONE_REGION, blind_index, blind_index_of_normalized, normalize_email
from core.pii import url_without_personal_query
from leads.models import Lead, LeadIdentity

DATA_DIR = Path(__file__).resolve().parent / "data"

#: Plain text fields copied from the payload (trimmed; too long → kept in attributes instead).
TEXT_FIELDS = (
    "first_name",
    "last_name",
    "company_name",
    "company_domain",
    "company_size_band",
    "industry",
    "revenue_band",
    "job_title",
    "postcode",
    "city",
    "region",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "source_campaign",
    "facebook_lead_id",
    "linkedin_response_id",
    "instagram_igsid",
)
URL_FIELDS = ("referrer", "landing_page", "company_linkedin_url")
#: External ids that are identities of their own (SPEC §3 identity kinds).
EXTERNAL_ID_KINDS = {
    "facebook_lead_id": LeadIdentity.Kind.FACEBOOK_LEAD_ID,
    "linkedin_response_id": LeadIdentity.Kind.LINKEDIN_RESPONSE_ID,
    "instagram_igsid": LeadIdentity.Kind.INSTAGRAM_IGSID,
    "import_key": LeadIdentity.Kind.IMPORT_KEY,
}
#: Which identity kind a channel's idempotency key is.
CHANNEL_KEY_KINDS = {
    Lead.Channel.FACEBOOK: LeadIdentity.Kind.FACEBOOK_LEAD_ID,
    Lead.Channel.LINKEDIN: LeadIdentity.Kind.LINKEDIN_RESPONSE_ID,
    Lead.Channel.INSTAGRAM: LeadIdentity.Kind.INSTAGRAM_IGSID,
    Lead.Channel.IMPORT: LeadIdentity.Kind.IMPORT_KEY,
}
KNOWN_KEYS = frozenset(
    {
        *TEXT_FIELDS,
        *URL_FIELDS,
        "email",
        "phone",
        "full_name",
        "country",
        "interest_type",
        "employees",
        "consent_marketing",
        "consent_at",
        "opted_out",
        "is_test",
        "attributes",
        "captured_at",
        "import_key",
    }
)
INTEREST_SYNONYMS = {
    "buy": Lead.InterestType.BUY,
    "kauf": Lead.InterestType.BUY,
    "kaufen": Lead.InterestType.BUY,
    "kapitalanlage": Lead.InterestType.BUY,
    "purchase": Lead.InterestType.BUY,
    "finance": Lead.InterestType.FINANCE,
    "financing": Lead.InterestType.FINANCE,
    "finanzierung": Lead.InterestType.FINANCE,
    "finanzieren": Lead.InterestType.FINANCE,
    "consult": Lead.InterestType.CONSULT,
    "consulting": Lead.InterestType.CONSULT,
    "beratung": Lead.InterestType.CONSULT,
    "advice": Lead.InterestType.CONSULT,
}
TEST_EMAILS = frozenset({"test@meta.com", "test@fb.com", "test@facebook.com"})
TEST_MARKER = re.compile(r"<\s*test lead\s*:", re.IGNORECASE)
TRUE_WORDS = frozenset({"1", "true", "yes", "ja", "on", "y", "x", "checked"})
SALUTATIONS = frozenset({"herr", "frau", "hr", "fr", "mr", "mrs", "ms", "miss", "divers"})
TITLES = frozenset({"dr", "prof", "dipl", "ing", "med", "dent", "rer", "nat", "phil", "jur", "mag", "dipl-ing", "mba"})
NAME_PARTICLES = frozenset({"von", "van", "de", "der", "den", "zu", "zum", "zur", "vom", "di", "da", "del", "la", "le"})


@cache
def _domain_list(name: str) -> frozenset[str]:
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip().lower() for x in lines if x.strip() and not x.startswith("#"))


def is_free_mail(domain: str) -> bool:
    return domain.lower() in _domain_list("free_mail_domains.txt")


@lru_cache(maxsize=8192)  # bulk imports ask for the same few thousand domains over and over
def is_disposable(domain: str) -> bool:
    domain = domain.lower()
    disposable = _domain_list("disposable_domains.txt")
    # Sub-domains of a throw-away provider are throw-away too (x.mailinator.com).
    return domain in disposable or any(domain.endswith("." + d) for d in disposable)


@dataclass
class Verification:
    """What the offline checks found; stored as a ``LeadVerification`` row."""

    email_valid: bool | None = None
    email_reason: str = ""
    email_domain: str = ""
    email_disposable: bool = False
    email_free: bool = False
    phone_valid: bool | None = None
    phone_type: str = ""
    phone_region: str = ""

    @property
    def checked(self) -> bool:
        return self.email_valid is not None or self.phone_valid is not None


@dataclass
class NormalizedLead:
    """A cleaned payload: lead field values, extra answers, identities and check results."""

    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    identities: list[tuple[str, str]] = field(default_factory=list)
    verification: Verification = field(default_factory=Verification)
    is_test: bool = False
    opted_out: bool = False
    captured_at: dt.datetime | None = None
    idempotency_identity: tuple[str, str] | None = None

    def invalid(self, name: str, value: Any, reason: str, code: str = "") -> None:
        """Keep a refused value; ``reason`` is the checker's own (English) detail, ``code`` a key of
        ``INVALID_REASONS`` for messages in the user's language (the import error report)."""
        entry = {"value": value, "reason": reason}
        if code:
            entry["code"] = code
        self.attributes.setdefault("_invalid", {})[name] = entry


def clean_text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value if v is not None)
    text = str(value)
    if not text.isascii():  # NFKC changes nothing in ASCII text
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return clean_text(value).lower() in TRUE_WORDS


def split_full_name(full_name: str) -> tuple[str, str, str]:
    """Split "Dr. Anna von der Heide" into ("Anna", "von der Heide", "Dr."); "Heide, Anna" works too."""
    name = clean_text(full_name)
    if not name:
        return "", "", ""
    if "," in name:
        last, _, rest = name.partition(",")
        first, more, title = split_full_name(rest)
        return clean_text(f"{first} {more}"), clean_text(last), title
    tokens = name.split(" ")
    titles: list[str] = []
    while tokens and (
        tokens[0].lower().rstrip(".") in SALUTATIONS or tokens[0].lower().rstrip(".").replace(".", "") in TITLES
    ):
        token = tokens.pop(0)
        if token.lower().rstrip(".") not in SALUTATIONS:
            titles.append(token)
    if not tokens:
        return "", "", " ".join(titles)
    if len(tokens) == 1:
        return tokens[0], "", " ".join(titles)
    # The last name starts at the first particle ("von der Heide") after the first given name,
    # otherwise it is the last token ("Müller-Lüdenscheidt" stays one token).
    start = len(tokens) - 1
    for i in range(1, len(tokens) - 1):
        if tokens[i].lower() in NAME_PARTICLES:
            start = i
            break
    return " ".join(tokens[:start]), " ".join(tokens[start:]), " ".join(titles)


def _contains_test_marker(value: Any) -> bool:
    """Any string anywhere in the payload with a test marker; a loop, not recursion (it runs per row)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "<" in item and TEST_MARKER.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


@cache
def _max_length(name: str) -> int | None:
    return Lead._meta.get_field(name).max_length


#: An unquoted ASCII local part (RFC 5322 dot-atom): email-validator accepts exactly these as they are.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_MAX_LOCAL_PART, _MAX_EMAIL = 64, 254


@lru_cache(maxsize=65536)
def _valid_domain(domain: str) -> str:
    """The normalized domain if email-validator accepts it, else "" (asked once per domain)."""
    try:
        return validate_email("x@" + domain, check_deliverability=False).domain
    except EmailNotValidError:
        return ""


def check_email(text: str) -> tuple[str, str]:
    """``(normalized address, normalized domain)``; raises ``EmailNotValidError`` like email-validator.

    The common case (a plain ASCII address) checks the local part with one regular expression and
    the domain through a cache: bulk imports repeat a few thousand domains a million times. Anything
    else (quoted or Unicode local parts, unknown domains, errors) goes through email-validator itself.
    """
    local, at, domain = text.rpartition("@")
    if at and len(local) <= _MAX_LOCAL_PART and len(text) <= _MAX_EMAIL and _DOT_ATOM.fullmatch(local):
        valid_domain = _valid_domain(domain) if domain.isascii() else ""
        if valid_domain:
            return f"{local}@{valid_domain}", valid_domain
    result = validate_email(text, check_deliverability=False)
    return result.normalized, result.domain


def _normalize_email(raw: Any, out: NormalizedLead) -> None:
    text = normalize_email(clean_text(raw))
    if not text:
        return
    if text in TEST_EMAILS:
        out.is_test = True
    try:
        normalized, domain = check_email(text)
    except EmailNotValidError as exc:
        out.verification.email_valid = False
        out.verification.email_reason = str(exc)[:255]
        out.invalid("email", raw, str(exc), code=_email_problem(str(exc)))
        return
    email, domain = normalized.lower(), domain.lower()
    v = out.verification
    v.email_valid, v.email_domain = True, domain
    v.email_disposable, v.email_free = is_disposable(domain), is_free_mail(domain)
    v.email_reason = "disposable domain" if v.email_disposable else "syntax ok"
    out.fields["email"] = email
    out.identities.append((LeadIdentity.Kind.EMAIL, blind_index_of_normalized("email", email)))


#: Translated messages for ``NormalizedLead.invalid`` codes (email-validator and phonenumbers speak English).
INVALID_REASONS = {
    "email_at_sign": gettext_lazy("it needs exactly one @"),
    "email_local": gettext_lazy("the part before the @ is missing or has characters an address cannot have"),
    "email_domain": gettext_lazy("the part after the @ is not a valid domain"),
    "email_too_long": gettext_lazy("the address is too long"),
    "email_invalid": gettext_lazy("not a valid email address"),
    "phone_not_a_number": gettext_lazy("not a phone number"),
    "phone_country_code": gettext_lazy("unknown country code"),
    "phone_too_short": gettext_lazy("too short for a phone number"),
    "phone_too_long": gettext_lazy("too long for a phone number"),
    "phone_invalid": gettext_lazy("not a valid phone number"),
}

_PHONE_PARSE_PROBLEMS = {
    phonenumbers.NumberParseException.NOT_A_NUMBER: "phone_not_a_number",
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "phone_country_code",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "phone_too_short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "phone_too_short",
    phonenumbers.NumberParseException.TOO_LONG: "phone_too_long",
}


def _email_problem(message: str) -> str:
    """A code for an email-validator message (it has no error codes of its own, only English text)."""
    text = message.lower()
    if "must have an @-sign" in text or ("@-sign" in text and "exactly one" in text):
        return "email_at_sign"
    if "too long" in text:
        return "email_too_long"
    if "after the @-sign" in text or "domain" in text:
        return "email_domain"
    if "before the @-sign" in text or "local part" in text:
        return "email_local"
    return "email_invalid"


PHONE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed_line",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    phonenumbers.PhoneNumberType.VOIP: "voip",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
}


def _normalize_phone(raw: Any, out: NormalizedLead) -> None:
    text = clean_text(raw)
    if not text:
        return
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, DEFAULT_PHONE_REGION)
        # is_valid_number() is number_type() != UNKNOWN (the same region lookup and pattern matching,
        # which is most of phonenumbers' time): match the patterns once for both answers.
        kind = phonenumbers.number_type(number)
        valid = kind != phonenumbers.PhoneNumberType.UNKNOWN
    except phonenumbers.NumberParseException as exc:
        number, kind, valid, reason = None, None, False, str(exc)
        code = _PHONE_PARSE_PROBLEMS.get(exc.error_type, "phone_invalid")
    else:
        reason, code = ("", "") if valid else ("not a valid number", "phone_invalid")
    v = out.verification
    v.phone_valid = valid
    if not valid or number is None:
        out.invalid("phone", raw, reason, code=code)
        return
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    v.phone_type = PHONE_TYPES.get(kind, "unknown")
    v.phone_region = phonenumbers.region_code_for_number(number) or ""
    out.fields["phone"] = e164
    out.identities.append((LeadIdentity.Kind.PHONE, blind_index_of_normalized("phone", e164)))


def _parse_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = clean_text(value)
    if not text:
        return None
    # Meta sends "2024-01-15T10:30:00+0000": add the colon ISO parsers expect.
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    parsed = parse_datetime(text)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_url_validator = URLValidator(schemes=["http", "https"])


def normalize_payload(payload: dict[str, Any], *, channel: str, idempotency_key: str = "") -> NormalizedLead:
    """Clean one payload; never raises for bad values (they are kept under ``attributes``)."""
    out = NormalizedLead()
    extra = payload.get("attributes") or {}
    if isinstance(extra, dict):
        out.attributes.update({clean_text(k): v for k, v in extra.items() if clean_text(k)})
    else:
        out.invalid("attributes", extra, "not an object")
    for key, value in payload.items():
        if key not in KNOWN_KEYS and value not in (None, ""):
            out.attributes[clean_text(key)] = value

    out.is_test = parse_bool(payload.get("is_test")) or _contains_test_marker(payload)
    _normalize_email(payload.get("email"), out)
    _normalize_phone(payload.get("phone"), out)

    for name in TEXT_FIELDS:
        value = clean_text(payload.get(name))
        if not value:
            continue
        if len(value) > (_max_length(name) or 10_000):
            out.invalid(name, value, "too long")
            continue
        out.fields[name] = value
    for name in URL_FIELDS:
        value = clean_text(payload.get(name))
        if not value:
            continue
        try:
            _url_validator(value)
        except ValidationError:
            out.invalid(name, value, "not a valid http(s) URL")
            continue
        if len(value) > (_max_length(name) or 10_000):
            out.invalid(name, value, "too long")
            continue
        # A mailing's link may carry "?email=…": attribution keeps the page and its utm_*, not that.
        out.fields[name] = url_without_personal_query(value) if name != "company_linkedin_url" else value

    if payload.get("full_name") and not (out.fields.get("first_name") or out.fields.get("last_name")):
        first, last, title = split_full_name(payload["full_name"])
        if first:
            out.fields["first_name"] = first[:500]
        if last:
            out.fields["last_name"] = last[:500]
        if title:
            out.attributes.setdefault("title", title)
    if "email" in out.fields and "company_domain" not in out.fields:
        domain = out.verification.email_domain
        if domain and not out.verification.email_free and not out.verification.email_disposable:
            out.fields["company_domain"] = domain

    country = clean_text(payload.get("country")).upper()
    if country:
        if re.fullmatch(r"[A-Z]{2}", country):
            out.fields["country"] = country
        else:
            out.invalid("country", payload.get("country"), "not an ISO 3166-1 alpha-2 code")
    interest = clean_text(payload.get("interest_type")).lower()
    if interest:
        if interest in INTEREST_SYNONYMS:
            out.fields["interest_type"] = INTEREST_SYNONYMS[interest]
        else:
            out.attributes.setdefault("interest", payload.get("interest_type"))
    employees = payload.get("employees")
    if employees not in (None, ""):
        try:
            out.fields["employees"] = max(0, int(str(employees).replace(".", "").replace(",", "").strip()))
        except ValueError:
            out.invalid("employees", employees, "not a whole number")

    if "consent_marketing" in payload:
        out.fields["consent_marketing"] = parse_bool(payload["consent_marketing"])
        if out.fields["consent_marketing"]:
            out.fields["consent_at"] = _parse_datetime(payload.get("consent_at")) or _parse_datetime(
                payload.get("captured_at")
            )
    out.opted_out = parse_bool(payload.get("opted_out"))
    if payload.get("captured_at") not in (None, ""):
        out.captured_at = _parse_datetime(payload["captured_at"])
        if out.captured_at is None:
            out.invalid("captured_at", payload["captured_at"], "not a date/time")

    for name, kind in EXTERNAL_ID_KINDS.items():
        value = clean_text(payload.get(name))
        if value:
            out.identities.append((kind, blind_index(kind, value)))
            if name == "import_key":
                out.attributes.setdefault("import_key", value)
    key = clean_text(idempotency_key)
    if key:
        kind = CHANNEL_KEY_KINDS.get(channel, LeadIdentity.Kind.EXTERNAL_KEY)
        value = key if kind != LeadIdentity.Kind.EXTERNAL_KEY else f"{channel}:{key}"
        identity = (kind, blind_index(kind, value))
        out.idempotency_identity = identity
        out.identities.append(identity)
        field_name = {v: k for k, v in EXTERNAL_ID_KINDS.items()}.get(kind)
        if field_name and field_name in TEXT_FIELDS and field_name not in out.fields:
            out.fields[field_name] = key[: _max_length(field_name) or 255]
    # One row per identity, in a fixed order so concurrent claims lock in the same order (no deadlock).
    out.identities = sorted(set(out.identities))
    if out.is_test:
        out.fields["is_test"] = True
    return out
