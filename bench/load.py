"""Load and faults: simulated users through nginx on the scaled-out portal while a big Jira sync runs, and
Redis and PostgreSQL restarted and one web node killed mid-run; one JSON object on stdout.

    .venv/bin/python bench/load.py [--scale medium] [--users 16] [--minutes 5] [--issues 100000]
    .venv/bin/python bench/load.py --minutes 0.5 --issues 5000 --users 8        # a smoke run

The topology is bench/scaleout.py's Cluster (two gunicorn nodes behind nginx with TLS, two workers, one
beat), on ports 8500-8503, with two servers of its own, both in the temporary folder (the machine's
shared Redis and PostgreSQL are never restarted):
- Redis: a dedicated redis-server on 127.0.0.1:8510 with append-only persistence;
- PostgreSQL: a dedicated server on 127.0.0.1:8511 (bench/postgres_server.py: initdb, pg_ctl).
The database is created, migrated and seeded with `seed_demo --scale S` (medium by default: enterprise
takes too long to seed on a 2-core machine for each run). Every process runs under nice -n 10.

The users are bench/mixed_load.py's browsing users (calendar, filters, release pages, gate queue,
booking board, integrations), cycled to --users, and among them: release managers and environment
admins who request bookings through the form (each a slot of its own, its purpose a marker), security
reviewers who sign gates through the API (GET the state hash, POST the sign-off with their password),
and API readers (the release list with a personal token). A Jira sync of --issues issues runs meanwhile
(queued again from its cursor if a fault makes it fail), and a marker task is sent every half second.
Each user pauses 1-5 s between requests (seeded; --think-min-ms, --think-ms), as a person reading a page
does: 16 such users ask about 5 requests a second. `--think-min-ms 0 --think-ms 200` makes them click as
fast as the portal answers: a capacity run, which saturates a 2-core machine at about 40 requests a second.

The faults, at 20 %, 45 % and 70 % of the run: Redis restarted (SIGTERM, so the append-only file is
written, then started again on the same folder); PostgreSQL restarted: stopped (a fast shutdown ends every
session), kept down for --outage-seconds, started again (/healthz of a node polled meanwhile: 503 expected,
and the seconds until it and nginx answer 200 again after the start); web node 2 SIGKILLed (the other
one serves the rest of the run). Each fault's window runs from its start until the portal answers
/healthz with 200 again, plus 5 s; errors are split into inside and outside the windows. At the end:
markers sent vs run (none lost, none twice), the sync's issues stored once each, every acknowledged
booking and sign-off present once and none present twice.

Reported: p50/p95 per request kind and overall (every request, errors included) and overall outside the
fault windows; the p95 target (300 ms) is judged outside the windows, as are the errors (target 0).
nginx's upstream uses docs/deployment.md's max_fails=2 fail_timeout=10s. As systemd's units in
deploy/systemd do (Restart=on-failure, RestartSec=5), a worker or beat that exits is started again after
five seconds; each exit is listed with the CRITICAL line of its log.
"""

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
from mixed_load import USERS, Sample, User, browse, find_subjects, page_urls, stop_on_signals
from postgres_server import PostgresServer
from scaleout import REPO, Cluster, _wait_for

PROXY_PORT, NODE_PORTS, SANDBOX_PORT = 8500, (8501, 8502), 8503
REDIS_PORT, POSTGRES_PORT = 8510, 8511
NICE = 10
UPSTREAM = "max_fails=2 fail_timeout=10s"  # each node in nginx's upstream, as docs/deployment.md has it
TARGETS = {"p95_ms": 300, "errors_outside_faults": 0}
GRACE_S = 5  # added to each fault window after the portal answers /healthz again
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# Who writes, and the extra users cycled after mixed_load.py's browsing ones.
EXTRA_USERS = {
    "rm#book": ["booking_request", "calendar_week", "booking_request", "release_page"],
    "envadmin#book": ["booking_request", "environments_board", "booking_request"],
    "sec#api": ["signoff", "gate_queue", "signoff"],
    "sec2#api": ["signoff", "release_page", "signoff"],
    "po#api": ["api_releases", "release_list_filtered", "api_releases"],
    "auditor#api": ["api_releases", "api_releases", "release_page"],
}


