"""Lead.attributes (free-text form answers) encrypted at rest: jsonb -> text, then every row sealed.

The type change keeps the data (``USING attributes::text``); the rows are then encrypted in Python
in batches (``compliance.column_encryption``: server-side cursor, one UPDATE per 2,000 rows). The
reverse decrypts back and casts to jsonb again.
"""

from django.db import migrations

import compliance.fields
from compliance.column_encryption import Column, decrypt_columns, encrypt_columns

COLUMNS = [Column("attributes", json=True)]


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0011_lead_erasure_flags"),
    ]

    operations = [
        migrations.AlterField(
            model_name="lead",
            name="attributes",
            field=compliance.fields.EncryptedJSONField(
                blank=True,
                default=dict,
                help_text="Unmapped form answers (encrypted; not searchable)",
                verbose_name="attributes",
            ),
        ),
        migrations.RunPython(
            encrypt_columns("leads_lead", COLUMNS), decrypt_columns("leads_lead", COLUMNS), elidable=False
        ),
    ]
