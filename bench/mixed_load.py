"""Mixed load: 8 signed-in users browse for 5 minutes while Jira syncs run back to back; one JSON object.

    .venv/bin/python bench/mixed_load.py [--scale enterprise] [--minutes 5] [--var-dir /tmp/fd-mixed]
    .venv/bin/python bench/mixed_load.py --database-url postgres://postgres@127.0.0.1:5432/flightdeck_mixed
    .venv/bin/python bench/mixed_load.py --scale medium --minutes 1        # a quick run

The instance is built once: migrate, then `seed_demo --scale S` (nothing when it already holds a demo
seed). --var-dir keeps it for the next run (SQLite); without it a temporary folder is used and removed.
With --database-url the PostgreSQL database is dropped and created first, unless --reuse is given and it
already holds a demo seed of the same scale; the broker is then Redis (--broker-url, each run under a key
prefix of its own), otherwise the embedded filesystem broker in the instance folder.

The real processes, as `dev.py run` starts them: gunicorn serving portal.wsgi on a free port (2 workers
x 4 threads), a Celery worker on the default and sync queues (concurrency 2), and the Jira sandbox in its
own process (--issues issues in four projects). A Jira connection points at the sandbox; this process
queues its syncs back to back for the whole load, each a full re-sync (the cursor cleared first, so every
issue is read again), and counts the runs and the issues they fetched.

Eight simulated users (threads, each its own httpx client and session, signed in through /login/ with its
CSRF token) loop over the pages their role visits: home, calendar month and week, the release list plain
and filtered (as the HTMX table refresh), release pages, the gate queue, the booking board and queue,
/integrations/ and the HTMX progress poll of the run it shows, with 0-200 ms of think time (seeded).
Every answer other than 2xx/3xx, a redirect to the login page, or an exception is an error.
Reported: p50/p95/p99/max and counts per page and overall, the first errors, the sync runs and issues/s
during the load, and the noise: the machine's load average before and after, and the cores each part kept
busy (web, worker, sandbox, this process; the rest of the machine's busy time is PostgreSQL and other
work). On PostgreSQL it also names the large tables never analyzed (autovacuum is off on the project's
CI machine; seed_demo analyzes what it loads, so only an instance seeded before it did is affected);
--analyze runs ANALYZE before the load.
Every process started here is stopped on exit, also on Ctrl-C, SIGTERM or an exception.
"""

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

from common import REPO, add_instance_options, bench_instance, percentile, postgres_seeded

