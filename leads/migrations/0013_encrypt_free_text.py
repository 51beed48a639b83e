"""Free text about the person encrypted at rest: activity details (notes, reasons), the LLM's intent
analysis, the enrichment provider's raw answer, quiz results, lost and offer reasons.

Each column becomes ``text`` (the cast keeps the data), then its rows are sealed in Python in
batches (``compliance.column_encryption``). ``LeadActivity.next_follow_up`` is new: the follow-up
date the lead lists filter and sort by, copied out of ``detail`` before it is sealed. The reverse
decrypts back (the new column is dropped).
"""

import datetime as dt

from django.db import migrations, models

import compliance.fields
from compliance.column_encryption import Column, Derived, decrypt_columns, encrypt_columns


def _follow_up(plain: dict) -> dt.date | None:
    value = (plain.get("detail") or {}).get("next_follow_up") if isinstance(plain.get("detail"), dict) else None
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


TABLES = {
    "leads_lead": ([Column("lost_reason")], ()),
    "leads_leadactivity": ([Column("detail", json=True)], (Derived("next_follow_up", "date", _follow_up),)),
    "leads_leadassignment": ([Column("reason")], ()),
    "leads_leadenrichment": ([Column("raw_response", json=True)], ()),
    "leads_leadintent": ([Column("keywords", json=True, empty="[]"), Column("analysis", json=True)], ()),
    "leads_leadmagnet": ([Column("quiz_results", json=True)], ()),
}


def encrypt(apps, schema_editor):
    for table, (columns, derived) in TABLES.items():
        encrypt_columns(table, columns, derived=derived)(apps, schema_editor)


def decrypt(apps, schema_editor):
    for table, (columns, _derived) in TABLES.items():
        decrypt_columns(table, columns)(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0012_encrypt_attributes"),
    ]

    operations = [
        migrations.AddField(
            model_name="leadactivity",
            name="next_follow_up",
            field=models.DateField(
                blank=True,
                editable=False,
                help_text="The follow-up date this activity planned (a copy of the detail's, for the lead lists).",
                null=True,
                verbose_name="next follow-up",
            ),
        ),
        migrations.AlterField(
            model_name="lead",
            name="lost_reason",
            field=compliance.fields.EncryptedTextField(blank=True, default="", verbose_name="lost reason"),
        ),
        migrations.AlterField(
            model_name="leadactivity",
            name="detail",
            field=compliance.fields.EncryptedJSONField(blank=True, default=dict, verbose_name="detail"),
        ),
        migrations.AlterField(
            model_name="leadassignment",
            name="reason",
            field=compliance.fields.EncryptedTextField(blank=True, default="", verbose_name="reason"),
        ),
        migrations.AlterField(
            model_name="leadenrichment",
            name="raw_response",
            field=compliance.fields.EncryptedJSONField(blank=True, default=dict, verbose_name="raw response"),
        ),
        migrations.AlterField(
            model_name="leadintent",
            name="analysis",
            field=compliance.fields.EncryptedJSONField(blank=True, default=dict, verbose_name="analysis"),
        ),
        migrations.AlterField(
            model_name="leadintent",
            name="keywords",
            field=compliance.fields.EncryptedJSONField(blank=True, default=list, verbose_name="detected keywords"),
        ),
        migrations.AlterField(
            model_name="leadmagnet",
            name="quiz_results",
            field=compliance.fields.EncryptedJSONField(blank=True, default=dict, verbose_name="quiz results"),
        ),
        migrations.RunPython(encrypt, decrypt, elidable=False),
    ]
