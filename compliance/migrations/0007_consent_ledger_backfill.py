"""Fill the consent ledger from the lead fields it replaces, and seed the platform's wordings.

A lead with ``consent_marketing`` and no marketing-email record gets a ``granted`` record (source
``migration``, version ``legacy``, decided at ``consent_at``): it is ``pending`` like every consent
without a double-opt-in confirmation. A lead with ``opted_out_at`` and no marketing-email
withdrawal gets a ``revoked`` record decided then. Both are one ``INSERT … SELECT`` each (700k
leads are no Python loop), on PostgreSQL and on SQLite alike. The evidence says where the record
came from; it is the same for every row, so it is encrypted once.
"""

import json

from django.db import migrations
from django.utils import timezone

from compliance import crypto

RECORDS = "compliance_consentrecord"
LEADS = "leads_lead"
LEGACY_VERSION = "legacy"

#: The version ``leads.services.offers`` records with every accepted pool offer.
SPLIT_AGREEMENT_VERSION = "2026-01"

WORDINGS = [
    {
        "code": "MARKETING_EMAIL",
        "version": "v1",
        "text_de": (
            "Ja, ich möchte per E-Mail Informationen zu Kapitalanlage-Immobilien, zu passenden Angeboten "
            "und zu Veranstaltungen erhalten. Meine Einwilligung kann ich jederzeit ohne Angabe von Gründen "
            "mit Wirkung für die Zukunft widerrufen, zum Beispiel über den Abmeldelink in jeder E-Mail oder "
            "formlos per E-Mail. Die Datenschutzhinweise habe ich zur Kenntnis genommen."
        ),
        "text_en": (
            "Yes, I would like to receive information about investment properties, matching offers and "
            "events by email. I can withdraw my consent at any time without giving reasons, with effect for "
            "the future, for example with the unsubscribe link in every email or by an informal email. I have "
            "read the privacy notice."
        ),
    },
    {
        "code": "LEAD_SPLIT_AGREEMENT",
        "version": SPLIT_AGREEMENT_VERSION,
        "text_de": (
            "Mit der Annahme dieses Pool-Leads erkläre ich mich damit einverstanden, dass jede daraus "
            "entstehende Provision zu 1/3 an die Plattform und zu 2/3 an mich aufgeteilt wird."
        ),
        "text_en": (
            "By accepting this pool lead I agree that any commission from it is split 1/3 to the platform "
            "and 2/3 to me."
        ),
    },
    {
        "code": "META_ADS_TOS",
        "version": "v1",
        "text_de": (
            "Ich habe die Nutzungsbedingungen von Meta für Werbeanzeigen und Lead-Formulare "
            "(Lead Ads Terms) gelesen und akzeptiere sie für die über die Plattform gebuchten Kampagnen. "
            "Mir ist bekannt, dass Anzeigen für Immobilien der Sonderkategorie „Wohnen“ unterliegen."
        ),
        "text_en": (
            "I have read and accept Meta's terms for ads and lead forms (Lead Ads Terms) for the campaigns "
            "booked through the platform. I am aware that property ads fall under the special ad category "
            "“Housing”."
        ),
    },
    {
        "code": "FORM_DISCLAIMER",
        "version": "v1",
        "text_de": (
            "Ich bin damit einverstanden, dass meine Angaben zur Bearbeitung meiner Anfrage gespeichert und "
            "an einen Vertriebspartner für Kapitalanlage-Immobilien weitergegeben werden, der mich dazu "
            "kontaktiert. Hinweise zum Datenschutz und zum Widerruf finden Sie in unserer Datenschutzerklärung."
        ),
        "text_en": (
            "I agree that my details are stored to handle my enquiry and passed on to a sales partner for "
            "investment properties, who will contact me about it. See our privacy policy for data protection "
            "and withdrawal."
        ),
    },
]

_COLUMNS = (
    "tenant_id, code, action, lawful_basis, source, subject_user_id, subject_lead_id, "
    "version, text, evidence, doi_token_hash, recorded_at, created_at"
)
GRANTS_SQL = f"""
INSERT INTO {RECORDS} ({_COLUMNS})
SELECT l.tenant_id, 'MARKETING_EMAIL', 'granted', 'consent', 'migration', NULL, l.id,
       %s, '', %s, '', COALESCE(l.consent_at, l.created_at), %s
FROM {LEADS} l
WHERE l.consent_marketing = %s
  AND NOT EXISTS (SELECT 1 FROM {RECORDS} c WHERE c.subject_lead_id = l.id AND c.code = 'MARKETING_EMAIL')
"""  # noqa: S608 - table names are ours
REVOKES_SQL = f"""
INSERT INTO {RECORDS} ({_COLUMNS})
SELECT l.tenant_id, 'MARKETING_EMAIL', 'revoked', 'consent', 'migration', NULL, l.id,
       %s, '', %s, '', l.opted_out_at, %s
FROM {LEADS} l
WHERE l.opted_out_at IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM {RECORDS} c
      WHERE c.subject_lead_id = l.id AND c.code = 'MARKETING_EMAIL' AND c.action = 'revoked'
  )
"""  # noqa: S608 - table names are ours


def _evidence(source_field: str) -> str:
    return crypto.encrypt(
        json.dumps({"migration": "0007_consent_ledger_backfill", "from": source_field}, separators=(",", ":"))
    )


def legacy_consents_backfill(connection) -> tuple[int, int]:
    """Insert the ledger records of the lead fields' consents and opt-outs; returns (grants, revokes) added.

    Idempotent: leads that already have the records are skipped.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(GRANTS_SQL, [LEGACY_VERSION, _evidence("lead.consent_marketing"), now, True])
        grants = cursor.rowcount
        cursor.execute(REVOKES_SQL, [LEGACY_VERSION, _evidence("lead.opted_out_at"), now])
        revokes = cursor.rowcount
    return grants, revokes


def wordings_seed(apps) -> None:
    wording_model = apps.get_model("compliance", "ConsentWording")
    record_model = apps.get_model("compliance", "ConsentRecord")
    for data in WORDINGS:
        wording, _created = wording_model.objects.get_or_create(
            code=data["code"], version=data["version"], defaults=dict(data)
        )
        # The split agreements recorded so far used exactly this text: link them to their wording.
        record_model.objects.filter(code=wording.code, version=wording.version, wording__isnull=True).update(
            wording=wording
        )


def forwards(apps, schema_editor):
    wordings_seed(apps)
    legacy_consents_backfill(schema_editor.connection)


def backwards(apps, schema_editor):
    record_model = apps.get_model("compliance", "ConsentRecord")
    wording_model = apps.get_model("compliance", "ConsentWording")
    record_model.objects.filter(source="migration", version=LEGACY_VERSION).delete()
    for data in WORDINGS:
        record_model.objects.filter(
            wording__code=data["code"], wording__version=data["version"], version=data["version"]
        ).update(wording=None)
        wording_model.objects.filter(code=data["code"], version=data["version"], records__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0006_consent_ledger"),
        ("leads", "0011_lead_erasure_flags"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
