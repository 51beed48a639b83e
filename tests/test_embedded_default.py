"""The embedded default (no environment at all) and production start-up rules, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "BLIND_INDEX_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "EMAIL_URL",
    "DJANGO_SETTINGS_MODULE",
)

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "broker": settings.CELERY_BROKER_URL,
    "cache": settings.CACHES["default"]["BACKEND"],
    "email": settings.EMAIL_BACKEND,
    "debug": settings.DEBUG,
    "language": settings.LANGUAGE_CODE,
}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_no_environment_means_sqlite_eager_locmem_console():
    result = run(["-c", PROBE], clean_env())
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe == {
        "engine": "django.db.backends.sqlite3",
        "eager": True,
        "broker": "memory://",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "email": "django.core.mail.backends.console.EmailBackend",
        "debug": True,
        "language": "de",
    }


@pytest.mark.slow
def test_embedded_default_migrates_and_seeds_on_sqlite(tmp_path):
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'smoke.sqlite3'}")
    for args in (["manage.py", "migrate", "-v0"], ["manage.py", "seed_demo"], ["manage.py", "check"]):
        result = run(args, env)
        assert result.returncode == 0, result.stderr
    probe = (
        "from leads.models import Lead; from campaigns.models import AdCampaign; from followups.models import "
        "SequenceRun, Reminder; print(Lead.objects.count(), AdCampaign.objects.count(), "
        "SequenceRun.objects.count() > 0, Reminder.objects.count() > 0)"
    )
    result = run(["manage.py", "shell", "-c", probe], env)
    # 48 leads of every channel and stage plus 25 that came in through the demo campaigns' lead forms.
    assert result.stdout.strip().splitlines()[-1] == "73 7 True True"


def test_production_without_secrets_refuses_to_start():
    result = run(["-c", PROBE], clean_env(DJANGO_DEBUG="false"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "DJANGO_ALLOWED_HOSTS"):
        assert name in result.stderr


def test_secrets_may_come_from_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s" * 60 + "\n")
    env = clean_env(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY_FILE=str(secret),
        FIELD_ENCRYPTION_KEYS="p1:" + "A" * 43 + "=",
        BLIND_INDEX_KEY="b" * 40,
        DJANGO_ALLOWED_HOSTS="leads.example.com",
    )
    result = run(
        ["-c", "import django; from django.conf import settings; django.setup(); print(settings.SECRET_KEY)"], env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "s" * 60


def test_check_deploy_with_production_environment_is_clean():
    env = clean_env(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="x7Gq2vN9pL4mR8sT1wY6zB3cD5fH0jK-aE_uI!oP@lQ#nM$rS%tV^",
        FIELD_ENCRYPTION_KEYS="p1:" + "A" * 43 + "=",
        BLIND_INDEX_KEY="b" * 40,
        DJANGO_ALLOWED_HOSTS="leads.example.com",
        SITE_URL="https://leads.example.com",
    )
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
