"""The fault suite's own services: a PostgreSQL cluster and a Redis of its own, and
Failsafe's web server, Celery worker and beat as separate processes, as the Procfile runs
them. Everything lives in one temporary folder on ports of its own, so restarting or
killing any of it touches nothing else on the machine."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
WORKER = "failsafe-worker"


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, ready, timeout: float = 60.0, every: float = 0.05) -> float:
    """Wait until `ready()` is true; the seconds it took. Fails the run after `timeout`."""
    started = time.monotonic()
    while not ready():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started


def free(port: int) -> int:
    if listening(port):
        raise RuntimeError(f"port {port} is taken: set FAULTS_*_PORT to free ones")
    return port


class Postgres:
    """A cluster made with initdb in `folder`. initdb refuses to run as root, so as root the
    cluster belongs to the `postgres` OS user and its commands run as that user."""

    def __init__(self, folder: Path, port: int) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        pg_ctl = Path(found[-1]) if found else Path(shutil.which("pg_ctl") or "pg_ctl")
        self.bin = pg_ctl.parent
        self.port = free(port)
        self.data = folder / "pgdata"
        self.log = folder / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgres://postgres@127.0.0.1:{port}/failsafe"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.data.parent}'\nmax_connections = 200\n"
            )
        self.start()
        self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", "failsafe",
        )  # fmt: skip

    def start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", "120", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`immediate`: every backend killed at once, crash recovery at the next start."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


class Process:
    """One long-running process in a session of its own (so a kill reaches its children:
    uvicorn's workers, Celery's pool), its output into `<name>.log`."""

    def __init__(self, name: str, command: list[str], folder: Path, env: dict[str, str]):
        self.name, self.command, self.env = name, command, env
        self.log_path = folder / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.popen = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, number: int) -> None:
        if self.alive():
            assert self.popen is not None
            os.killpg(self.popen.pid, number)

    def kill(self) -> None:
        """SIGKILL to the process and all its children: no clean-up, no acknowledgement."""
        self.signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait(self, timeout: float = 15) -> None:
        if self.popen is not None:
            self.popen.wait(timeout)
            # Children that outlive their parent (a pool's process) go with the session.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def procfile() -> dict[str, str]:
    """The Procfile's command of each process type."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and not line.startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


class Stack:
    """PostgreSQL, Redis, web, worker and beat, all Failsafe's production settings
    (config/settings.py) pointed at this stack's own ports."""

    def __init__(self, pg_port: int, redis_port: int, web_port: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="failsafe-faults-"))
        self.postgres = Postgres(self.folder, pg_port)
        self.redis_port = free(redis_port)
        self.web_port = free(web_port)
        self.url = f"http://127.0.0.1:{web_port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SECRET_KEY": "faults-only-key-long-enough-0123456789abcdef",
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "STATIC_ROOT": str(self.folder / "static"),
            "HOST": "127.0.0.1",
            "WEB_PORT": str(web_port),
            "PATH": f"{PYTHON.parent}:{os.environ.get('PATH', '')}",
            # Due work looked for every 2 s and outputs sampled every 3 s instead of 10 s and
            # 30 s: the same code, a shorter wait for it.
            "CELERY_DUE_WORK_SECONDS": "2",
            "FAILSAFE_REVIEW_SAMPLE_SECONDS": "3",
        }
        self.env.pop("DEBUG", None)
        entries = procfile()
        self.redis = Process(
            "redis",
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            self.folder, self.env,
        )  # fmt: skip
        self.web = Process("web", ["bash", "-c", "exec " + entries["web"]], self.folder, self.env)
        # Named in pg_stat_activity, so a scenario can kill it in the middle of a task.
        worker_env = {**self.env, "DATABASE_URL": f"{self.postgres.url}?application_name={WORKER}"}
        self.worker = Process(
            "worker", ["bash", "-c", "exec " + entries["worker"]], self.folder, worker_env
        )
        schedule = self.folder / "celerybeat-schedule"
        self.beat = Process(
            "beat", ["bash", "-c", f"exec {entries['beat']} --schedule {schedule}"],
            self.folder, self.env,
        )  # fmt: skip

    # Redis
    def redis_start(self) -> float:
        self.redis.start()
        return wait_for("redis", lambda: listening(self.redis_port), 30)

    def redis_stop(self) -> None:
        self.redis.stop()

    # The web server
    def web_start(self) -> float:
        self.web.start()
        return wait_for("web", self.web_answers, 60)

    def web_answers(self) -> bool:
        if not self.web.alive():
            raise RuntimeError("the web server exited:\n" + self.web.tail())
        return listening(self.web_port)

    def close(self) -> None:
        for process in (self.beat, self.worker, self.web, self.redis):
            try:
                process.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                print(f"stopping {process.name}: {exc!r}")
        if self.postgres.running():
            try:
                self.postgres.stop("immediate")
            except subprocess.CalledProcessError as exc:
                print(f"stopping postgres: {exc!r}")
        if os.environ.get("FAULTS_KEEP"):
            print(f"kept {self.folder}")
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
