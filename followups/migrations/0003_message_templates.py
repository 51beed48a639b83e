"""German default message templates (owner NULL) and the YAML sequences shipped as data (SPEC §11).

The templates are frozen here (a later edit of a default is a new migration); the sequences are read from
``followups/data/sequences/*.yaml`` and synced idempotently (``manage.py sync_sequences`` does the same).
"""

from django.db import migrations

GREETING = "Guten Tag{% if full_name %} {{ full_name }}{% endif %},"
SIGN = "\n\nHerzliche Grüße\n{{ partner_name }}"

# (code, name, channel, subject, body)
TEMPLATES = [
    # Steps of the YAML sequences.
    (
        "confirm_interest",
        "Interesse bestätigen",
        "auto",
        "Schön, dass Sie sich gemeldet haben",
        GREETING + "\n\nvielen Dank für Ihr Interesse! Ich freue mich, dass wir in Kontakt sind. Damit ich Ihnen "
        "genau die Informationen schicke, die für Sie passen: Was hat Sie neugierig gemacht?" + SIGN,
    ),
    (
        "send_video",
        "Video/Info senden",
        "whatsapp",
        "Ein kurzes Video für Sie",
        GREETING + "\n\nwie versprochen schicke ich Ihnen ein kurzes Video, das in wenigen Minuten zeigt, worum es "
        "geht. Schauen Sie gern in Ruhe rein – ich bin gespannt auf Ihre Meinung." + SIGN,
    ),
    (
        "value_proposition",
        "Nutzen auf den Punkt",
        "auto",
        "Was Sie davon haben",
        GREETING + "\n\nin aller Kürze: Viele, die mit uns starten, schätzen vor allem die Flexibilität und die "
        "persönliche Begleitung. Gern erzähle ich Ihnen, wie das konkret für Sie aussehen könnte." + SIGN,
    ),
    (
        "gentle_followup",
        "Sanftes Nachfassen",
        "auto",
        "Kurze Rückfrage",
        GREETING + "\n\nich wollte mich kurz melden, ob meine letzte Nachricht bei Ihnen angekommen ist. Kein "
        "Stress – wenn Sie Fragen haben, bin ich gern für Sie da." + SIGN,
    ),
    (
        "offer_call",
        "Gespräch anbieten",
        "auto",
        "Sollen wir kurz telefonieren?",
        GREETING + "\n\nmanches lässt sich im Gespräch einfach besser klären. Hätten Sie diese Woche 15 Minuten für "
        "ein kurzes Telefonat? Nennen Sie mir gern einen Zeitpunkt, der Ihnen passt." + SIGN,
    ),
    (
        "offer_3way_call",
        "Gespräch zu dritt anbieten",
        "auto",
        "Ein Gespräch mit einer erfahrenen Kollegin oder einem Kollegen",
        GREETING + "\n\nich habe den Eindruck, dass noch ein paar Fragen offen sind. Wie wäre ein kurzes Gespräch "
        "zu dritt mit jemandem aus meinem Team, der diesen Weg schon länger geht? So bekommen Sie "
        "Antworten aus erster Hand." + SIGN,
    ),
    (
        "final_attempt",
        "Letzte Nachfrage",
        "auto",
        "Soll ich mich weiter melden?",
        GREETING + "\n\nich möchte Ihnen nicht lästig fallen. Falls das Thema für Sie gerade nicht passt, ist das "
        "völlig in Ordnung – geben Sie mir einfach kurz Bescheid. Und falls doch: Ich bin für Sie da." + SIGN,
    ),
    (
        "phoenix_reactivation",
        "Reaktivierung",
        "auto",
        "Lange nichts gehört",
        GREETING + "\n\nwir hatten vor einiger Zeit Kontakt, und seitdem hat sich bei uns einiges getan. Ich dachte "
        "an Sie und wollte fragen: Ist das Thema für Sie noch aktuell?" + SIGN,
    ),
    (
        "different_angle",
        "Neuer Ansatz",
        "auto",
        "Vielleicht aus einem anderen Blickwinkel",
        GREETING + "\n\nvielleicht war mein erster Vorschlag nicht ganz das Richtige für Sie. Darf ich Ihnen eine "
        "andere Möglichkeit zeigen, die besser zu Ihrer Situation passen könnte?" + SIGN,
    ),
    (
        "final_goodbye",
        "Freundlicher Abschluss",
        "auto",
        "Alles Gute für Sie",
        GREETING + "\n\nich melde mich heute ein letztes Mal zu diesem Thema. Wenn Sie später noch einmal darauf "
        "zurückkommen möchten, freue ich mich jederzeit über Ihre Nachricht. Alles Gute für Sie!" + SIGN,
    ),
    (
        "satisfaction_check",
        "Zufriedenheit nachfragen",
        "auto",
        "Wie zufrieden sind Sie?",
        GREETING + "\n\nSie sind jetzt seit einigen Wochen dabei – wie zufrieden sind Sie bisher? Ihre ehrliche "
        "Rückmeldung hilft mir sehr." + SIGN,
    ),
    (
        "soft_opportunity_mention",
        "Geschäftsmöglichkeit erwähnen",
        "auto",
        "Eine Idee für Sie",
        GREETING + "\n\nda Sie so zufrieden sind, eine kurze Frage: Haben Sie schon einmal darüber nachgedacht, die "
        "Produkte auch weiterzuempfehlen und sich damit etwas dazuzuverdienen? Ich erzähle Ihnen gern "
        "unverbindlich mehr." + SIGN,
    ),
    (
        "partner_invitation",
        "Einladung als Partner",
        "auto",
        "Eine persönliche Einladung",
        GREETING + "\n\nich würde mich freuen, Sie als Partnerin oder Partner in meinem Team zu begrüßen. Wenn Sie "
        "möchten, zeige ich Ihnen in einem kurzen Gespräch, wie der Einstieg aussieht." + SIGN,
    ),
    # One per suggestion reason (API-560).
    (
        "no_response",
        "Keine Antwort",
        "auto",
        "Ich melde mich noch einmal",
        GREETING + "\n\nich habe länger nichts von Ihnen gehört und wollte kurz nachfragen, ob ich Ihnen noch "
        "weiterhelfen kann. Eine kurze Antwort genügt." + SIGN,
    ),
    (
        "showed_interest",
        "Interesse gezeigt",
        "auto",
        "Ihre Anfrage",
        GREETING + "\n\nschön, dass Sie sich für das Thema interessieren! Welche Fragen kann ich Ihnen beantworten? "
        "Gern nehme ich mir Zeit für Sie." + SIGN,
    ),
    (
        "watched_video",
        "Video angesehen",
        "auto",
        "Wie hat Ihnen das Video gefallen?",
        GREETING + "\n\nSie haben sich das Video angesehen – was ist Ihnen besonders aufgefallen? Ich freue mich "
        "auf Ihre Eindrücke und beantworte gern Ihre Fragen." + SIGN,
    ),
    (
        "objection_handled",
        "Einwand geklärt",
        "auto",
        "Kurzer Nachtrag zu unserem Gespräch",
        GREETING + "\n\ndanke für das offene Gespräch. Ich hoffe, ich konnte Ihre Bedenken ausräumen. Ist noch "
        "etwas offen, das ich für Sie klären kann?" + SIGN,
    ),
    (
        "call_scheduled",
        "Termin bestätigen",
        "auto",
        "Unser Termin",
        GREETING + "\n\nich freue mich auf unser Gespräch! Falls Ihnen etwas dazwischenkommt, geben Sie mir einfach "
        "kurz Bescheid, dann finden wir einen neuen Termin." + SIGN,
    ),
    (
        "periodic_checkin",
        "Regelmäßig melden",
        "auto",
        "Wie geht es Ihnen?",
        GREETING + "\n\nich wollte mich einfach mal wieder melden und hören, wie es Ihnen geht. Gibt es etwas Neues, "
        "bei dem ich Sie unterstützen kann?" + SIGN,
    ),
    (
        "reactivation",
        "Wieder Kontakt aufnehmen",
        "auto",
        "Ist das Thema noch aktuell?",
        GREETING + "\n\nes ist eine Weile her, seit wir zuletzt Kontakt hatten. Ist das Thema für Sie noch aktuell? "
        "Ich freue mich, von Ihnen zu hören." + SIGN,
    ),
    (
        "offer_expiring",
        "Angebot läuft ab",
        "auto",
        "Ihre Anfrage – kurze Rückmeldung",
        GREETING + "\n\nich habe Ihre Anfrage erhalten und melde mich gern persönlich bei Ihnen. Wann passt es Ihnen "
        "am besten für ein kurzes Gespräch?" + SIGN,
    ),
    (
        "hot_lead",
        "Heißer Kontakt",
        "auto",
        "Gleich der nächste Schritt?",
        GREETING + "\n\nich habe gesehen, dass Sie sich intensiv mit dem Thema beschäftigen – das freut mich! "
        "Sollen wir direkt einen kurzen Termin vereinbaren, damit ich Ihre Fragen beantworten kann?" + SIGN,
    ),
]


def add_templates(apps, schema_editor):
    MessageTemplate = apps.get_model("followups", "MessageTemplate")
    for code, name, channel, subject, body in TEMPLATES:
        MessageTemplate.objects.update_or_create(
            code=code,
            owner=None,
            defaults={"name": name, "channel": channel, "subject": subject, "body": body, "is_active": True},
        )


def remove_templates(apps, schema_editor):
    MessageTemplate = apps.get_model("followups", "MessageTemplate")
    MessageTemplate.objects.filter(owner=None, code__in=[t[0] for t in TEMPLATES]).delete()


def sync_sequences(apps, schema_editor):
    from followups.yaml_sequences import sync_sequences as sync

    sync(models=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_platform_organization"),
        ("followups", "0002_smart_followups"),
    ]

    operations = [
        migrations.RunPython(add_templates, remove_templates),
        migrations.RunPython(sync_sequences, migrations.RunPython.noop),
    ]
