"""Settings for the lead platform: one module, driven by the environment (SPEC §13).

Every value has a safe default for the embedded mode (SQLite, Celery eager, local-memory cache,
console email). With ``DJANGO_DEBUG=false`` the secrets and keys must be given explicitly, either
as variables or as ``<NAME>_FILE`` paths (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read a secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from exc
    return env.str(name, default=default)


def _dev_key(label: str) -> str:
    """Derive a fixed, clearly non-secret key for the embedded default only."""
    return base64.b64encode(hashlib.sha256(f"leadplatform-dev-{label}".encode()).digest()).decode()


DEBUG = env.bool("DJANGO_DEBUG", default=True)

# --- Secrets and keys -------------------------------------------------------------------------
_missing: list[str] = []


def _required_in_production(name: str, dev_default: str) -> str:
    value = env_secret(name)
    if value:
        return value
    if not DEBUG:
        _missing.append(name)
    return dev_default


SECRET_KEY = _required_in_production(
    "DJANGO_SECRET_KEY", "dev-only-secret-key-do-not-use-in-production-" + _dev_key("secret")
)
# Key ring "kid:base64key,kid2:base64key": the first key encrypts, every key decrypts.
FIELD_ENCRYPTION_KEYS = _required_in_production("FIELD_ENCRYPTION_KEYS", "dev:" + _dev_key("field"))
BLIND_INDEX_KEY = _required_in_production("BLIND_INDEX_KEY", _dev_key("blind-index"))

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    _missing.append("DJANGO_ALLOWED_HOSTS")

if _missing:
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is false but these settings are missing: "
        + ", ".join(_missing)
        + ". Set them in the environment (or as <NAME>_FILE paths). See README.md, 'Configuration'."
    )

# --- Applications -----------------------------------------------------------------------------
INSTALLED_APPS = [
    "accounts.apps.StaffAdminConfig",  # django.contrib.admin with the staff 2FA site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts.apps.AccountsConfig",
    "compliance.apps.ComplianceConfig",
    "leads.apps.LeadsConfig",
    "deals.apps.DealsConfig",
    "anymail",
    "campaigns.apps.CampaignsConfig",
    "webhooks.apps.WebhooksConfig",
    "followups.apps.FollowupsConfig",
    "portal.apps.PortalConfig",
]

MIDDLEWARE = [
    "core.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "core.middleware.StaffSessionIdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The JSON error shape under /api/ in DEBUG too (Django's debug 404/500 pages are HTML); inside the
    # security and request-id middleware, so its answer carries their headers.
    "core.middleware.ApiErrorMiddleware",
    # Last (django-axes): turns a lockout flagged during authenticate() into the 429 answer.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # Production serves static files itself (gunicorn + WhiteNoise, after collectstatic).
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: ~900 req/s vs ~170 with CONN_MAX_AGE=0 on this hardware.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    # PostgreSQL's JIT compiles for 100-250 ms whenever an estimate crosses jit_above_cost; in our
    # short statements (an import's per-batch lookups, the scoring batch's inputs) that was most of
    # their time. Off unless DB_JIT asks for it.
    DATABASES["default"]["OPTIONS"].setdefault(
        "options", f"-c jit={'on' if env.bool('DB_JIT', default=False) else 'off'}"
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache ------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Parallel test workers (pytest-xdist: gw0, gw1 …) each take the Redis database after the configured one,
# because tests clear the cache (FLUSHDB) between them; as PostgreSQL gives each worker its own database.
_TEST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL and _TEST_WORKER.startswith("gw") and _TEST_WORKER[2:].isdigit():
    _redis_base, _slash, _redis_db = REDIS_URL.rpartition("/")
    REDIS_URL = f"{_redis_base}/{int(_redis_db or 0) + 1 + int(_TEST_WORKER[2:])}"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="lp"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task not acknowledged within the visibility timeout is redelivered (acks_late + a dead worker).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "Europe/Berlin"
# The one beat schedule of the product; later features add their periodic tasks here.
CELERY_BEAT_SCHEDULE = {
    "celery-heartbeat": {"task": "config.celery_heartbeat", "schedule": timedelta(minutes=1)},
    "leads-decay": {"task": "leads.lead_decay_task", "schedule": crontab(hour=3, minute=15)},
}
# Webhooks: re-enqueue ledger events that are due for a retry or stuck (worker died, Redis was down).
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {
    "task": "webhooks.webhook_events_sweep_task",
    "schedule": timedelta(minutes=1),
}
# Retention (DSGVO): every registered policy (webhook bodies, inactive leads, audit, …) once a day.
# It replaces the former "webhooks-purge" entry; its task name stays registered as an alias.
CELERY_BEAT_SCHEDULE["compliance-retention"] = {
    "task": "compliance.retention_run_task",
    "schedule": crontab(hour=3, minute=50),
}
# LinkedIn: refresh access tokens a week before they expire; dead tokens mark the connection broken.
CELERY_BEAT_SCHEDULE["linkedin-token-refresh"] = {
    "task": "webhooks.linkedin_tokens_refresh_task",
    "schedule": timedelta(hours=1),
}
# Pool offers: expire unanswered offers (48 h) and re-offer when auto-assignment is on.
CELERY_BEAT_SCHEDULE["leads-offer-expiry"] = {"task": "leads.offer_expire_due_task", "schedule": timedelta(minutes=5)}
# Imports: score leads whose queued scoring batch got lost (Redis down at enqueue, worker died).
CELERY_BEAT_SCHEDULE["leads-score-pending"] = {
    "task": "leads.lead_score_pending_sweep_task",
    "schedule": timedelta(minutes=5),
}
# Pool statistics: keep the default 30-day figures warm, so the page and API-553 never count cold.
CELERY_BEAT_SCHEDULE["leads-pool-stats"] = {"task": "leads.pool_stats_warm_task", "schedule": timedelta(minutes=1)}
# Sequences: claim the due steps (emails, partner tasks) in bounded batches; re-queue expired leases.
CELERY_BEAT_SCHEDULE["followups-due-steps"] = {"task": "followups.run_due_steps_task", "schedule": timedelta(minutes=1)}
# Smart reminders: notify users of reminders that came due (spread, outside quiet hours).
CELERY_BEAT_SCHEDULE["followups-reminders"] = {
    "task": "followups.reminders_notify_task",
    "schedule": timedelta(minutes=5),
}
# Escalations: team members' leads not reached for 7 days, told to the leader once per lead and week.
CELERY_BEAT_SCHEDULE["followups-escalations"] = {
    "task": "followups.escalations_check_task",
    "schedule": crontab(hour=7, minute=0),
}
# Campaigns: Meta's review state and the pause/resume/complete calls that still wait for Meta.
CELERY_BEAT_SCHEDULE["campaigns-meta-status"] = {
    "task": "campaigns.campaign_status_sync_task",
    "schedule": timedelta(minutes=15),
}
# Campaigns: daily insights (spend, impressions, clicks, leads), the last 3 days restated each night.
CELERY_BEAT_SCHEDULE["campaigns-insights"] = {
    "task": "campaigns.campaign_insights_sync_task",
    "schedule": crontab(hour=4, minute=30),
}
# Campaigns: the Conversions API outbox (lead status and deal stage changes of campaign leads).
CELERY_BEAT_SCHEDULE["campaigns-conversions"] = {
    "task": "campaigns.conversion_events_send_task",
    "schedule": timedelta(minutes=5),
}

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# Partners sign in to the portal (Zone 2); the admin console has its own login page.
LOGIN_URL = "/portal/leads/login/"
LOGIN_REDIRECT_URL = "/portal/leads/"
# django-axes first: it refuses locked accounts/IPs before any password is checked (accounts/security.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Sign-in lockout: an account after 5 failures, a client IP after 20, each for 15 minutes after the last
# failed try (every refused try restarts it); an admin unlocks earlier (user admin action, "Access attempts").
LOGIN_LOCKOUT_ACCOUNT_FAILURES = env.int("LOGIN_LOCKOUT_ACCOUNT_FAILURES", default=5)
LOGIN_LOCKOUT_IP_FAILURES = env.int("LOGIN_LOCKOUT_IP_FAILURES", default=20)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
AXES_HANDLER = "accounts.security.LoginLockoutHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = LOGIN_LOCKOUT_ACCOUNT_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_USERNAME_CALLABLE = "accounts.security.login_username"
AXES_CLIENT_IP_CALLABLE = "core.ratelimit.client_ip"  # X-Forwarded-For only from TRUSTED_PROXIES
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # failures are what we need; no log of every successful sign-in (PII)
AXES_VERBOSE = False
# Password reset requests (portal): per client IP and per address.
PASSWORD_RESET_RATE_IP = env.str("PASSWORD_RESET_RATE_IP", default="20/h")
PASSWORD_RESET_RATE_ACCOUNT = env.str("PASSWORD_RESET_RATE_ACCOUNT", default="5/h")
# Two-factor (TOTP, django-otp): staff must enroll before using the admin; on by default in production.
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=not DEBUG)
OTP_TOTP_ISSUER = "Lead-Plattform"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18n -------------------------------------------------------------------------------------
LANGUAGE_CODE = "de"
LANGUAGES = [("de", _("German")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Email ------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
globals().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Lead-Plattform <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# An ESP through django-anymail: EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend plus its ANYMAIL_*
# settings (e.g. ANYMAIL_POSTMARK_SERVER_TOKEN); tracking webhooks under /anymail/<esp>/tracking/,
# protected by basic auth with ESP_WEBHOOK_SECRET ("user:password") and the ESP's own signature.
if env.str("EMAIL_BACKEND", default=""):
    EMAIL_BACKEND = env.str("EMAIL_BACKEND")
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_") and key != "ANYMAIL_WEBHOOK_SECRET"
}
ANYMAIL["WEBHOOK_SECRET"] = env_secret("ESP_WEBHOOK_SECRET", "") or env_secret("ANYMAIL_WEBHOOK_SECRET", "") or None
# Marketing emails leave only in this window of the recipient's local time; "Mon-Sun 00:00-24:00" = any time.
EMAIL_SEND_WINDOW = env.str("EMAIL_SEND_WINDOW", default="Mon-Fri 08:00-18:00")
# At most N marketing emails per recipient in D days, across all sequences ("2/7d").
EMAIL_FREQUENCY_CAP = env.str("EMAIL_FREQUENCY_CAP", default="2/7d")
# Due steps one tick claims at most (then it queues another tick).
FOLLOWUPS_TICK_BATCH = env.int("FOLLOWUPS_TICK_BATCH", default=500)

# --- Security ---------------------------------------------------------------------------------
CSRF_FAILURE_VIEW = "core.api.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Staff sessions (platform admins, internal ops) end after this many seconds without a request;
# partners keep Django's two-week session. Login rotates the session key (django.contrib.auth.login).
STAFF_SESSION_IDLE_SECONDS = env.int("STAFF_SESSION_IDLE_SECONDS", default=30 * 60)
# Content-Security-Policy (django-csp): scripts only from our own static files (vendored htmx and
# SortableJS, portal.js, the admin's and Swagger UI's sidecar files: /api/docs/ loads its init script
# from a URL too). Styles allow 'unsafe-inline' for the style attributes of the admin and portal
# templates and Django admin's own <style>; no inline script, no eval, no framing, no foreign origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Permissions-Policy (django-permissions-policy): no page of ours uses these browser features.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    if env.bool("SECURE_PROXY_SSL", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Integrations (SPEC §13); each is on only when configured ---------------------------------
META_APP_ID = env.str("META_APP_ID", default="")
META_APP_SECRET = env_secret("META_APP_SECRET", "") or ""
META_VERIFY_TOKEN = env_secret("META_VERIFY_TOKEN", "") or ""
# Instagram-Login webhooks are signed with the Instagram app secret (optional; else META_APP_SECRET).
META_INSTAGRAM_APP_SECRET = env_secret("META_INSTAGRAM_APP_SECRET", "") or ""
# The one place the Graph API version lives: Meta retires a version about two years after release (error 2635).
META_GRAPH_API_URL = env.str("META_GRAPH_API_URL", default="https://graph.facebook.com/v25.0").rstrip("/")
# Managed ads (SPEC §10): the platform's ad account (digits; the product adds "act_"), its system-user
# token and the page the ads run on; without them an admin attaches ids booked by hand.
META_AD_ACCOUNT_ID = env.str("META_AD_ACCOUNT_ID", default="").removeprefix("act_")
META_ADS_ACCESS_TOKEN = env_secret("META_ADS_ACCESS_TOKEN", "") or ""
META_ADS_PAGE_ID = env.str("META_ADS_PAGE_ID", default="")
# Conversions API (CRM integration): lead and deal changes of campaign leads go back to Meta when set.
META_DATASET_ID = env.str("META_DATASET_ID", default="")
LINKEDIN_CLIENT_ID = env.str("LINKEDIN_CLIENT_ID", default="")
LINKEDIN_CLIENT_SECRET = env_secret("LINKEDIN_CLIENT_SECRET", "") or ""
LINKEDIN_API_URL = env.str("LINKEDIN_API_URL", default="https://api.linkedin.com").rstrip("/")
LINKEDIN_OAUTH_URL = env.str("LINKEDIN_OAUTH_URL", default="https://www.linkedin.com/oauth/v2").rstrip("/")
LINKEDIN_VERSION = env.str("LINKEDIN_VERSION", default="202509")
# OAuth scopes the connect flow requests (Lead Sync API; add e.g. r_organization_social for organic leads).
LINKEDIN_SCOPES = env.list("LINKEDIN_SCOPES", default=["r_marketing_leadgen_automation", "r_ads"])
WEBHOOK_RATE_LIMIT = env.str("WEBHOOK_RATE_LIMIT", default="100/m")
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
WEBHOOK_IP_ALLOWLIST_FACEBOOK = env.list("WEBHOOK_IP_ALLOWLIST_FACEBOOK", default=[])
WEBHOOK_IP_ALLOWLIST_INSTAGRAM = env.list("WEBHOOK_IP_ALLOWLIST_INSTAGRAM", default=[])
WEBHOOK_IP_ALLOWLIST_LINKEDIN = env.list("WEBHOOK_IP_ALLOWLIST_LINKEDIN", default=[])
SLACK_WEBHOOK_URL = env_secret("SLACK_WEBHOOK_URL", "") or ""
ENRICHMENT_API_URL = env.str("ENRICHMENT_API_URL", default="").rstrip("/")
ENRICHMENT_API_KEY = env_secret("ENRICHMENT_API_KEY", "") or ""
LLM_API_URL = env.str("LLM_API_URL", default="").rstrip("/")
LLM_API_KEY = env_secret("LLM_API_KEY", "") or ""
LLM_MODEL = env.str("LLM_MODEL", default="")
# Outbound HTTP: (connect, read) timeouts in seconds for every provider client.
HTTP_TIMEOUT = (env.float("HTTP_CONNECT_TIMEOUT", default=3.05), env.float("HTTP_READ_TIMEOUT", default=15.0))

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Per user / API key, and per client IP without credentials; counters in the default cache.
    # The capture API (API-580) and the webhook receiver have their own per-IP limits instead.
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.PrincipalRateThrottle", "core.throttling.AnonIpRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "core.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "SIGNING_KEY": SECRET_KEY,
    "USER_ID_FIELD": "id",
    "UPDATE_LAST_LOGIN": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lead-Plattform API",
    "DESCRIPTION": "Lead capture, pool, partner pipeline and follow-ups. Every operation names its API-ID.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    # Swagger UI served from our own static files: the product works offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Fields named alike with different choices (lead vs deal stage, lead vs contact channel) get distinct names.
    "ENUM_NAME_OVERRIDES": {
        "LeadStageEnum": "leads.models.Lead.Stage",
        "LeadChannelEnum": "leads.models.Lead.Channel",
        "DealStageEnum": "deals.models.PartnerDeal.Stage",
        "DealStartStageEnum": "deals.services.START_STAGE_CHOICES",
        "ContactChannelEnum": "leads.services.work.ContactChannel",
        "LeadStatusEnum": "leads.models.Lead.Status",
        "LeadSourceEnum": "leads.models.Lead.Source",
        "CampaignStatusEnum": "campaigns.models.AdCampaign.Status",
        "RunStatusEnum": "followups.models.SequenceRun.Status",
        "ReminderStatusEnum": "followups.models.Reminder.Status",
        "ReminderPriorityEnum": "followups.models.Reminder.Priority",
        "BatchSendStatusEnum": [("sent", "sent"), ("task", "task"), ("skipped", "skipped")],
        "MessageSourceEnum": [("template", "template"), ("llm", "llm")],
    },
}

# --- Logging: structured JSON lines with request ids, never raw PII ---------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Product settings -------------------------------------------------------------------------
OFFER_TTL_HOURS = env.int("OFFER_TTL_HOURS", default=48)
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60


# Retention (compliance.services.retention, beat "compliance-retention"): days after which data goes.
# Raw webhook bodies and finished events' payloads are blanked; email events (tracking) are deleted;
# leads without activity and without a deal are anonymised; audit events are deleted.
# 0 or a negative number keeps that data forever; a value that is not whole days stops start-up.
RETENTION_MAX_DAYS = 36500  # a hundred years; longer is "forever" (0) in all but name


def _retention_days(name: str, default: int) -> int:
    """A retention period in whole days from ``NAME`` (unset or empty: ``default``); <= 0 keeps forever."""
    raw = env.str(name, default="").strip() or str(default)
    try:
        days = int(raw)
    except ValueError:
        days = None
    if days is None or days > RETENTION_MAX_DAYS:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a retention period: give whole days up to {RETENTION_MAX_DAYS} "
            f"(e.g. {name}={default}), or 0 to keep the data forever."
        )
    return days


RETENTION_WEBHOOK_BODY_DAYS = _retention_days("RETENTION_WEBHOOK_BODY_DAYS", 30)
RETENTION_EMAIL_EVENT_DAYS = _retention_days("RETENTION_EMAIL_EVENT_DAYS", 365)
RETENTION_INACTIVE_LEAD_DAYS = _retention_days("RETENTION_INACTIVE_LEAD_DAYS", 3 * 365)
RETENTION_AUDIT_DAYS = _retention_days("RETENTION_AUDIT_DAYS", 3650)
