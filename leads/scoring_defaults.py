"""The shipped scoring rules (SPEC §7 plus the profile, form and message signals), German reasons.

The database holds the editable copy (``ScoringRule``); a code missing there falls back to this
table, so switching a rule off means setting it inactive, not deleting it.
"""

# (code, component, points, German description)
DEFAULT_RULES: list[tuple[str, str, int, str]] = [
    # Intent: website activities (SPEC §7).
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
    # Intent: form answers and messages.
    ("form_budget_given", "i", 15, "Budget im Formular angegeben"),
    ("form_timeframe_short", "i", 15, "Zeitrahmen unter 6 Monaten"),
    ("interest_type_given", "i", 10, "Interesse angegeben (Kauf, Finanzierung oder Beratung)"),
    ("dm_intent_high", "i", 25, "Hohe Kaufabsicht in Nachricht"),
    ("dm_intent_medium", "i", 15, "Mittlere Kaufabsicht in Nachricht"),
    ("dm_intent_low", "i", 5, "Geringe Kaufabsicht in Nachricht"),
    ("dm_sentiment_negative", "i", -10, "Negative Stimmung in Nachricht"),
    # Engagement.
    ("form_submitted", "e", 20, "Formular abgeschickt"),
    ("message_received", "e", 15, "Nachricht erhalten"),
    ("email_replied", "e", 25, "Auf E-Mail geantwortet"),
    ("email_opened", "e", 5, "E-Mail geöffnet"),
    ("email_clicked", "e", 10, "Link in E-Mail angeklickt"),
    ("no_activity_7_days", "e", -10, "7 Tage keine Aktivität"),
    ("no_activity_30_days", "e", -25, "30 Tage keine Aktivität"),
    ("email_bounced", "e", -50, "E-Mail unzustellbar (Bounce)"),
    # Profile fit.
    ("company_size_large", "p", 15, "Großes Unternehmen (über 200 Mitarbeitende)"),
    ("decision_maker_role", "p", 20, "Entscheider-Rolle"),
    ("linkedin_profile_premium", "p", 10, "LinkedIn-Premium-Profil"),
    ("email_verified", "p", 10, "E-Mail-Adresse geprüft"),
    ("phone_verified", "p", 10, "Telefonnummer gültig"),
    ("name_complete", "p", 5, "Vor- und Nachname vorhanden"),
    ("company_known", "p", 5, "Firma bekannt"),
    ("icp_industry_match", "p", 15, "Branche passt zum Zielkundenprofil"),
    ("icp_size_match", "p", 10, "Firmengröße passt zum Zielkundenprofil"),
    ("icp_role_match", "p", 10, "Rolle passt zum Zielkundenprofil"),
    ("icp_region_match", "p", 10, "Region passt zum Zielkundenprofil"),
    ("email_disposable", "p", -20, "Wegwerf-E-Mail-Adresse"),
]

#: Activity codes that come from the inactivity sweeper, not from the lead (counted by decay level).
DECAY_CODES = ("no_activity_7_days", "no_activity_30_days")
