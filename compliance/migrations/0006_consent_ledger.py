"""The consent ledger: versioned wordings; one record per decision (granted, revoked, confirmed).

Existing records are kept as they were decided: each becomes a ``granted`` record decided at its
``granted_at``, and one with a ``revoked_at`` gets a ``revoked`` record decided then (the history
stays complete); their evidence is encrypted. ``granted_at``/``revoked_at`` are dropped afterwards:
``recorded_at`` and ``action`` say the same. The reverse puts them back (confirmations are lost).
"""

import json

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import compliance.fields
from compliance import crypto

TABLE = "compliance_consentrecord"
BATCH = 2000
#: What the revoke records made from ``revoked_at`` carry as evidence (the same for each: one ciphertext).
REVOKE_EVIDENCE = {"migration": "0006_consent_ledger", "from": "revoked_at"}
#: Where the existing records came from: the website capture (marketing), pool offers (split) and
#: Facebook/LinkedIn form disclaimers were the only writers.
SOURCES = {
    "MARKETING_EMAIL": "form",
    "LEAD_SPLIT_AGREEMENT": "portal",
    "FORM_DISCLAIMER": "webhook",
}


def _immediate_constraints(schema_editor) -> None:
    # Rows written here would leave deferred foreign-key checks pending, and PostgreSQL refuses the
    # ALTER TABLEs that follow in this transaction while any are: check them at once instead.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _rewrite_evidence(cursor, convert) -> None:
    """Rewrite every row's evidence with ``convert(text)``, a few thousand rows per round trip (keyset)."""
    last = 0
    while True:
        cursor.execute(f"SELECT id, evidence FROM {TABLE} WHERE id > %s ORDER BY id LIMIT {BATCH}", [last])  # noqa: S608
        rows = cursor.fetchall()
        if not rows:
            return
        cursor.executemany(
            f"UPDATE {TABLE} SET evidence = %s WHERE id = %s",  # noqa: S608 - table name is ours
            [[convert(text), pk] for pk, text in rows],
        )
        last = rows[-1][0]


def _encrypt(text: str | None) -> str:
    value = json.loads(text) if text else {}
    return crypto.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) if value else ""


