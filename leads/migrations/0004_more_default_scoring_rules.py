"""Ship the profile, form-answer, message and engagement rules next to SPEC §7's activity rules."""

from django.db import migrations

from leads.scoring_defaults import DEFAULT_RULES


def create_rules(apps, schema_editor):
    ScoringRule = apps.get_model("leads", "ScoringRule")
    for code, component, points, description in DEFAULT_RULES:
        ScoringRule.objects.get_or_create(
            tenant=None,
            code=code,
            defaults={"component": component, "points": points, "description": description, "active": True},
        )


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_identity_merge_offers")]

    operations = [migrations.RunPython(create_rules, migrations.RunPython.noop)]
