"""Instance B's page p95 without and with a large Jira sync running in instance A; one JSON object.

    nice .venv/bin/python bench/instances.py [--issues 100000] [--requests 300]
    nice .venv/bin/python bench/instances.py --database-server postgres://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/3

Two instances are stamped with `python -m instances` under a temporary root (SQLite and the filesystem
broker by default; with --database-server each gets its own PostgreSQL database and role, with
--redis-url its own key prefix there), each with its own Celery worker on its own queues (`default`,
`sync`). B is seeded with the small demo (`seed_demo --scale small`) and served by its own gunicorn;
A gets a Jira Cloud connection to the tool sandbox serving --issues issues (as bench/sync.py).

1. before: B's pages (home, release list, calendar month, the REST API's release list) requested
   --requests times in turn over HTTP, signed in as B's admin, with A's worker idle;
2. during: A's sync is queued on A's broker and run by A's worker; B's pages are requested the same
   way for as long as the sync runs (only requests that end while A's run is `running` count);
3. after: as before, once A's sync has finished.

The figure is the ratio of B's p95 during A's sync over its p95 at rest (before and after pooled, so
that a drift of the shared machine's load falls on both sides); target <= 1.2. B's tasks: a heartbeat
task is sent to B's queue TASK_SAMPLES times with A idle and with A syncing, and the time from sending
until B's worker ran it is reported.

Everything runs on one machine: A's worker, the sandbox and B's web share its cores unless --pin puts
A (worker, sandbox) on CPU 0 and B (web, worker) on CPU 1 with taskset, as separate machines or CPU
quotas would in a deployment (this script and its timing client stay unpinned).
"""

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import REPO, percentiles

sys.path.insert(0, str(REPO))
from instances import core

PROJECTS = ("PAY", "WEB", "APP", "OPS")
PAGES = {
    "home": "/",
    "release_list": "/releases/",
    "calendar_month": "/calendar/",
    "api_releases": "/api/v1/releases/",
}
TARGET_RATIO = 1.2
TASK_SAMPLES = 3
BIN = Path(sys.executable).parent

MAKE_CONNECTION = """
import json
from integrations.models import ApplicationMapping, Connection
from releases.models import Application, Portfolio
portfolio = Portfolio.objects.create(name="Bench", slug="bench")
connection = Connection.objects.create(name="Bench Jira", kind="jira_cloud", base_url={url!r},
    scope={{"projects": {projects!r}}}, request_budget=10_000)
connection.credentials = {{"username": "sync-bot@example.com", "token": "sandbox-token"}}
connection.save()
for project in {projects!r}:
    app = Application.objects.create(portfolio=portfolio, name=project, key=project)
    ApplicationMapping.objects.create(connection=connection, application=app, external_key=project)
print(json.dumps({{"id": connection.pk}}))
"""
QUEUE_SYNC = """
import json
from integrations.models import Connection
from integrations.tasks import sync_run_queue
run = sync_run_queue(connection=Connection.objects.get(pk={pk}), by=None)
print(json.dumps({{"run": run.pk}}))
"""
SYNC_RUN = """
import json
from integrations.models import SyncRun
run = SyncRun.objects.get(pk={pk})
print(json.dumps({{"status": run.status, "fetched": run.items_fetched, "error": run.error,
    "started": run.started_at.isoformat() if run.started_at else None,
    "finished": run.finished_at.isoformat() if run.finished_at else None}}))
"""
HEARTBEAT_SEND = """
import json, time
from portal.tasks import worker_heartbeat_task
sent = time.time()  # before sending: a worker on an idle broker may run it before delay() returns
worker_heartbeat_task.delay()
print(json.dumps({"sent": sent}))
"""


