"""Create the one platform organization; it owns the Zone 1 lead pool."""

from django.db import migrations


def create_platform(apps, schema_editor):
    Organization = apps.get_model("accounts", "Organization")
    if not Organization.objects.filter(is_platform=True).exists():
        Organization.objects.create(name="Lead-Plattform", slug="platform", kind="platform", is_platform=True)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_platform, migrations.RunPython.noop)]
