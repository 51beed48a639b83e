#!/usr/bin/env bash
# Set up and run the whole test suite on real PostgreSQL and Redis.
#   bash scripts/test.sh                 # lint, migration check and every test
#   bash scripts/test.sh tests/leads -x  # only pytest, with these arguments
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

# Browser tests drive Debian's Chromium (Playwright never downloads a browser build here).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing chromium (apt)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/tmp/apt-chromium.log 2>&1 \
    || { tail -5 /tmp/apt-chromium.log >&2; echo "chromium is missing: browser tests will be skipped" >&2; }
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Reinstall only when the pinned dependencies changed.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "== installing dependencies"
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]" >.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi

export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/leadplatform}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/12}  # test workers use 13, 14 (config/settings.py)
export CELERY_TASK_ALWAYS_EAGER=true
export DJANGO_DEBUG=true
unset DJANGO_SETTINGS_MODULE

psql "${DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'leadplatform'" 2>/dev/null | grep -q 1 \
  || psql "${DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE leadplatform" 2>/dev/null || true

if [ $# -eq 0 ]; then
  echo "== ruff check";            .venv/bin/ruff check .
  echo "== ruff format --check";   .venv/bin/ruff format --check .
  echo "== makemigrations --check"; .venv/bin/python manage.py makemigrations --check --dry-run
  echo "== lint-imports (floors)";  .venv/bin/lint-imports --no-cache
fi
echo "== pytest"
# Two workers (pytest-xdist), each with its own test database and Redis database (config/settings.py);
# TEST_WORKERS=0 runs in one process (e.g. for pdb).
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" "$@"
