"""Deal title (often the lead's name), lost reason and stage-change reasons encrypted at rest.

Each column becomes ``text`` (the cast keeps the data), then its rows are sealed in Python in
batches (``compliance.column_encryption``); the reverse decrypts back.
"""

from django.db import migrations

import compliance.fields
from compliance.column_encryption import Column, decrypt_columns, encrypt_columns

TABLES = {
    "deals_partnerdeal": [Column("title"), Column("lost_reason")],
    "deals_dealstagechange": [Column("reason")],
}


def encrypt(apps, schema_editor):
    for table, columns in TABLES.items():
        encrypt_columns(table, columns)(apps, schema_editor)


def decrypt(apps, schema_editor):
    for table, columns in TABLES.items():
        decrypt_columns(table, columns)(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="dealstagechange",
            name="reason",
            field=compliance.fields.EncryptedTextField(blank=True, default="", verbose_name="reason"),
        ),
        migrations.AlterField(
            model_name="partnerdeal",
            name="lost_reason",
            field=compliance.fields.EncryptedTextField(
                blank=True, default="", editable=False, verbose_name="lost reason"
            ),
        ),
        migrations.AlterField(
            model_name="partnerdeal",
            name="title",
            field=compliance.fields.EncryptedTextField(verbose_name="title"),
        ),
        migrations.RunPython(encrypt, decrypt, elidable=False),
    ]
