"""Ship the first campaign templates for investment property ("Kapitalanlage allgemein", SPEC §10).

Copy, image (``static/campaigns/``) and the lead form's questions in German; editable and switchable
off in the admin. Existing codes are left alone, so an admin's edits survive a re-run.
"""

from django.db import migrations

PRIVACY_URL = "https://www.lead-plattform.de/datenschutz"
PRIVACY_TEXT = "Datenschutzerklärung"

# Meta question types (protocols §1.6): standard types need no label; CUSTOM needs a label and options.
CONTACT_QUESTIONS = [
    {"key": "full_name", "type": "FULL_NAME"},
    {"key": "email", "type": "EMAIL"},
    {"key": "phone_number", "type": "PHONE"},
    {"key": "post_code", "type": "POST_CODE"},
]
INTEREST = {
    "key": "interest_type",
    "type": "CUSTOM",
    "label": "Wofür interessieren Sie sich?",
    "options": [
        {"key": "buy", "value": "Kauf einer Kapitalanlage-Immobilie"},
        {"key": "finance", "value": "Finanzierung"},
        {"key": "consult", "value": "Beratung"},
    ],
}
BUDGET = {
    "key": "investment_budget",
    "type": "CUSTOM",
    "label": "Welches Investitionsvolumen planen Sie?",
    "options": [
        {"key": "bis_250k", "value": "bis 250.000 €"},
        {"key": "250k_500k", "value": "250.000 – 500.000 €"},
        {"key": "500k_1m", "value": "500.000 € – 1 Mio. €"},
        {"key": "ueber_1m", "value": "über 1 Mio. €"},
    ],
}
TIMEFRAME = {
    "key": "timeframe",
    "type": "CUSTOM",
    "label": "Wann möchten Sie investieren?",
    "options": [
        {"key": "sofort", "value": "So bald wie möglich"},
        {"key": "3_monate", "value": "In den nächsten 3 Monaten"},
        {"key": "12_monate", "value": "In den nächsten 12 Monaten"},
        {"key": "offen", "value": "Ich informiere mich erst"},
    ],
}
QUESTIONS = [*CONTACT_QUESTIONS, INTEREST, BUDGET, TIMEFRAME]

TEMPLATES = [
    {
        "code": "kapitalanlage-vermoegensaufbau",
        "name": "Vermögensaufbau mit Immobilien",
        "headline": "Vermögen aufbauen mit einer Kapitalanlage-Immobilie",
        "primary_text": (
            "Sachwert statt Sparbuch: Mit einer vermieteten Immobilie bauen Sie Schritt für Schritt Vermögen auf – "
            "finanziert zu großen Teilen durch Mieteinnahmen. Lassen Sie sich kostenlos und unverbindlich zeigen, "
            "welche Objekte zu Ihrem Budget passen."
        ),
        "description": "Kostenlose Erstberatung vom Experten",
        "call_to_action": "LEARN_MORE",
        "image": "campaigns/kapitalanlage-skyline.png",
        "sort_order": 10,
    },
    {
        "code": "kapitalanlage-rendite",
        "name": "Mietrendite & Wertsteigerung",
        "headline": "Stabile Mietrendite in gefragten Lagen",
        "primary_text": (
            "Wohnraum wird gebraucht – heute und morgen. Entdecken Sie ausgewählte Kapitalanlage-Immobilien mit "
            "solider Mietrendite und Potenzial zur Wertsteigerung. Fordern Sie jetzt Ihre persönliche "
            "Objektauswahl an."
        ),
        "description": "Ausgewählte Objekte, persönlich vorgestellt",
        "call_to_action": "GET_QUOTE",
        "image": "campaigns/kapitalanlage-rendite.png",
        "sort_order": 20,
    },
    {
        "code": "kapitalanlage-steuervorteile",
        "name": "Steuervorteile nutzen",
        "headline": "Steuern sparen mit einer vermieteten Immobilie",
        "primary_text": (
            "Abschreibung, Werbungskosten, Zinsen: Eine vermietete Immobilie kann Ihre Steuerlast spürbar senken. "
            "Wir rechnen Ihnen unverbindlich vor, wie sich eine Kapitalanlage für Sie lohnt."
        ),
        "description": "Individuelle Beispielrechnung – kostenlos",
        "call_to_action": "SIGN_UP",
        "image": "campaigns/kapitalanlage-steuern.png",
        "sort_order": 30,
    },
    {
        "code": "kapitalanlage-altersvorsorge",
        "name": "Altersvorsorge mit Betongold",
        "headline": "Altersvorsorge, die Miete zahlt",
        "primary_text": (
            "Die gesetzliche Rente reicht vielen nicht. Eine schuldenfreie Immobilie im Ruhestand sorgt für "
            "zusätzliches Einkommen. Erfahren Sie in einem kurzen Gespräch, wie Sie jetzt die Weichen stellen."
        ),
        "description": "Unverbindlich informieren",
        "call_to_action": "LEARN_MORE",
        "image": "campaigns/kapitalanlage-altersvorsorge.png",
        "sort_order": 40,
    },
]


def ship_templates(apps, schema_editor):
    CampaignTemplate = apps.get_model("campaigns", "CampaignTemplate")
    for spec in TEMPLATES:
        CampaignTemplate.objects.get_or_create(
            code=spec["code"],
            defaults={
                **spec,
                "category": "Kapitalanlage allgemein",
                "form_questions": QUESTIONS,
                "privacy_policy_url": PRIVACY_URL,
                "privacy_policy_text": PRIVACY_TEXT,
                "is_active": True,
            },
        )


def remove_templates(apps, schema_editor):
    CampaignTemplate = apps.get_model("campaigns", "CampaignTemplate")
    # Only templates no campaign uses (campaigns protect their template).
    CampaignTemplate.objects.filter(code__in=[spec["code"] for spec in TEMPLATES], campaigns__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]

    operations = [migrations.RunPython(ship_templates, remove_templates)]