def main() -> None:
    options = parse_args()
    root = Path(tempfile.mkdtemp(prefix="flightdeck-bench-instances-"))
    processes: list[subprocess.Popen] = []
    made = []
    try:
        result = run(options, root, processes, made)
    finally:
        for process in processes:
            stop(process)
        for instance in made:
            if instance.complete:
                core.retire(instance.name, root=root, server_url=options.database_server)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=100_000, help="issues A's sync reads (default 100,000)")
    parser.add_argument("--requests", type=int, default=300, help="B's requests at baseline")
    parser.add_argument("--port", type=int, default=8310, help="B's web server")
    parser.add_argument("--database-server", default="", help="PostgreSQL server URL; default SQLite")
    parser.add_argument("--redis-url", default="", help="Redis for both brokers; default filesystem")
    parser.add_argument("--pin", action="store_true", help="A on CPU 0, B on CPU 1 (taskset)")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="the workers' and the sandbox's niceness, as deploy/systemd/flightdeck-worker@.service sets it "
        "(the sandbox stands in for Jira on another machine); 0 runs them at the web's priority",
    )
    return parser.parse_args()


def run(options, root: Path, processes: list, made: list) -> dict:
    started = time.monotonic()
    a_made = core.stamp(
        f"bench-a-{os.getpid()}", root=root, server_url=options.database_server, redis_url=options.redis_url
    )
    made.append(a_made.instance)
    b_made = core.stamp(
        f"bench-b-{os.getpid()}",
        demo="small",
        root=root,
        server_url=options.database_server,
        redis_url=options.redis_url,
    )
    made.append(b_made.instance)
    a, b = a_made.instance, b_made.instance
    setup_s = time.monotonic() - started

    cpu_a, cpu_b = (["taskset", "-c", "0"], ["taskset", "-c", "1"]) if options.pin else ([], [])
    niced = ["nice", "-n", str(options.worker_nice)] if options.worker_nice else []
    cpu_a, worker_b = [*cpu_a, *niced], [*cpu_b, *niced]
    sandbox = start(
        processes,
        [
            *cpu_a,
            sys.executable,
            "-m",
            "integrations.sandbox",
            "--port",
            "0",
            "--issues",
            str(options.issues),
            "--projects",
            ",".join(PROJECTS),
        ],
        env=None,
        stdout=subprocess.PIPE,
    )
    url = sandbox.stdout.readline().rsplit(" ", 1)[-1].strip()
    worker = [
        str(BIN / "celery"),
        "-A",
        "portal",
        "worker",
        "-Q",
        ",".join(core.QUEUES),
        "--concurrency",
        "1",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "warning",
    ]
    start(processes, [*cpu_a, *worker, "-n", f"{a.name}@%h"], env=a.environment())
    start(processes, [*worker_b, *worker, "-n", f"{b.name}@%h"], env=b.environment())
    start(
        processes,
        [
            *cpu_b,
            str(BIN / "gunicorn"),
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{options.port}",
            "--workers",
            "2",
            "--threads",
            "2",
            "--log-level",
            "warning",
        ],
        env=b.environment(),
    )
    connection = run_in(a, MAKE_CONNECTION.format(url=url, projects=list(PROJECTS)))["id"]

    base = f"http://127.0.0.1:{options.port}"
    with httpx.Client(base_url=base, timeout=60) as client:
        wait_up(client)
        sign_in(client, "flightdeck-admin")  # the demo's admin (README, Demo accounts)
        for path in PAGES.values():  # warm up: templates, connections
            for _ in range(3):
                assert client.get(path).status_code == 200, path
        b_task_idle = [task_latency(b) for _ in range(TASK_SAMPLES)]
        before, before_times = measure(client, options.requests, lambda: True)

        run_id = run_in(a, QUEUE_SYNC.format(pk=connection))["run"]
        status_of = run_status(a, run_id)
        deadline = time.monotonic() + 1800
        while status_of() != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        b_task_loaded = [task_latency(b) for _ in range(TASK_SAMPLES) if status_of() == "running"]
        loaded, _ = measure(client, 10 * options.requests, lambda: status_of() == "running")
        while status_of() in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(1)
        after, after_times = measure(client, options.requests, lambda: True)
    sync = run_in(a, SYNC_RUN.format(pk=run_id))
    at_rest = summary(before_times + after_times)
    ratio = round(loaded["all"]["p95_ms"] / at_rest["all"]["p95_ms"], 2) if loaded["requests"] else None
    return {
        "issues": options.issues,
        "database": "postgresql" if options.database_server else "sqlite",
        "broker": "redis" if options.redis_url else "filesystem",
        "pinned": options.pin,
        "worker_nice": options.worker_nice,
        "cpus": os.cpu_count(),
        "setup_s": round(setup_s, 1),
        "b_at_rest": at_rest,  # before and after A's sync, pooled
        "b_before_a_sync": before,
        "b_after_a_sync": after,
        "b_during_a_sync": loaded,
        "b_p95_ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio is not None and ratio <= TARGET_RATIO,
        "b_task_latency_ms": {"a_idle": b_task_idle, "a_syncing": b_task_loaded},  # each sample
        "a_sync": sync | {"seconds": _seconds(sync)},
    }


