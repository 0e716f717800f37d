"""The stack every scenario runs against, started once: PostgreSQL and Redis of its own,
then migrate, then web, worker and beat (see stack.py). The harness itself reads and
writes the database through Django, on the same settings."""

from __future__ import annotations

import os
import time

import pytest

from faults.figures import load
from faults.stack import Stack, wait_for

TABLES: list[str] = []


@pytest.fixture(scope="session")
def stack():
    started = time.monotonic()
    stack = Stack(
        pg_port=int(os.environ.get("FAULTS_PG_PORT", "55432")),
        redis_port=int(os.environ.get("FAULTS_REDIS_PORT", "56379")),
        web_port=int(os.environ.get("FAULTS_WEB_PORT", "8500")),
    )
    steps: list[str] = []

    def step(name: str, since: float) -> float:
        now = time.monotonic()
        steps.append(f"{name} {now - since:.1f}")
        return now

    try:
        stack.postgres.init()
        at = step("initdb+start", started)
        stack.redis_start()
        for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SECURE_SSL_REDIRECT",
                    "ALLOWED_HOSTS", "STATIC_ROOT", "DJANGO_SETTINGS_MODULE",
                    "CELERY_DUE_WORK_SECONDS", "FAILSAFE_REVIEW_SAMPLE_SECONDS"):  # fmt: skip
            os.environ[key] = stack.env[key]
        os.environ.pop("DEBUG", None)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        at = step("migrate", at)
        # The worker and beat take their time to start: meanwhile, static files and web.
        stack.worker.start()
        stack.beat.start()
        call_command("collectstatic", interactive=False, verbosity=0)
        at = step("collectstatic", at)
        stack.web_start()
        at = step("web", at)
        from faults.world import celery_heartbeat_after

        wait_for("the worker's first heartbeat", lambda: celery_heartbeat_after(0), 120, 0.5)
        step("first Celery heartbeat", at)
        TABLES.append(
            f"stack up in {time.monotonic() - started:.1f} s (postgres :{stack.postgres.port}, "
            f"redis :{stack.redis_port}, web :{stack.web_port}, worker, beat; "
            f"load average {load()}) in {stack.folder}; s: {', '.join(steps)}"
        )
        yield stack
    finally:
        stack.close()


@pytest.fixture
def figures():
    """Append a scenario's table; all of them are printed at the end of the run."""
    return TABLES.append


def pytest_terminal_summary(terminalreporter):
    if TABLES:
        terminalreporter.section("fault suite figures")
        for table in TABLES:
            terminalreporter.write_line(table)
