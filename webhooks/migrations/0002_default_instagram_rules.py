"""The default Instagram rules of SPEC §5 (German-first product: German replies)."""

from django.db import migrations

DEFAULT_RULES = [
    {
        "name": "Preisanfrage",
        "keywords": ["preis", "kosten", "kostet", "price", "#preis"],
        "auto_reply": (
            "Danke für deine Nachricht! Wir schicken dir gern alle Infos zu Preis und Konditionen. "
            "Schreib uns einfach deine E-Mail-Adresse oder Telefonnummer, dann melden wir uns persönlich."
        ),
        "priority": 10,
    },
    {
        "name": "Besichtigung und Termin",
        "keywords": ["besichtigung", "termin", "#besichtigung"],
        "auto_reply": (
            "Sehr gern! Für einen Besichtigungstermin schick uns bitte deine Telefonnummer oder E-Mail-Adresse "
            "und wann es dir am besten passt. Wir melden uns schnellstmöglich."
        ),
        "priority": 20,
    },
    {
        "name": "Interesse und Infos",
        "keywords": ["info", "interesse", "interessiert", "interested", "#info"],
        "auto_reply": (
            "Schön, dass du dich interessierst! Wir senden dir gern weitere Informationen. "
            "An welche E-Mail-Adresse dürfen wir sie schicken?"
        ),
        "priority": 30,
    },
]


def create_rules(apps, schema_editor):
    InstagramRule = apps.get_model("webhooks", "InstagramRule")
    for rule in DEFAULT_RULES:
        InstagramRule.objects.get_or_create(name=rule["name"], defaults={**rule, "active": True})


def delete_rules(apps, schema_editor):
    InstagramRule = apps.get_model("webhooks", "InstagramRule")
    InstagramRule.objects.filter(name__in=[rule["name"] for rule in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial")]

    operations = [migrations.RunPython(create_rules, delete_rules)]