def _decrypt(text: str | None) -> str:
    return crypto.decrypt(text) if text else "{}"


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    _immediate_constraints(schema_editor)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET recorded_at = COALESCE(granted_at, created_at), action = 'granted'")  # noqa: S608
        for code, source in SOURCES.items():
            cursor.execute(f"UPDATE {TABLE} SET source = %s WHERE code = %s", [source, code])  # noqa: S608
        # The evidence column now holds the JSON as text: encrypt it ({} is stored as "").
        _rewrite_evidence(cursor, _encrypt)
        now = connection.ops.adapt_datetimefield_value(django.utils.timezone.now())
        evidence = crypto.encrypt(json.dumps(REVOKE_EVIDENCE, separators=(",", ":")))
        cursor.execute(
            f"""
            INSERT INTO {TABLE} (tenant_id, code, action, lawful_basis, source, subject_user_id, subject_lead_id,
                                 version, text, evidence, doi_token_hash, recorded_at, created_at)
            SELECT tenant_id, code, 'revoked', lawful_basis, source, subject_user_id, subject_lead_id,
                   version, text, %s, '', revoked_at, %s
            FROM {TABLE} WHERE revoked_at IS NOT NULL AND action = 'granted'
            """,  # noqa: S608 - table name is ours
            [evidence, now],
        )


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    _immediate_constraints(schema_editor)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET granted_at = recorded_at WHERE action = 'granted'")  # noqa: S608
        cursor.execute(
            f"SELECT subject_lead_id, subject_user_id, code, recorded_at FROM {TABLE} "  # noqa: S608
            "WHERE action = 'revoked' ORDER BY recorded_at, id"
        )
        for lead_id, user_id, code, at in cursor.fetchall():
            subject = "subject_lead_id = %s" if lead_id is not None else "subject_user_id = %s"
            cursor.execute(
                f"UPDATE {TABLE} SET revoked_at = %s WHERE {subject} AND code = %s "  # noqa: S608
                "AND action = 'granted' AND revoked_at IS NULL AND recorded_at <= %s",
                [at, lead_id if lead_id is not None else user_id, code, at],
            )
        cursor.execute(f"DELETE FROM {TABLE} WHERE action <> 'granted'")  # noqa: S608
        _rewrite_evidence(cursor, _decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0005_audit_retention_purge"),
        ("leads", "0011_lead_erasure_flags"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ConsentWording",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "code",
                    models.CharField(
                        choices=[
                            ("MARKETING_EMAIL", "Marketing emails"),
                            ("DATA_PROCESSING", "Data processing"),
                            ("LEAD_SPLIT_AGREEMENT", "Lead split agreement"),
                            ("META_ADS_TOS", "Meta ads terms"),
                            ("FORM_DISCLAIMER", "Lead form disclaimer"),
                        ],
                        max_length=40,
                        verbose_name="purpose",
                    ),
                ),
                ("version", models.CharField(max_length=40, verbose_name="version")),
                ("text_de", models.TextField(verbose_name="text (German)")),
                ("text_en", models.TextField(blank=True, verbose_name="text (English)")),
                (
                    "active",
                    models.BooleanField(
                        default=True,
                        help_text="New consents use the newest active version of their purpose.",
                        verbose_name="active",
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="created at")),
            ],
            options={
                "verbose_name": "consent wording",
                "verbose_name_plural": "consent wordings",
                "ordering": ["code", "-created_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(fields=("code", "version"), name="compliance_wording_code_version")
                ],
            },
        ),
        migrations.AlterModelOptions(
            name="consentrecord",
            options={
                "ordering": ["-recorded_at", "-id"],
                "verbose_name": "consent record",
                "verbose_name_plural": "consent records",
            },
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="action",
            field=models.CharField(
                choices=[("granted", "Granted"), ("revoked", "Revoked"), ("confirmed", "Confirmed (double opt-in)")],
                default="granted",
                max_length=16,
                verbose_name="action",
            ),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="lawful_basis",
            field=models.CharField(
                choices=[
                    ("consent", "Consent (Art. 6(1)(a) GDPR)"),
                    ("contract", "Contract (Art. 6(1)(b) GDPR)"),
                    ("legitimate_interest", "Legitimate interest (Art. 6(1)(f) GDPR)"),
                    ("legal_obligation", "Legal obligation (Art. 6(1)(c) GDPR)"),
                ],
                default="consent",
                max_length=24,
                verbose_name="lawful basis",
            ),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="source",
            field=models.CharField(
                choices=[
                    ("form", "Form"),
                    ("import", "Import"),
                    ("api", "API"),
                    ("portal", "Partner portal"),
                    ("webhook", "Webhook"),
                    ("admin", "Admin"),
                    ("unsubscribe", "Unsubscribe link"),
                    ("email", "Email"),
                    ("migration", "Migration"),
                ],
                default="api",
                max_length=16,
                verbose_name="source",
            ),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="confirms",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="confirmations",
                to="compliance.consentrecord",
                verbose_name="confirms",
                db_index=False,
            ),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="doi_token_hash",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=64, verbose_name="double-opt-in token (SHA-256)"
            ),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="expires at"),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="recorded_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="decided at"),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="wording",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="records",
                to="compliance.consentwording",
                verbose_name="wording",
                db_index=False,
            ),
        ),
        migrations.AlterField(
            model_name="consentrecord",
            name="evidence",
            field=compliance.fields.EncryptedJSONField(blank=True, default=dict, verbose_name="evidence"),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveIndex(model_name="consentrecord", name="compliance__subject_76a102_idx"),
        migrations.RemoveIndex(model_name="consentrecord", name="compliance__subject_5570c3_idx"),
        migrations.RemoveField(model_name="consentrecord", name="granted_at"),
        migrations.RemoveField(model_name="consentrecord", name="revoked_at"),
        migrations.AlterField(
            model_name="consentrecord",
            name="code",
            field=models.CharField(
                choices=[
                    ("MARKETING_EMAIL", "Marketing emails"),
                    ("DATA_PROCESSING", "Data processing"),
                    ("LEAD_SPLIT_AGREEMENT", "Lead split agreement"),
                    ("META_ADS_TOS", "Meta ads terms"),
                    ("FORM_DISCLAIMER", "Lead form disclaimer"),
                ],
                max_length=40,
                verbose_name="purpose",
            ),
        ),
        migrations.AlterField(
            model_name="consentrecord",
            name="subject_lead",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="consents",
                to="leads.lead",
                verbose_name="lead",
            ),
        ),
        migrations.AlterField(
            model_name="consentrecord",
            name="subject_user",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="consents",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(
                fields=["subject_lead", "code", "recorded_at", "id"], name="compliance_consent_lead_newest"
            ),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(
                fields=["subject_user", "code", "recorded_at", "id"], name="compliance_consent_user_newest"
            ),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(
                condition=models.Q(("doi_token_hash", ""), _negated=True),
                fields=["doi_token_hash"],
                name="compliance_consent_doi_token",
            ),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(
                condition=models.Q(("wording__isnull", False)), fields=["wording"], name="compliance_consent_wording"
            ),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(
                condition=models.Q(("confirms__isnull", False)), fields=["confirms"], name="compliance_consent_confirms"
            ),
        ),
    ]