def main() -> None:
    options = parse_args()
    stop_on_signals()
    with tempfile.TemporaryDirectory(prefix="flightdeck-load-") as name:
        folder = Path(name)
        helpers: dict[str, subprocess.Popen] = {}
        cluster = None
        try:
            start_redis(folder, helpers)
            database = PostgresServer(folder, POSTGRES_PORT, nice=NICE)
            helpers["postgres"] = database
            database.start()
            options.database_url = database.url
            options.redis_url = f"redis://127.0.0.1:{REDIS_PORT}/0"
            cluster = Cluster(
                folder,
                options,
                proxy_port=PROXY_PORT,
                node_ports=NODE_PORTS,
                sandbox_port=SANDBOX_PORT,
                worker_app="bench.load_app",
                nice=NICE,
                upstream=UPSTREAM,
            )
            cluster.env["FLIGHTDECK_LOAD_MARKERS"] = str(folder / "markers.txt")
            result = run(cluster, options, folder, helpers)
        finally:
            if cluster is not None:
                cluster.stop()
            stop_helpers(helpers)
    print(json.dumps(result, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "enterprise"])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--issues", type=int, default=100_000, help="Jira sandbox issues the sync reads")
    parser.add_argument("--outage-seconds", type=float, default=20, help="how long PostgreSQL stays down")
    parser.add_argument("--think-ms", type=int, default=5000, help="the most think time between requests")
    parser.add_argument("--think-min-ms", type=int, default=1000, help="the least think time")
    parser.add_argument("--seed", type=int, default=1, help="seeds the users' choices and think times")
    return parser.parse_args()


# --- Redis ------------------------------------------------------------------------------------------


