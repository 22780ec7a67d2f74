"""PostgreSQL restarted in the middle of a sync: a real Celery worker on Redis syncs 2,000 Jira issues
from the slowed sandbox into a private PostgreSQL cluster, restarted (fast shutdown) after the first
stored batch: either back at once, so the worker's next store meets its terminated session, or down
until the worker has met the outage. Either way the task retries, the run resumes from its cursor and
ends succeeded with exactly 2,000 work items, none twice.

The cluster is the test's own (initdb into a temporary directory, a free port): CI runs the suite with
two pytest workers against the machine's one PostgreSQL server, which must not be restarted under the
other. Runs only in the PostgreSQL + Redis pass, as root with Debian's PostgreSQL binaries (as in CI).
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from kombu import Exchange, Queue

from integrations.sandbox.server import Fault
from integrations.tasks import connection_sync_task
from tests.conftest import REPO

ISSUES = 2000  # two stored batches of about 1,000 issues


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def why_not_runnable() -> str:
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        return "needs a real worker on Redis (the PostgreSQL + Redis pass, CELERY_BROKER_URL=redis://...)"
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        return "only in the PostgreSQL + Redis pass (DATABASE_URL=postgres://...)"
    if postgres_bin() is None or not (postgres_bin() / "initdb").exists():
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if shutil.which("runuser") is None or os.geteuid() != 0:
        return "needs root and runuser to run a private cluster as the postgres user"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres OS user to own the private cluster"
    return ""


pytestmark = pytest.mark.skipif(bool(why_not_runnable()), reason=why_not_runnable() or "runnable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class PrivatePostgres:
    """A throwaway PostgreSQL cluster owned by the postgres OS user (the server refuses to run as root)."""

    def __init__(self):
        self.bin = postgres_bin()
        self.home = Path(tempfile.mkdtemp(prefix="flightdeck-pg-"))
        shutil.chown(self.home, user="postgres")
        self.data, self.log = self.home / "data", self.home / "server.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/flightdeck"

    def _as_postgres(self, tool: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> "PrivatePostgres":
        self._as_postgres("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE flightdeck")
        return self

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        """Fast shutdown, as a restart does: open sessions are terminated (AdminShutdown, SQLSTATE 57P01)."""
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def _pg_ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", *args
        )

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.home, ignore_errors=True)

    def dsn(self, database: str = "flightdeck") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def query(self, sql: str, *params):
        """One row, or None while the server is down (a new connection each time: it restarts)."""
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                return conn.execute(sql, params).fetchone()
        except psycopg.OperationalError:
            return None


@pytest.fixture
def private_postgres():
    cluster = PrivatePostgres()
    try:
        yield cluster.init()
    finally:
        cluster.destroy()


def subprocess_env(database_url: str) -> dict:
    return os.environ | {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": settings.SECRET_KEY,  # the credentials are encrypted with a key derived from it
    }


def prepare(cluster: PrivatePostgres, server) -> dict:
    dataset = server.routes.dataset
    sandbox = {
        "url": server.url,
        "username": dataset.username,
        "token": dataset.token,
        "projects": list(dataset.projects),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.integrations.postgres_restart_setup", json.dumps(sandbox)],
        cwd=REPO,
        env=subprocess_env(cluster.url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def worker(private_postgres, tmp_path):
    """start(queue, hold=False) -> the directory of a real worker on Redis (its worker.log, and the
    files of postgres_restart_app's hold), taking only that queue, on the private database."""
    started = []

    def start(queue: str, *, hold: bool = False) -> Path:
        env = subprocess_env(private_postgres.url) | ({"FLIGHTDECK_HOLD_DIR": str(tmp_path)} if hold else {})
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "tests.integrations.postgres_restart_app",
        ]
        command += ["worker", "-Q", queue, "--concurrency", "1", "--without-mingle", "--without-gossip"]
        with (tmp_path / "worker.log").open("w") as out:
            started.append(
                subprocess.Popen(
                    [*command, "--loglevel", "info"],
                    cwd=REPO,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return tmp_path

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def restart_at_once(cluster: PrivatePostgres, workdir: Path) -> None:
    """Back within a second: the worker's next store meets its terminated session."""
    cluster.restart()


def down_until_the_worker_noticed(cluster: PrivatePostgres, workdir: Path) -> None:
    """Down until the worker met the outage (its next batch failed, the task asked for a retry)."""
    cluster.stop()
    log = workdir / "worker.log"
    wait_for(lambda: "retry: Retry in" in log.read_text(), timeout=30, what="the task's retry")
    cluster.start()


def restart_inside_a_page_transaction(cluster: PrivatePostgres, workdir: Path) -> None:
    """The worker holds its second batch inside the page's open transaction (postgres_restart_app):
    the restart aborts it half written, and the worker goes on on its terminated session."""
    wait_for(lambda: (workdir / "storing").exists(), timeout=30, what="the second batch's transaction")
    cluster.restart()
    (workdir / "go").touch()


@pytest.mark.parametrize(
    "outage", [restart_at_once, down_until_the_worker_noticed, restart_inside_a_page_transaction]
)
def test_a_postgresql_restart_mid_sync_is_retried_and_the_sync_completes(
    private_postgres, jira_sandbox, worker, outage
):
    server = jira_sandbox(issues=ISSUES, projects=("PAY",))
    server.faults.append(Fault("slow", path="/search/jql", delay=0.25, times=1000))
    ids = prepare(private_postgres, server)
    queue = f"pg-restart-{uuid.uuid4().hex[:12]}"
    with connection_sync_task.app.connection_for_write() as broker:
        Queue(queue, Exchange(queue), routing_key=queue)(broker).declare()  # before the worker binds it
    workdir = worker(queue, hold=outage is restart_inside_a_page_transaction)
    log = workdir / "worker.log"
    connection_sync_task.apply_async(kwargs=ids, queue=queue)

    def run() -> tuple:
        return private_postgres.query(
            "SELECT status, items_created, attempts, error FROM integrations_syncrun WHERE id = %s",
            ids["run_id"],
        )

    wait_for(lambda: (row := run()) and row[1] >= 1000, timeout=60, what="the first stored batch")
    outage(private_postgres, workdir)

    status, created, attempts, error = wait_for(
        lambda: (row := run()) and row[0] in ("succeeded", "failed") and row, timeout=60, what="the run's end"
    )
    assert (status, error) == ("succeeded", ""), log.read_text()[-3000:]
    assert attempts >= 2  # started, then resumed by the retry
    retried = [line for line in log.read_text().splitlines() if "retry: Retry in" in line]
    assert "OperationalError" in retried[0], retried[0]
    total, distinct = private_postgres.query(
        "SELECT count(*), count(DISTINCT external_id) FROM releases_workitem"
    )
    assert (total, distinct) == (ISSUES, ISSUES)
    (releases,) = private_postgres.query("SELECT count(*) FROM releases_release")
    assert created == ISSUES + releases  # every row created once: no batch was stored twice
