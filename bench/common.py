"""What the benchmarks share: production settings on the bench's own database and Redis.

The scripts default to the environment below (each value can be overridden); the
database must be a bench database (its name ends in `_bench`), since they fill it.
"""

import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BENCH_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/failsafe_bench",
    "REDIS_URL": "redis://127.0.0.1:6379/7",
    "SECRET_KEY": "bench-only-key-long-enough-0123456789abcdef",
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    # Production's manifest storage needs collected static files; keep them out of the repo.
    "STATIC_ROOT": str(Path(tempfile.gettempdir()) / "failsafe-bench-static"),
}


def bench_environ() -> dict[str, str]:
    """The environment the benchmarks (and any server they start) run with."""
    environ = dict(os.environ)
    for key, value in BENCH_ENV.items():
        environ.setdefault(key, value)
    environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return environ


def setup_django() -> None:
    """Production settings (DEBUG unset) on the bench database, migrated, static collected."""
    os.environ.update(bench_environ())
    if os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"}:
        sys.exit("Benchmarks measure production settings: unset DEBUG.")
    database = os.environ["DATABASE_URL"].rsplit("/", 1)[-1].split("?", 1)[0]
    if not database.endswith("_bench"):
        sys.exit(f"Refusing to fill {database!r}: point DATABASE_URL at a *_bench database.")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()

    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    print(f"set-up: migrate + collectstatic in {time.perf_counter() - started:.1f} s")


def person(username: str, group: str):
    """A user in the role group `group` (groups come from migration core/0002)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save()
    user.groups.add(Group.objects.get(name=group))
    return user


def check(condition: bool, message) -> None:
    """Stop the run when a response is not what a real page would get."""
    if not condition:
        sys.exit(f"unexpected: {message}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
