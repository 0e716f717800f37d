"""What the benchmarks share: production settings on the bench's own database and Redis.

The scripts default to the environment below (each value can be overridden); the
database must be a bench database (its name ends in `_bench`), since they fill it.
"""

import http.client
import math
import os
import secrets
import signal
import socket
import subprocess
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


# --- A real server in a subprocess (room_delivery, kill_switch, mode_throughput) ----------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    port: int,
    log,
    app: str = "config.asgi:application",
    environ: dict | None = None,
    workers: int = 1,
) -> subprocess.Popen:
    """`uvicorn <app>` (one worker unless told, no lifespan) on 127.0.0.1:port in a session
    of its own, with the bench environment (plus `environ`), its output into the file `log`.
    With `workers` > 1 the process returned is uvicorn's supervisor; the workers are its
    children (`stop_server` ends the whole session)."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--lifespan",
        "off",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command,
        cwd=ROOT,
        env={**bench_environ(), **(environ or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def signed_in_headers(port: int, cookie_name: str, session: str, **extra: str) -> dict:
    """Headers of a signed-in person's POST to the server on `port`: the session cookie
    and a CSRF secret sent both as the cookie and as the header, as a page would."""
    csrf = secrets.token_hex(16)  # a 32-character CSRF secret, as the cookie holds
    return {
        "Host": f"127.0.0.1:{port}",
        "Origin": f"http://127.0.0.1:{port}",
        "Cookie": f"{cookie_name}={session}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        **extra,
    }


def stop_and_show_log(server: subprocess.Popen, log) -> None:
    """Stop the server, then print the end of what it logged, if anything."""
    stop_server(server)
    log.seek(0)
    output = log.read().strip()
    if output:
        print("server log (last lines):\n" + "\n".join(output.splitlines()[-15:]))


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it if it has not gone within 5 s."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


def wait_until_up(server: subprocess.Popen, port: int, timeout: float = 30.0) -> None:
    """Wait until the server answers /healthz (200 or 503: it serves)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz", headers={"Host": f"127.0.0.1:{port}"})
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def process_status(pid: int) -> dict[str, int]:
    """VmRSS (kB) and Threads of a process, from /proc/<pid>/status."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "Threads"}:
            found[key] = int(value.split()[0])
    return found


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
