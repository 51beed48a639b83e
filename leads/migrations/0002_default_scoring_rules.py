"""Ship the default activity rules of SPEC §7 (German reasons), editable in the admin."""

from django.db import migrations

# (code, component, points, German description)
DEFAULT_RULES = [
    ("budget_calculator_used", "i", 25, "Budget Calculator verwendet"),
    ("pricing_page_visited", "i", 20, "Preisseite besucht"),
    ("phone_clicked", "i", 30, "Telefonnummer angeklickt"),
    ("whatsapp_clicked", "i", 30, "WhatsApp angeklickt"),
    ("form_50_percent_filled", "i", 35, "Formular zu 50 % ausgefüllt"),
    ("calendar_booking_started", "i", 40, "Terminbuchung begonnen"),
    ("quiz_completed", "i", 20, "Quiz abgeschlossen"),
    ("case_study_viewed", "i", 15, "Fallstudie angesehen"),
    ("about_us_visited", "i", 15, "Über-uns-Seite besucht"),
    ("testimonials_viewed", "i", 12, "Kundenstimmen angesehen"),
    ("video_watched", "i", 18, "Video angesehen"),
    ("lead_magnet_downloaded", "i", 10, "Lead-Magnet heruntergeladen"),
    ("blog_post_read", "i", 8, "Blogartikel gelesen"),
    ("multiple_pages_viewed", "i", 10, "Mehrere Seiten angesehen"),
    ("email_opened", "e", 5, "E-Mail geöffnet"),
    ("email_clicked", "e", 10, "Link in E-Mail angeklickt"),
    ("company_size_large", "p", 15, "Großes Unternehmen (über 200 Mitarbeitende)"),
    ("decision_maker_role", "p", 20, "Entscheider-Rolle"),
    ("linkedin_profile_premium", "p", 10, "LinkedIn-Premium-Profil"),
    ("no_activity_7_days", "e", -10, "7 Tage keine Aktivität"),
    ("no_activity_30_days", "e", -25, "30 Tage keine Aktivität"),
    ("email_bounced", "e", -50, "E-Mail unzustellbar (Bounce)"),
]


def create_rules(apps, schema_editor):
    ScoringRule = apps.get_model("leads", "ScoringRule")
    for code, component, points, description in DEFAULT_RULES:
        ScoringRule.objects.get_or_create(
            tenant=None,
            code=code,
            defaults={"component": component, "points": points, "description": description, "active": True},
        )


def remove_rules(apps, schema_editor):
    ScoringRule = apps.get_model("leads", "ScoringRule")
    ScoringRule.objects.filter(tenant=None, code__in=[r[0] for r in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]

    operations = [migrations.RunPython(create_rules, remove_rules)]
