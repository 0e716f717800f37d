import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    # Only what a production host would have: none of the suite's own settings.
    suite_only = {"DEBUG", "SECURE_SSL_REDIRECT", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    production = {k: v for k, v in os.environ.items() if k not in suite_only}
    production.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_deploy_check_is_clean_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="failsafe.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/failsafe",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DATABASE_URL="postgres://postgres@127.0.0.1:5432/failsafe")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_database_pool_gives_up_a_lost_connection_soon_so_a_restart_is_over_in_seconds():
    # psycopg's pool retries a lost connection 1, 2, 4, 8 s apart: with its default (give up
    # after five minutes) a 3 s PostgreSQL restart held every request for 15 s (make faults,
    # scenario 2). Giving up after 2 s lets the next request connect afresh.
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['pool'])",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/failsafe",
        DB_POOL_MAX_SIZE="10",
    )
    assert result.returncode == 0, result.stderr
    assert "'reconnect_timeout': 2.0" in result.stdout