BIN = Path(sys.executable).parent
TARGETS = {"p95_ms": 300, "errors": 0}
CONNECTION_NAME = "Bench mixed-load Jira"
APP_SUFFIX = "MIX"  # the connection's applications, apart from the seed's (keys are unique)
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
ERRORS_LISTED = 10
# Who browses and what their role looks at (demo/catalogue.py DEMO_USERS); the project office twice.
USERS = {
    "po": ["home", "calendar_month", "calendar_week", "release_list", "release_list_filtered",
           "release_page", "environments_board", "integrations"],
    "po#2": ["home", "calendar_month", "release_list_filtered", "release_page", "release_page",
             "calendar_week", "release_list"],
    "rm": ["home", "release_list", "release_list_filtered", "release_page", "calendar_month",
           "gate_queue", "release_page"],
    "sec": ["home", "gate_queue", "release_page", "gate_queue", "release_page"],
    "sec2": ["gate_queue", "release_page", "home", "release_list_filtered"],
    "envadmin": ["home", "environments_board", "booking_queue", "calendar_week", "environments_board"],
    "auditor": ["home", "release_list", "release_page", "integrations", "calendar_month"],
    "admin": ["home", "integrations", "release_list", "release_page", "integrations"],
}  # fmt: skip
PROGRESS_POLLS = 3  # the integrations page polls an active run's row every second
PROGRESS_URL = re.compile(r'hx-get="(/integrations/runs/\d+/progress/)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def main() -> None:
    options = parse_args()
    load_before = machine_load()
    stop_on_signals()
    configure_environment(options)
    seeded = partial(postgres_seeded, scale=options.scale)  # --reuse keeps a seed of the same scale only
    with bench_instance(options, "flightdeck-bench-mixed-", seeded=seeded) as var_dir:
        result = run(options, Path(var_dir))
    result["machine_load"] = {"before": load_before, "after": machine_load()}
    print(json.dumps(result, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="enterprise", choices=["small", "medium", "enterprise"])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--issues", type=int, default=100_000, help="Jira sandbox issues a sync reads")
    add_instance_options(parser, reuse=True)
    parser.add_argument(
        "--broker-url", default="", help=f"Celery broker (default: {DEFAULT_REDIS} with PostgreSQL)"
    )
    parser.add_argument(
        "--analyze", action="store_true", help="ANALYZE the PostgreSQL database before the load"
    )
    parser.add_argument("--think-ms", type=int, default=200, help="the most think time between requests")
    parser.add_argument("--seed", type=int, default=1, help="seeds the users' choices and think times")
    return parser.parse_args()


def configure_environment(options: argparse.Namespace) -> None:
    """The environment this process and its children share besides the instance (bench_instance sets
    its folder and database): settings, log level, broker."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        LOG_LEVEL="WARNING",  # a log line per sync request would be measured too
    )
    broker = options.broker_url or (DEFAULT_REDIS if options.database_url else "")
    if broker:
        # A key prefix of this run's own: a message a killed worker left unacknowledged stays behind.
        os.environ.update(CELERY_BROKER_URL=broker, FLIGHTDECK_INSTANCE=f"bench-mixed-{os.getpid()}")


def run(options: argparse.Namespace, var_dir: Path) -> dict:
    from django.core.management import call_command
    from django.db import connection as db

    started = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--scale", options.scale, stdout=sys.stderr)
    setup_seconds = time.perf_counter() - started
    analyzed = analyze_database() if options.analyze and db.vendor == "postgresql" else None
    statistics_before_load = planner_statistics()
    subjects = find_subjects()
    log_dir = var_dir / "mixed-load-logs"
    log_dir.mkdir(exist_ok=True)
    processes: dict[str, subprocess.Popen] = {}
    connection = None
    try:
        connection = bench_connection(start_sandbox(options.issues, processes, log_dir))
        base = start_web_and_worker(processes, log_dir)
        load = run_load(options, base, subjects, connection, processes)
    finally:
        stop_processes(processes)
        if connection is not None:  # a run cut short must not block the next bench on this instance
            fail_active_runs(connection)
    load["sync"]["issues_in_sandbox"] = options.issues
    return {
        "database": db.vendor,
        "broker": os.environ.get("CELERY_BROKER_URL", "filesystem://").split("://")[0],
        "scale": subjects["scale"],
        "releases": subjects["releases"],
        "setup_seconds": round(setup_seconds, 1),
        "analyze_seconds": analyzed,
        "planner_statistics": statistics_before_load,
        "minutes": options.minutes,
        "users": list(USERS),
        "think_ms": [0, options.think_ms],
        "processes": "gunicorn portal.wsgi 2 workers x 4 threads; celery worker -Q default,sync "
        "--concurrency 2; Jira sandbox; this process drives the syncs and the users",
        **load,
        "targets": TARGETS,
        "met": {
            "p95": load["overall"]["p95_ms"] <= TARGETS["p95_ms"],
            "errors": load["overall"]["errors"] == TARGETS["errors"],
            "all": load["overall"]["p95_ms"] <= TARGETS["p95_ms"]
            and load["overall"]["errors"] == TARGETS["errors"],
        },
    }


# --- the instance -----------------------------------------------------------------------------------


def find_subjects() -> dict:
    """What the users open, found in the seeded data: the peak week and its month, the largest
    portfolio, and open releases with gates (the busiest one, with the most downstream links, first)."""
    from django.db.models import Count, Q

    from releases.models import AuditEvent, Portfolio, Release

    seeded = AuditEvent.objects.filter(action="demo.seed").values_list("after", flat=True).first()
    peak = seeded["peak_week"]["start"]
    closed = Release.CLOSED_STATUSES
    open_releases = Count("applications__releases", filter=~Q(applications__releases__status__in=closed))
    largest = Portfolio.objects.annotate(n=open_releases).order_by("-n", "pk").first()
    with_gates = (
        Release.objects.open()
        .annotate(downs=Count("downstream_links", distinct=True), gate_count=Count("gates", distinct=True))
        .filter(gate_count__gt=0)
        .order_by("-downs", "pk")
    )
    release_ids = list(with_gates.values_list("pk", flat=True)[:40])
    year, week, _ = date.fromisoformat(peak).isocalendar()
    return {
        "scale": seeded.get("scale"),
        "releases": Release.objects.count(),
        "month": peak[:7],
        "week": f"{year}-W{week:02d}",
        "portfolio": largest.pk,
        "release_ids": release_ids,
    }


def bench_connection(sandbox_url: str):
    """The bench's Jira connection, pointed at this run's sandbox (made once; a kept instance reuses it)."""
    from sync import make_connection  # bench/sync.py, next to this file

    from integrations.models import Connection

    connection = Connection.objects.filter(name=CONNECTION_NAME).first()
    if connection is None:
        return make_connection(sandbox_url, CONNECTION_NAME, suffix=APP_SUFFIX)
    connection.base_url = sandbox_url
    # Encrypted again under this run's key: a PostgreSQL instance kept with --reuse gets a new temporary
    # folder, so a new SECRET_KEY, each run, and could not read what an earlier run stored.
    connection.credentials = {"username": "sync-bot@example.com", "token": "sandbox-token"}
    connection.save()
    fail_active_runs(connection)  # left by an earlier bench that was killed
    return connection


def fail_active_runs(connection) -> None:
    from django.utils import timezone

    from integrations.models import SyncRun
    from integrations.sync.base import ACTIVE

    SyncRun.objects.filter(connection=connection, status__in=ACTIVE).update(
        status=SyncRun.Status.FAILED, finished_at=timezone.now(), error="The mixed-load bench stopped."
    )


# --- the processes ----------------------------------------------------------------------------------


def start_sandbox(issues: int, processes: dict, log_dir: Path) -> str:
    """The Jira sandbox in its own process; its first line ends with the Jira URL."""
    from sync import PROJECTS

    command = [sys.executable, "-m", "integrations.sandbox", "--port", "0", "--issues", str(issues)]
    command += ["--projects", ",".join(PROJECTS), "--time-zone", "Europe/Berlin"]
    process = _spawn("sandbox", command, processes, log_dir, stdout=subprocess.PIPE)
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the sandbox did not start: {_log_tail(log_dir, 'sandbox')}")
    return line.rsplit(" ", 1)[-1].strip()


def start_web_and_worker(processes: dict, log_dir: Path) -> str:
    """gunicorn and the Celery worker with dev.py's command lines; the web's base URL once it answers."""
    port = _free_port()
    web = [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}"]
    web += ["--workers", "2", "--threads", "4", "--log-level", "warning"]
    worker = [str(BIN / "celery"), "-A", "portal", "worker", "-Q", "default,sync", "--concurrency", "2"]
    worker += ["--without-mingle", "--without-gossip", "--loglevel", "warning"]
    _spawn("web", web, processes, log_dir)
    _spawn("worker", worker, processes, log_dir)
    base = f"http://127.0.0.1:{port}"
    _wait_until_up(f"{base}/healthz", processes, log_dir)
    return base


def _spawn(name: str, command: list[str], processes: dict, log_dir: Path, **kwargs) -> subprocess.Popen:
    """A child in its own process group (Ctrl-C reaches it only through stop_processes), its output in
    the instance folder so this process's stdout stays one JSON object."""
    log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    kwargs.setdefault("stdout", log)
    process = subprocess.Popen(command, cwd=REPO, stderr=log, start_new_session=True, text=True, **kwargs)
    process.log = log
    processes[name] = process
    return process


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, processes: dict, log_dir: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(processes, log_dir)
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, timeout=2)
            return
        time.sleep(0.2)
    raise RuntimeError(f"the web server did not answer on {url} within {timeout:.0f} s")


def check_alive(processes: dict, log_dir: Path) -> None:
    for name, process in processes.items():
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {_log_tail(log_dir, name)}")


def _log_tail(log_dir: Path, name: str, chars: int = 2000) -> str:
    with contextlib.suppress(OSError):
        return (log_dir / f"{name}.log").read_text()[-chars:]
    return ""


def stop_processes(processes: dict) -> None:
    """SIGTERM to each (gunicorn and Celery stop their own children); after a few seconds whatever is
    left in its process group is killed: a sync cut short is not waited for."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 8
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.log.close()


def stop_on_signals() -> None:
    """SIGTERM ends like Ctrl-C: through the finally blocks that stop the processes."""

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)


# --- the load -----------------------------------------------------------------------------------------


@dataclass
class Sample:
    page: str
    ms: float
    error: str = ""
    at: float = field(default_factory=time.monotonic)  # when it was answered (bench/load.py's fault windows)


@dataclass
class User:
    """One signed-in person: their own client and session, pages, random choices and samples."""

    name: str
    pages: list[str]
    urls: dict
    rng: random.Random
    think_s: float
    samples: list[Sample] = field(default_factory=list)
    login_ms: float = 0.0
    # bench/load.py: pages that are not one GET (page name -> action(client, user)), and httpx options.
    actions: dict = field(default_factory=dict)
    client_options: dict = field(default_factory=dict)
    think_min_s: float = 0.0  # each pause is drawn between think_min_s and think_s

    def think(self, stop: threading.Event) -> None:
        stop.wait(self.rng.uniform(self.think_min_s, self.think_s))


def run_load(options, base: str, subjects: dict, connection, processes: dict) -> dict:
    from demo.catalogue import DEMO_USERS

    passwords = {u["username"]: u["password"] for u in DEMO_USERS}
    urls = page_urls(subjects)
    users = [
        User(name, pages, urls, random.Random(f"{options.seed}-{name}"), options.think_ms / 1000)
        for name, pages in USERS.items()
    ]
    signed_in = threading.Barrier(len(users) + 1)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=browse, args=(user, base, passwords[user.name.split("#")[0]], signed_in, stop), daemon=True
        )
        for user in users
    ]
    for thread in threads:
        thread.start()
    try:
        signed_in.wait(timeout=120)  # everyone signed in: the clock starts
        started, cpu_before = time.monotonic(), cpu_seconds(processes)
        syncs = drive_syncs(connection, started + options.minutes * 60, processes)
        seconds, cpu_after = time.monotonic() - started, cpu_seconds(processes)
    finally:
        stop.set()
        with contextlib.suppress(threading.BrokenBarrierError):
            signed_in.abort()
        for thread in threads:
            thread.join(timeout=40)
    syncs["issues_per_second"] = round(syncs["issues_fetched"] / seconds, 1)
    return {
        "load_seconds": round(seconds, 1),
        "logins_ms": {user.name: round(user.login_ms, 1) for user in users},
        **report(users, seconds),
        "sync": syncs,
        "cpu": cpu_report(cpu_before, cpu_after, seconds),
    }


def page_urls(subjects: dict) -> dict:
    """page name -> (a function of the user's rng giving the URL, extra headers)."""
    htmx_table = {"HX-Request": "true", "HX-Target": "release-table"}
    filtered = f"/releases/?portfolio={subjects['portfolio']}&status=in_progress"
    return {
        "home": (lambda rng: "/", {}),
        "calendar_month": (lambda rng: f"/calendar/?month={subjects['month']}", {}),
        "calendar_week": (lambda rng: f"/calendar/?week={subjects['week']}", {}),
        "release_list": (lambda rng: "/releases/", {}),
        "release_list_filtered": (lambda rng: filtered, htmx_table),
        "release_page": (lambda rng: f"/releases/{rng.choice(subjects['release_ids'])}/", {}),
        "gate_queue": (lambda rng: "/gates/", {}),
        "environments_board": (lambda rng: "/environments/board/", {}),
        "booking_queue": (lambda rng: "/environments/bookings/queue/", {}),
        "integrations": (lambda rng: "/integrations/", {}),
    }


def browse(user: User, base: str, password: str, signed_in: threading.Barrier, stop: threading.Event):
    import httpx

    options = {"timeout": 30, **user.client_options}
    with httpx.Client(base_url=base, follow_redirects=False, **options) as client:
        started = time.perf_counter()
        login(client, user.name.split("#")[0], password)
        user.login_ms = (time.perf_counter() - started) * 1000
        try:
            signed_in.wait(timeout=120)
        except threading.BrokenBarrierError:
            return
        while not stop.is_set():
            for page in user.pages:
                if stop.is_set():
                    break
                if page in user.actions:
                    user.actions[page](client, user)
                    user.think(stop)
                    continue
                make_url, headers = user.urls[page]
                body = visit(client, user, page, make_url(user.rng), headers)
                if page == "integrations" and (poll := PROGRESS_URL.search(body)):
                    for _ in range(PROGRESS_POLLS):
                        user.think(stop)
                        visit(client, user, "integrations_progress", poll[1], {"HX-Request": "true"})
                user.think(stop)


def login(client, username: str, password: str) -> None:
    """Through the login form, with its CSRF token, as a browser does; refuses to go on signed out."""
    form = client.get("/login/")
    token = CSRF_INPUT.search(form.text)
    if form.status_code != 200 or not token:
        raise RuntimeError(f"the login page answered {form.status_code} without a CSRF token")
    answer = client.post(
        "/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]}
    )
    if answer.status_code != 302 or answer.headers.get("location", "").startswith("/login"):
        raise RuntimeError(f"{username} could not sign in (HTTP {answer.status_code})")


def visit(client, user: User, page: str, url: str, headers: dict) -> str:
    """One timed GET; the body is returned for the links a browser would follow."""
    import httpx

    started = time.perf_counter()
    try:
        response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        user.samples.append(Sample(page, (time.perf_counter() - started) * 1000, f"{url}: {exc!r}"))
        return ""
    ms = (time.perf_counter() - started) * 1000
    error = ""
    if response.status_code >= 400:
        error = f"{url}: HTTP {response.status_code}"
    elif response.is_redirect and response.headers.get("location", "").startswith("/login"):
        error = f"{url}: redirected to the login page (signed out)"
    user.samples.append(Sample(page, ms, error))
    return response.text


def drive_syncs(connection, deadline: float, processes: dict) -> dict:
    """Full re-syncs back to back until the deadline: the cursor cleared, a run queued (the worker picks
    it up from the broker), its row read every half second until it ends."""
    from integrations.models import SyncCursor, SyncRun
    from integrations.sync.base import ACTIVE
    from integrations.tasks import sync_run_queue

    runs, current = [], None
    log_dir = Path(os.environ["FLIGHTDECK_VAR_DIR"]) / "mixed-load-logs"
    while time.monotonic() < deadline:
        SyncCursor.objects.filter(connection=connection).update(watermark="", page_token="")
        current = sync_run_queue(connection=connection, by=None)
        while current.status in ACTIVE and time.monotonic() < deadline:
            check_alive(processes, log_dir)
            time.sleep(0.5)  # polling the run's row, as the progress page does
            current.refresh_from_db()
        if current.status not in ACTIVE:
            runs.append(_run_summary(current))
            if current.status == SyncRun.Status.FAILED:
                time.sleep(5)  # reported below; a sync that fails at once is not queued in a tight loop
            current = None
    completed = [r for r in runs if r["status"] == "succeeded"]
    unfinished = _run_summary(current) if current else None
    return {
        "runs_completed": len(completed),
        "runs_failed": [r for r in runs if r["status"] != "succeeded"][:3],
        "run_seconds": [r["seconds"] for r in completed],
        "issues_fetched": sum(r["fetched"] for r in runs) + (unfinished["fetched"] if unfinished else 0),
        "created": sum(r["created"] for r in runs),
        "updated": sum(r["updated"] for r in runs),
        "unchanged": sum(r["unchanged"] for r in runs),
        "unfinished_run_at_end": unfinished,
    }


def _run_summary(run) -> dict:
    from django.utils import timezone

    end = run.finished_at or timezone.now()
    seconds = (end - run.started_at).total_seconds() if run.started_at else 0.0
    return {
        "id": run.pk,
        "status": run.status,
        "seconds": round(seconds, 1),
        "fetched": run.items_fetched,
        "created": run.items_created,
        "updated": run.items_updated,
        "unchanged": run.items_unchanged,
        "error": run.error[:300],
    }


# --- the report ---------------------------------------------------------------------------------------


def report(users: list[User], seconds: float) -> dict:
    samples = [s for user in users for s in user.samples]
    by_page = defaultdict(list)
    for sample in samples:
        by_page[sample.page].append(sample)
    errors = [f"{user.name} {s.error}" for user in users for s in user.samples if s.error]
    return {
        "overall": _stats(samples) | {"requests_per_second": round(len(samples) / seconds, 1)},
        "pages": {page: _stats(found) for page, found in sorted(by_page.items())},
        "first_errors": errors[:ERRORS_LISTED],
    }


def _stats(samples: list[Sample]) -> dict:
    ordered = sorted(s.ms for s in samples)
    if not ordered:
        return {"requests": 0, "errors": 0}
    return {
        "requests": len(ordered),
        "errors": sum(1 for s in samples if s.error),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": round(ordered[-1], 1),
    }


def cpu_seconds(processes: dict) -> dict:
    """CPU time (user + system) used so far by each child's process group, by this process (the users
    and the sync driver) and by the whole machine (busy time of every core)."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = {process.pid: name for name, process in processes.items()}  # each leads its own group
    used = dict.fromkeys(processes, 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            if (name := groups.get(int(fields[2]))) is not None:  # fields[2]: the process group
                used[name] += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    used["bench (users, sync driver)"] = sum(os.times()[:2])
    machine = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    used["machine busy"] = (sum(machine[:8]) - machine[3] - machine[4]) / tick  # all but idle, iowait
    return used


def cpu_report(before: dict, after: dict, seconds: float) -> dict:
    """CPU seconds per second of load (2.0 = both cores of a 2-core machine) of each part; the
    remainder of the machine's busy time is PostgreSQL, Redis and whatever else runs there."""
    per_second = {name: round((after[name] - before[name]) / seconds, 2) for name in before}
    ours = sum(value for name, value in per_second.items() if name != "machine busy")
    per_second["postgres, redis and other work"] = round(per_second["machine busy"] - ours, 2)
    return {"cores_busy": per_second, "cores": os.cpu_count()}


def planner_statistics() -> dict | None:
    """On PostgreSQL: whether autovacuum runs, and the large tables never analyzed (the planner then
    guesses their sizes, and may pick plans that read every row)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE n_live_tup >= 1000"
            " AND last_analyze IS NULL AND last_autoanalyze IS NULL ORDER BY n_live_tup DESC"
        )
        never = [row[0] for row in cursor.fetchall()]
    return {"autovacuum": autovacuum, "large_tables_never_analyzed": never}


def analyze_database() -> float:
    """ANALYZE, as autovacuum would have done after the seed; the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return round(time.perf_counter() - started, 1)


def machine_load() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"load_1_5_15": [round(one, 2), round(five, 2), round(fifteen, 2)], "cpus": os.cpu_count()}


if __name__ == "__main__":
    main()