def start(processes: list, command: list[str], *, env, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """A process in its own group, its log discarded (this script prints only its JSON)."""
    env = None if env is None else env | {"LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    processes.append(process)
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_in(instance: core.Instance, code: str) -> dict:
    result = instance.manage("shell", "-v", "0", "-c", code)
    return json.loads(result.stdout.strip().splitlines()[-1])


def reader(instance: core.Instance):
    """One row of a query on the instance's database, read straight from this process (no Django)."""
    url = instance.settings()["DATABASE_URL"]
    if url.startswith("sqlite"):
        db = sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True, timeout=30)
        return lambda query, params: db.execute(query.replace("%s", "?"), params).fetchone()
    import psycopg

    db = psycopg.connect("postgresql://" + url.split("://", 1)[1], autocommit=True)
    return lambda query, params: db.execute(query, params).fetchone()


def run_status(instance: core.Instance, run_id: int):
    """A's run status, read at most twice a second."""
    read = reader(instance)
    last = {"at": 0.0, "status": ""}

    def status() -> str:
        if time.monotonic() - last["at"] > 0.5:
            row = read("SELECT status FROM integrations_syncrun WHERE id = %s", [run_id])
            last.update(at=time.monotonic(), status=row[0])
        return last["status"]

    return status


def wait_up(client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code in (200, 503):
                return
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit("B's web server did not start")


def sign_in(client: httpx.Client, password: str) -> None:
    client.get("/login/")
    response = client.post(
        "/login/",
        data={"username": "admin", "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": str(client.base_url) + "/login/"},
    )
    assert "sessionid" in client.cookies, response.status_code


def measure(client: httpx.Client, limit: int, going) -> tuple[dict, list[tuple[str, float]]]:
    """B's pages in turn, up to `limit` requests, while `going()`: p50/p95 per page and overall, and
    each (page, ms)."""
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    errors = n = 0
    while n < limit and going():
        name, path = list(PAGES.items())[n % len(PAGES)]
        began = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - began) * 1000
        if going():  # still under load when it ended (loaded phase) or always (baseline)
            times[name].append(elapsed)
            errors += response.status_code != 200
        n += 1
    named = [(name, t) for name, values in times.items() for t in values]
    return summary(named) | {"errors": errors}, named


def summary(named: list[tuple[str, float]]) -> dict:
    every = [t for _, t in named]
    pages = {name: [t for n, t in named if n == name] for name in PAGES}
    return {
        "requests": len(every),
        "all": percentiles(every) if every else {},
        "pages": {name: percentiles(values) for name, values in pages.items() if values},
    }


def task_latency(instance: core.Instance) -> float | None:
    """From a heartbeat task sent to the instance's queue to its worker running it, in ms (the task
    stores the time it ran; the sender prints the time it sent)."""
    read = reader(instance)
    query = "SELECT seen_at FROM portal_workerheartbeat WHERE name = %s"
    before = read(query, ["worker"])
    sent = run_in(instance, HEARTBEAT_SEND)["sent"]
    deadline = time.monotonic() + 120
    while (row := read(query, ["worker"])) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    if row == before:
        return None
    seen = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(row[0])
    seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
    return round((seen.timestamp() - sent) * 1000, 1)


def _seconds(sync: dict) -> float | None:
    if not (sync.get("started") and sync.get("finished")):
        return None
    return round(
        (datetime.fromisoformat(sync["finished"]) - datetime.fromisoformat(sync["started"])).total_seconds(),
        1,
    )


if __name__ == "__main__":
    main()