def start_redis(folder: Path, helpers: dict) -> None:
    data = folder / "redis"
    data.mkdir(exist_ok=True)
    command = ["nice", "-n", str(NICE), "redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1"]
    command += ["--dir", str(data), "--appendonly", "yes", "--save", "", "--protected-mode", "no"]
    log = open(folder / "redis.log", "a")  # noqa: SIM115 (kept open while the process runs)
    helpers["redis"] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_for(_redis_up, "redis", timeout=20)


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis(port=REDIS_PORT, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def restart_redis(folder: Path, helpers: dict) -> float:
    """SIGTERM (Redis writes its append-only file and exits), then started again on the same folder; the
    seconds it was away."""
    started = time.monotonic()
    process = helpers["redis"]
    process.terminate()
    process.wait(timeout=30)
    start_redis(folder, helpers)
    return round(time.monotonic() - started, 1)


def stop_helpers(helpers: dict) -> None:
    database = helpers.pop("postgres", None)
    if database is not None and database.running():
        database.stop()
    for process in helpers.values():
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    for process in helpers.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# --- the run ----------------------------------------------------------------------------------------


def run(cluster: Cluster, options: argparse.Namespace, folder: Path, helpers: dict) -> dict:
    started = time.monotonic()
    cluster.prepare()
    cluster.manage("seed_demo", "--scale", options.scale)
    setup = {"seed_seconds": round(time.monotonic() - started, 1)}
    cluster.start_processes()
    os.environ.update(cluster.var("bench"))
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from sync import make_connection  # bench/sync.py

    subjects = find_subjects()
    connection = make_connection(cluster.start_sandbox(options.issues), "Load Jira", suffix="LOAD")
    writes = Writes(options, subjects)
    users = make_users(options, cluster.base, writes)
    setup["setup_seconds"] = round(time.monotonic() - started, 1)

    stop, faults = threading.Event(), []
    signed_in = threading.Barrier(len(users) + 1)
    from demo.catalogue import DEMO_USERS

    passwords = {u["username"]: u["password"] for u in DEMO_USERS}
    threads = [
        threading.Thread(
            target=browse,
            args=(user, cluster.base, passwords[user.name.split("#")[0]], signed_in, stop),
            daemon=True,
        )
        for user in users
    ]
    for thread in threads:
        thread.start()
    signed_in.wait(timeout=180)
    load_started = time.monotonic()
    deadline = load_started + options.minutes * 60
    markers = MarkerSender(folder / "markers.txt")
    syncer = SyncDriver(connection)
    supervisor = Supervisor(cluster, load_started)
    background = [
        threading.Thread(target=part.run, args=(stop,), daemon=True) for part in (markers, syncer, supervisor)
    ]
    for thread in background:
        thread.start()
    try:
        schedule = [(0.20, "redis_restart"), (0.45, "postgres_restart"), (0.70, "web_node_killed")]
        for fraction, fault in schedule:
            _sleep_until(load_started + fraction * options.minutes * 60, stop)
            if fault == "redis_restart":
                faults.append(fault_redis(cluster, folder, helpers))
            elif fault == "postgres_restart":
                faults.append(fault_postgres(cluster, helpers, options.outage_seconds))
            else:
                faults.append(fault_web_node(cluster))
        _sleep_until(deadline, stop)
    finally:
        stop.set()
        with contextlib.suppress(threading.BrokenBarrierError):
            signed_in.abort()
        for thread in threads + background:
            thread.join(timeout=60)
    seconds = time.monotonic() - load_started
    from django.db import connection as database_connection

    database_connection.close()  # opened before PostgreSQL's restart: the checks below open a new one
    marker_result = markers.result(timeout=60)
    sync_result = syncer.result(options.issues)
    windows = {f["fault"]: (f["window"][0], f["window"][1]) for f in faults}
    report = requests_report(users, windows, seconds)
    for fault in faults:
        fault["errors_in_window"] = report["errors"]["by_fault"].get(fault["fault"], 0)
    rows = {"bookings": writes.bookings_check(), "signoffs": writes.signoffs_check()}
    for fault in faults:
        fault["window"] = [
            round(fault["window"][0] - load_started, 1),
            round(fault["window"][1] - load_started, 1),
        ]
    faults_ok = all(f["ok"] for f in faults) and marker_result["ok"]
    rows_ok = all(r["ok"] for r in rows.values()) and sync_result["duplicates"] == 0
    meets = (
        report["outside_faults"]["p95_ms"] <= TARGETS["p95_ms"]
        and report["errors"]["outside_faults"] == TARGETS["errors_outside_faults"]
    )
    return {
        "bench": "load",
        "topology": {
            "proxy": f"nginx, TLS on 127.0.0.1:{PROXY_PORT}, round robin, each node {UPSTREAM}",
            "web_nodes": [f"127.0.0.1:{port}" for port in NODE_PORTS],
            "workers": 2,
            "beat": 1,
            "redis": f"dedicated redis-server on 127.0.0.1:{REDIS_PORT}, appendonly yes",
            "database": f"a dedicated PostgreSQL server on 127.0.0.1:{POSTGRES_PORT}",
            "nice": NICE,
        },
        "scale": options.scale,
        "releases": subjects["releases"],
        **setup,
        "users": [user.name for user in users],
        "think_ms": [options.think_min_ms, options.think_ms],
        "minutes": options.minutes,
        "load_seconds": round(seconds, 1),
        **report,
        "faults": faults,
        "tasks": marker_result,
        "processes_exited_and_restarted": supervisor.exits,
        "sync": sync_result,
        "rows": rows,
        "targets": TARGETS,
        "meets_target": meets,
        "faults_ok": faults_ok,
        "rows_ok": rows_ok,
        "passed": meets and faults_ok and rows_ok,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _sleep_until(moment: float, stop: threading.Event) -> None:
    stop.wait(max(0.0, moment - time.monotonic()))


def make_users(options: argparse.Namespace, base: str, writes: "Writes") -> list[User]:
    """mixed_load.py's browsing users first, then the writers and API readers, cycled to --users."""
    profiles = list(USERS.items())
    extra = list(EXTRA_USERS.items())
    order = []
    for n in range(max(len(profiles), len(extra))):  # alternate: a smaller --users still writes
        order += profiles[n : n + 1] + extra[n : n + 1]
    chosen, seen = [], Counter()
    while len(chosen) < options.users:
        name, pages = order[len(chosen) % len(order)]
        seen[name] += 1
        chosen.append((name if seen[name] == 1 else f"{name}#{seen[name]}", pages))
    urls = page_urls({**writes.subjects})
    client_options = {"verify": False, "headers": {"Origin": base, "Referer": f"{base}/"}}
    actions = {
        "booking_request": writes.book,
        "signoff": writes.sign,
        "api_releases": writes.api_read,
    }
    return [
        User(
            name,
            pages,
            urls,
            random.Random(f"{options.seed}-{name}"),
            options.think_ms / 1000,
            actions=actions,
            client_options=client_options,
            think_min_s=options.think_min_ms / 1000,
        )
        for name, pages in chosen
    ]


# --- the users' writes and API calls ----------------------------------------------------------------


class Writes:
    """The bookings and sign-offs the users make, each marked, so the end can count them in the database:
    acknowledged ones (302 for a booking, 201/200 for a sign-off) present once, none present twice."""

    def __init__(self, options: argparse.Namespace, subjects: dict):
        from bookings import _busiest_environment, _free_slots  # bench/bookings.py

        from portal.api_tokens import api_token_create
        from portal.models import User as Person
        from releases.gates.selectors.gate_panel import gate_queue
        from releases.models import Application

        self.subjects = subjects
        self.run_marker = f"load-{uuid.uuid4().hex[:8]}"
        self.lock = threading.Lock()
        self.environment = _busiest_environment()
        self.application = Application.objects.order_by("pk").first()
        per_minute = 30  # the most a booking user asks for a minute, with no think time
        self.slots = _free_slots(self.environment, int(per_minute * options.minutes * 2) + 10)
        self.bookings_sent, self.bookings_acknowledged = [], []
        self.gates: dict[str, list[int]] = {}
        self.tokens: dict[str, str] = {}
        self.zones: dict[str, str] = {}
        for person in Person.objects.filter(username__in=["sec", "sec2", "po", "auditor", "rm", "envadmin"]):
            self.tokens[person.username] = api_token_create(user=person, name=self.run_marker)[1]
            self.zones[person.username] = person.time_zone
            if person.username.startswith("sec"):
                self.gates[person.username] = list(gate_queue(person, "mine").values_list("pk", "release_id"))
        # Each release's gates to one signer only: a signature changes the state the other would sign
        # (a 409, as docs/api.md says). The gates of the first signer's releases are left to them.
        taken = {release for _, release in self.gates.get("sec", [])}
        self.gates = {
            name: [pk for pk, release in gates if name == "sec" or release not in taken]
            for name, gates in self.gates.items()
        }
        self.signoffs_acknowledged: list[tuple[str, int]] = []
        self.signoffs_sent: list[tuple[str, int]] = []

    def book(self, client: httpx.Client, user: User) -> None:
        from bookings import _form

        with self.lock:
            slot = self.slots.pop(0) if self.slots else None
        if slot is None:
            return
        username = user.name.split("#")[0]
        form = _timed(user, "booking_form", lambda: client.get("/environments/bookings/new/"))
        token = CSRF_INPUT.search(form.text) if form is not None else None
        if token is None:
            return
        marker = f"{self.run_marker}-{uuid.uuid4().hex[:12]}"
        data = _form(self.environment, self.application, slot, self.zones[username])
        data |= {"purpose": marker, "csrfmiddlewaretoken": token[1]}
        with self.lock:
            self.bookings_sent.append(marker)
        answer = _timed(
            user, "booking_request", lambda: client.post("/environments/bookings/new/", data=data), ok=(302,)
        )
        if answer is not None and answer.status_code == 302:
            with self.lock:
                self.bookings_acknowledged.append(marker)

    def sign(self, client: httpx.Client, user: User) -> None:
        username = user.name.split("#")[0]
        with self.lock:
            gates = self.gates.get(username) or []
            pk = gates.pop(0) if gates else None
        if pk is None:
            return
        headers = {"Authorization": f"Bearer {self.tokens[username]}"}
        url = f"/api/v1/gates/{pk}/sign-off/"
        read = _timed(user, "api_signoff_read", lambda: client.get(url, headers=headers))
        if read is None or read.status_code != 200 or not read.json().get("may_sign"):
            return
        from demo.catalogue import DEMO_USERS

        password = next(u["password"] for u in DEMO_USERS if u["username"] == username)
        body = {
            "decision": "approve",
            "agree": True,
            "comment": self.run_marker,
            "password": password,
            "state_hash": read.json()["state_hash"],
        }
        with self.lock:
            self.signoffs_sent.append((username, pk))
        answer = _timed(
            user, "api_signoff", lambda: client.post(url, json=body, headers=headers), expected=(409,)
        )
        if answer is not None and answer.status_code == 409:  # the gate changed: read it again, once
            read = _timed(user, "api_signoff_read", lambda: client.get(url, headers=headers))
            if read is not None and read.status_code == 200 and read.json().get("may_sign"):
                body["state_hash"] = read.json()["state_hash"]
                answer = _timed(user, "api_signoff", lambda: client.post(url, json=body, headers=headers))
        if answer is not None and answer.status_code in (200, 201):
            with self.lock:
                self.signoffs_acknowledged.append((username, pk))

    def api_read(self, client: httpx.Client, user: User) -> None:
        headers = {"Authorization": f"Bearer {self.tokens[user.name.split('#')[0]]}"}
        url = "/api/v1/releases/?status=in_progress&ordering=-forecast_slip_days"
        _timed(user, "api_releases", lambda: client.get(url, headers=headers))

    def bookings_check(self) -> dict:
        from django.db.models import Count

        from releases.models import Booking

        counts = dict(
            Booking.objects.filter(purpose__startswith=self.run_marker)
            .values_list("purpose")
            .annotate(n=Count("id"))
        )
        missing = [m for m in self.bookings_acknowledged if counts.get(m, 0) != 1]
        twice = [m for m, n in counts.items() if n > 1]
        unasked = [m for m in counts if m not in set(self.bookings_sent)]
        return {
            "sent": len(self.bookings_sent),
            "acknowledged": len(self.bookings_acknowledged),
            "stored": sum(counts.values()),
            "acknowledged_missing": len(missing),
            "stored_twice": len(twice),
            "stored_but_never_sent": len(unasked),
            "ok": not missing and not twice and not unasked,
        }

    def signoffs_check(self) -> dict:
        from django.db.models import Count

        from releases.models import SignOff

        rows = (
            SignOff.objects.filter(comment=self.run_marker)
            .values_list("signer__username", "gate_id")
            .annotate(n=Count("id"))
        )
        counts = {(name, gate): n for name, gate, n in rows}
        missing = [key for key in self.signoffs_acknowledged if counts.get(key, 0) != 1]
        twice = [key for key, n in counts.items() if n > 1]
        return {
            "sent": len(self.signoffs_sent),
            "acknowledged": len(self.signoffs_acknowledged),
            "stored": sum(counts.values()),
            "acknowledged_missing": len(missing),
            "stored_twice": len(twice),
            "ok": not missing and not twice,
        }


def _timed(
    user: User, kind: str, call, ok: tuple[int, ...] = (), expected: tuple[int, ...] = ()
) -> httpx.Response | None:
    """One timed request recorded as mixed_load.py's visit() does: 4xx/5xx or an exception is an error,
    but for `expected` answers (a documented 409 the client handles); `ok`: the only statuses wanted."""
    started = time.perf_counter()
    try:
        response = call()
    except httpx.HTTPError as exc:
        user.samples.append(Sample(kind, (time.perf_counter() - started) * 1000, f"{kind}: {exc!r}"))
        return None
    error = ""
    if response.status_code in expected:
        kind = f"{kind}_{response.status_code}"
    elif response.status_code >= 400 or (ok and response.status_code not in ok):
        error = f"{kind}: HTTP {response.status_code}"
    user.samples.append(Sample(kind, (time.perf_counter() - started) * 1000, error))
    return response


# --- background work: marker tasks and the sync -----------------------------------------------------


class MarkerSender:
    """A marker task every half second through the broker; each worker appends its number to a file."""

    def __init__(self, path: Path):
        self.path = path
        self.sent: list[int] = []
        self.send_failures = 0

    def run(self, stop: threading.Event) -> None:
        from load_app import MARKER_TASK

        from portal.celery import app

        number = 0
        while not stop.is_set():
            number += 1
            try:
                app.send_task(MARKER_TASK, args=[number])
                self.sent.append(number)
            except Exception:  # the broker is away (the Redis restart): not sent, so not counted
                self.send_failures += 1
            stop.wait(0.5)

    def result(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        ran: Counter = Counter()
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                ran = Counter(int(line) for line in self.path.read_text().split())
            if all(ran[n] for n in self.sent):
                break
            time.sleep(1)
        lost = [n for n in self.sent if not ran[n]]
        twice = [n for n, count in ran.items() if count > 1]
        return {
            "marker_tasks_sent": len(self.sent),
            "send_refused_while_redis_away": self.send_failures,
            "run": sum(1 for n in self.sent if ran[n]),
            "lost": len(lost),
            "run_twice": len(twice),
            "ok": not lost and not twice,
        }


class SyncDriver:
    """Queues the Jira sync; when a fault makes a run fail it is queued again and goes on from its cursor.
    It reads the run through Django, so while PostgreSQL is down it waits and reconnects."""

    def __init__(self, connection):
        self.connection = connection
        self.runs: list[dict] = []

    def run(self, stop: threading.Event) -> None:
        from django.db import connection

        from integrations.sync.base import ACTIVE, SyncAlreadyRunning
        from integrations.tasks import sync_run_queue

        while not stop.is_set():
            try:
                current = sync_run_queue(connection=self.connection, by=None)
            except SyncAlreadyRunning:
                stop.wait(2)
                continue
            except Exception:  # the broker or the database is away: try again shortly
                connection.close()
                stop.wait(2)
                continue
            while current.status in ACTIVE and not stop.is_set():
                stop.wait(1)
                try:
                    current.refresh_from_db()
                except Exception:  # the database is away (its restart): a new connection next time
                    connection.close()
            self.runs.append({"id": current.pk, "status": current.status, "error": current.error[:200]})
            if current.status == "succeeded":
                return
            stop.wait(2)

    def result(self, issues: int) -> dict:
        from django.db.models import Count

        from releases.models import WorkItem

        stored = WorkItem.objects.filter(source=self.connection.source_key)
        duplicates = stored.values("external_id").annotate(n=Count("id")).filter(n__gt=1).count()
        completed = any(r["status"] == "succeeded" for r in self.runs)
        return {
            "issues_in_sandbox": issues,
            "runs": self.runs[-5:],
            "completed_within_the_load": completed,
            "work_items_stored": stored.count(),
            "duplicates": duplicates,
            "stored_exactly_once": completed and stored.count() == issues and duplicates == 0,
        }


class Supervisor:
    """What systemd does for deploy/systemd's workers and beat (Restart=on-failure, RestartSec=5): a
    worker or beat that exits is started again five seconds later; each exit is reported."""

    RESTART_S = 5
    WATCHED = ("worker1", "worker2", "beat")

    def __init__(self, cluster: Cluster, started: float):
        self.cluster = cluster
        self.started = started
        self.exits: list[dict] = []

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(1):
            for name in self.WATCHED:
                process = self.cluster.processes[name]
                if process.poll() is None:
                    continue
                log = (self.cluster.folder / f"{name}.log").read_text(errors="replace")
                reason = re.findall(r"CRITICAL/MainProcess\] (.{0,160})", log)
                self.exits.append(
                    {
                        "process": name,
                        "exit_code": process.returncode,
                        "at_s": round(time.monotonic() - self.started, 1),
                        "reason": reason[-1] if reason else "",
                        "where": _innermost_frames(log),
                    }
                )
                if not stop.wait(self.RESTART_S):
                    self.cluster.respawn(name)


def _innermost_frames(log: str, count: int = 16) -> list[str]:
    """The last frames of the log's last traceback, as `file:line in function` (where a crash came from)."""
    frames = re.findall(
        r'File "([^"]+)", line (\d+), in (\S+)', log.rsplit("Traceback (most recent call last)", 1)[-1]
    )
    return [
        f"{Path(path).parent.name}/{Path(path).name}:{line} in {function}"
        for path, line, function in frames[-count:]
    ]


# --- the faults -------------------------------------------------------------------------------------


def _health(base: str) -> int:
    """/healthz's status through nginx (https) or from one node (http); 0 when nothing answers."""
    try:
        return httpx.get(f"{base}/healthz", verify=False, timeout=5).status_code  # noqa: S501
    except httpx.HTTPError:
        return 0


def _until_healthy(base: str, since: float, timeout: float = 120) -> float | None:
    """Polls /healthz through nginx; seconds from `since` until it answers 200 (None: not within timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _health(base) == 200:
            return round(time.monotonic() - since, 1)
        time.sleep(0.25)
    return None


def fault_redis(cluster: Cluster, folder: Path, helpers: dict) -> dict:
    started = time.monotonic()
    away = restart_redis(folder, helpers)
    recovered = _until_healthy(cluster.base, started)
    return {
        "fault": "redis_restart",
        "redis_away_s": away,
        "healthz_200_again_after_s": recovered,
        "window": [started, time.monotonic() + GRACE_S],
        "ok": recovered is not None,
    }


def fault_postgres(cluster: Cluster, helpers: dict, seconds: float) -> dict:
    database = helpers["postgres"]
    started = time.monotonic()
    database.stop()
    node = f"http://127.0.0.1:{NODE_PORTS[0]}"
    statuses: dict[str, Counter] = {"node": Counter(), "nginx": Counter()}
    while time.monotonic() < started + seconds:
        codes = {"node": _health(node), "nginx": _health(cluster.base)}
        if time.monotonic() > started + 1:  # the first second: requests already past the database
            for where, code in codes.items():
                statuses[where][code] += 1
        time.sleep(0.5)
    database.start()
    started_again = time.monotonic()
    node_back = _until_healthy(node, started_again)
    nginx_back = _until_healthy(cluster.base, started_again)
    return {
        "fault": "postgres_restart",
        "down_s": round(started_again - started, 1),
        "healthz_during_outage": {
            where: {str(code): n for code, n in sorted(found.items())} for where, found in statuses.items()
        },
        "node_healthz_200_after_start_s": node_back,
        "nginx_healthz_200_after_start_s": nginx_back,
        "window": [started, time.monotonic() + GRACE_S],
        # The portal's own answer is the node's: nginx turns both nodes' 503s into "no live upstream".
        "ok": set(statuses["node"]) == {503} and node_back is not None and nginx_back is not None,
    }


def fault_web_node(cluster: Cluster) -> dict:
    started = time.monotonic()
    cluster.kill("web2")
    answers = Counter(_health(cluster.base) for _ in range(10))
    return {
        "fault": "web_node_killed",
        "killed": f"127.0.0.1:{NODE_PORTS[1]}",
        "healthz_through_nginx_after_kill": {str(code): n for code, n in sorted(answers.items())},
        "window": [started, time.monotonic() + GRACE_S],
        "ok": set(answers) == {200},
    }


# --- the report -------------------------------------------------------------------------------------


def requests_report(users: list[User], windows: dict[str, tuple[float, float]], seconds: float) -> dict:
    """p50/p95 per kind and overall (every request, errors included), overall outside the fault windows
    (what the p95 target is judged on), and the errors inside and outside the windows."""
    from common import percentile

    samples = [s for user in users for s in user.samples]
    by_kind = defaultdict(list)
    for sample in samples:
        by_kind[sample.page].append(sample)

    def stats(found: list[Sample]) -> dict:
        ordered = sorted(s.ms for s in found)
        if not ordered:
            return {"requests": 0}
        return {
            "requests": len(ordered),
            "errors": sum(1 for s in found if s.error),
            "p50_ms": percentile(ordered, 0.5),
            "p95_ms": percentile(ordered, 0.95),
            "max_ms": round(ordered[-1], 1),
        }

    def fault_of(sample: Sample) -> str:
        return next((name for name, (start, end) in windows.items() if start <= sample.at <= end), "")

    errors = [s for s in samples if s.error]
    inside = [s for s in errors if fault_of(s)]
    outside = [s for s in errors if not fault_of(s)]
    return {
        "overall": stats(samples) | {"requests_per_second": round(len(samples) / seconds, 1)},
        "outside_faults": stats([s for s in samples if not fault_of(s)]),
        "kinds": {kind: stats(found) for kind, found in sorted(by_kind.items())},
        "errors": {
            "during_faults": len(inside),
            "outside_faults": len(outside),
            "by_fault": dict(Counter(fault_of(s) for s in inside)),
            "first_outside_faults": [s.error for s in outside[:10]],
            "first_during_faults": [s.error for s in inside[:5]],
        },
    }


if __name__ == "__main__":
    main()
