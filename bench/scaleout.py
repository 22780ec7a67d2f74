"""Scale-out on one machine: two web nodes behind Debian's nginx (TLS), shared PostgreSQL and Redis, two
Celery workers and one beat, started and stopped by this script; one JSON object on stdout.

    .venv/bin/python bench/scaleout.py [--database-url postgres://postgres@127.0.0.1:5432/fd_production]
                                       [--redis-url redis://127.0.0.1:6379/4] [--rounds 20]

What it starts, each in its own process group and its own var/ folder (nothing shared but PostgreSQL,
Redis and the collected static files), from the production files in deploy/:
- the database dropped and created, migrated once, one admin account;
- two gunicorn nodes (deploy/gunicorn.conf.py) on 127.0.0.1:8401 and :8402, FLIGHTDECK_ENV=production;
- nginx on https://127.0.0.1:8400 (a self-signed certificate made here) in round robin, no affinity,
  setting X-Forwarded-Proto and X-Forwarded-For as docs/deployment.md says, and naming the node that
  answered in an X-Upstream header;
- two workers (both queues) and one beat, on the Redis database given (flushed first).

What it checks, through nginx only:
- sessions: signed in on one node, the session is honoured by both;
- CSRF: the sign-in form's token from one node is accepted by the other, rounds times; a POST without
  a token is refused (403) by both;
- HTMX: a partial (the release list's table) from both nodes, and an HTMX POST (a new API token, the
  CSRF header taken from a page the other node rendered) answered with its partial;
- workers: both answer a ping; heartbeat tasks sent through the broker are run by both; /healthz shows a
  fresh worker heartbeat and the queue depths; exactly one beat process;
- a Jira sync (--issues, from the tool sandbox on 127.0.0.1:8403): a second sync of the connection is
  refused while it runs, it runs on one worker at a time, and the worker running it is SIGKILLed
  mid-sync; the other worker gets the message back and the run resumes from its cursor, ending with
  every issue stored exactly once. The workers run bench/scaleout_app.py: the project's app with a
  two-minute visibility timeout instead of production's hour, so the message comes back within the run;
- one node killed: every request still answered 200 by the other.
Ports 8400-8405; nginx, its certificate and the nodes' logs live in a temporary folder, removed at exit.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
PROXY_PORT, NODE_PORTS = 8400, (8401, 8402)
SANDBOX_PORT = 8403  # Jira; its Jenkins and GitHub on the next two
# The workers yield the CPU to the web nodes, as deploy/systemd/flightdeck-worker@.service has them do
# (Nice=10): relative to the prefix every process here starts with.
WORKER_NICE = ["nice", "-n", "10"]
BASE = f"https://127.0.0.1:{PROXY_PORT}"
ADMIN, PASSWORD = "scaleout-admin", secrets.token_urlsafe(16)
TIMINGS_MS: list[float] = []  # every request made through nginx

NGINX_CONF = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/nginx-access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream flightdeck {{
        server 127.0.0.1:{node1} {upstream};
        server 127.0.0.1:{node2} {upstream};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        location / {{
            proxy_pass http://flightdeck;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout http_502;  # not http_503: the shared database is out
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""

CREATE_ADMIN = """
from portal.models import User
User.objects.create_superuser({username!r}, password={password!r}, first_name="Scale", last_name="Out")
"""


def main() -> None:
    options = parse_args()
    with tempfile.TemporaryDirectory(prefix="flightdeck-scaleout-") as folder:
        cluster = Cluster(Path(folder), options)
        try:
            cluster.start()
            result = run(cluster, options)
        finally:
            cluster.stop()
    print(json.dumps(result, indent=2))
    if not result["passed"]:
        sys.exit(1)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/fd_production")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--rounds", type=int, default=20, help="cross-node sign-in rounds")
    parser.add_argument("--issues", type=int, default=20_000, help="Jira sandbox issues the sync reads")
    return parser.parse_args()


class Cluster:
    """The processes of one scaled-out instance; every one started here is stopped by stop()."""

    def __init__(
        self,
        folder: Path,
        options: argparse.Namespace,
        *,
        proxy_port: int = PROXY_PORT,
        node_ports: tuple[int, int] = NODE_PORTS,
        sandbox_port: int = SANDBOX_PORT,
        worker_app: str = "bench.scaleout_app",
        nice: int = 0,
        upstream: str = "max_fails=1 fail_timeout=30s",
    ):
        """Ports and the workers' Celery app default to this script's; bench/load.py passes its own."""
        self.folder = folder
        self.options = options
        self.processes: dict[str, subprocess.Popen] = {}
        self.proxy_port, self.node_ports, self.sandbox_port = proxy_port, node_ports, sandbox_port
        self.worker_app = worker_app
        self.prefix = ["nice", "-n", str(nice)] if nice else []  # before every command started here
        self.upstream = upstream  # nginx's settings of each node
        self.commands: dict[str, tuple[list, dict]] = {}  # what respawn() starts again
        self.base = f"https://127.0.0.1:{proxy_port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTDECK_", "DJANGO_"))},
            "FLIGHTDECK_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": _fernet_key(),
            "FLIGHTDECK_AUDIT_KEY": secrets.token_urlsafe(40),
            "FLIGHTDECK_AUDIT_CHECKPOINTS": str(folder / "audit-checkpoints.jsonl"),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": self.base,
            "FLIGHTDECK_BASE_URL": self.base,
            "DATABASE_URL": options.database_url,
            "CELERY_BROKER_URL": options.redis_url,
            "FLIGHTDECK_INSTANCE": "fd-scaleout",
            "FLIGHTDECK_TRUSTED_PROXIES": "127.0.0.1",
            "FLIGHTDECK_STATIC_ROOT": str(folder / "static"),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "GUNICORN_WORKERS": "2",
            "LOG_LEVEL": "warning",
        }

    def var(self, name: str) -> dict:
        """The environment of one process, with a var/ folder of its own."""
        path = self.folder / "var" / name
        path.mkdir(parents=True, exist_ok=True)
        return {**self.env, "FLIGHTDECK_VAR_DIR": str(path)}

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [*self.prefix, BIN / "python", "manage.py", *args],
            cwd=REPO,
            env=self.var("manage"),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed: {result.stderr.strip()[-800:]}")
        return result.stdout

    def spawn(self, name: str, command: list, env: dict) -> subprocess.Popen:
        self.commands[name] = (command, env)
        log = open(self.folder / f"{name}.log", "a")  # noqa: SIM115 (kept open while the process runs)
        process = subprocess.Popen(
            [*self.prefix, *command],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start(self) -> None:
        self.prepare()
        self.start_processes()

    def prepare(self) -> None:
        """The database dropped, created and migrated, the static files collected, the admin made."""
        _recreate_database(self.options.database_url)
        _flush_redis(self.options.redis_url)
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        self.manage("shell", "--no-imports", "-c", CREATE_ADMIN.format(username=ADMIN, password=PASSWORD))

    def start_processes(self) -> None:
        """The web nodes, workers, beat and nginx; back once both nodes and nginx answer /healthz."""
        for number, port in enumerate(self.node_ports, start=1):
            self.start_node(number, port)
        celery = [BIN / "celery", "--app", "portal"]
        for number in (1, 2):
            self.spawn(
                f"worker{number}",
                [
                    *WORKER_NICE,
                    BIN / "celery",
                    "--app",
                    self.worker_app,
                    "worker",
                    "--queues",
                    "sync,default",
                    "--hostname",
                    f"worker{number}@scaleout",
                    "--concurrency",
                    "2",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel",
                    "WARNING",
                ],
                self.var(f"worker{number}"),
            )
        self.spawn("beat", [*celery, "beat", "--loglevel", "WARNING"], self.var("beat"))
        self._start_nginx()
        _wait_for(
            lambda: all(_healthy(f"http://127.0.0.1:{port}") for port in self.node_ports), "both web nodes"
        )
        _wait_for(lambda: _healthy(self.base, verify=False), "nginx")

    def start_node(self, number: int, port: int) -> None:
        env = {**self.var(f"web{number}"), "FLIGHTDECK_BIND": f"127.0.0.1:{port}"}
        self.spawn(
            f"web{number}", [BIN / "gunicorn", "--config", "deploy/gunicorn.conf.py", "portal.wsgi"], env
        )

    def start_sandbox(self, issues: int) -> str:
        """The tool sandbox (Jira on SANDBOX_PORT); its first line ends with the Jira URL."""
        from sync import PROJECTS  # bench/sync.py

        command = [
            *self.prefix,
            *WORKER_NICE,  # it stands in for Jira on a machine of its own
            BIN / "python",
            "-m",
            "integrations.sandbox",
            "--port",
            str(self.sandbox_port),
        ]
        command += ["--issues", str(issues), "--projects", ",".join(PROJECTS)]
        log = open(self.folder / "sandbox.log", "w")  # noqa: SIM115 (kept open while the process runs)
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=self.var("sandbox"),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        self.processes["sandbox"] = process
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"the sandbox did not start: {(self.folder / 'sandbox.log').read_text()[-800:]}"
            )
        return line.rsplit(" ", 1)[-1].strip()

    def _start_nginx(self) -> None:
        folder = self.folder / "nginx"
        folder.mkdir()
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                folder / "key.pem",
                "-out",
                folder / "cert.pem",
            ],
            check=True,
            capture_output=True,
        )
        conf = folder / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                # As root, nginx's workers would run as nobody, who cannot enter this private folder.
                user="user root;" if os.geteuid() == 0 else "",
                dir=folder,
                port=self.proxy_port,
                node1=self.node_ports[0],
                node2=self.node_ports[1],
                upstream=self.upstream,
            )
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.spawn("nginx", [nginx, "-c", conf, "-p", folder, "-g", "daemon off;"], dict(os.environ))

    def respawn(self, name: str) -> subprocess.Popen:
        """The process started again with the command and environment it was started with."""
        return self.spawn(name, *self.commands[name])

    def kill(self, name: str) -> None:
        process = self.processes[name]
        with _suppress_lookup():
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with _suppress_lookup():
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with _suppress_lookup():
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        _flush_redis(self.options.redis_url)


# --- the checks ---------------------------------------------------------------------------------------


class Browser:
    """One person's browser: cookies, and the node that answered each request (nginx's X-Upstream)."""

    def __init__(self):
        self.client = httpx.Client(base_url=BASE, verify=False, timeout=30, follow_redirects=False)  # noqa: S501 (the self-signed proxy made here)
        self.nodes: list[str] = []

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Origin": BASE, "Referer": f"{BASE}{path}", **kwargs.pop("headers", {})}
        started = time.perf_counter()
        response = self.client.request(method, path, headers=headers, **kwargs)
        TIMINGS_MS.append((time.perf_counter() - started) * 1000)
        self.nodes.append(_node(response))
        return response


def _node(response: httpx.Response) -> str:
    upstream = response.headers.get("x-upstream", "")
    return upstream.split(",")[-1].strip().rsplit(":", 1)[-1]  # the port of the node that answered


def _csrf(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html
    )
    return found.group(1) if found else ""


def check_sign_in_across_nodes(rounds: int) -> dict:
    """Each round: a new browser gets the sign-in form (and its CSRF token) from one node and posts it;
    counted where the POST went to the other node. Then its session is used on both."""
    crossed, failures, sessions_on = 0, [], set()
    for _ in range(rounds):
        browser = Browser()
        form = browser.request("GET", "/login/")
        token = _csrf(form.text)
        signed = browser.request(
            "POST", "/login/", data={"username": ADMIN, "password": PASSWORD, "csrfmiddlewaretoken": token}
        )
        form_node, post_node = browser.nodes[-2], browser.nodes[-1]
        if signed.status_code != 302 or "sessionid" not in browser.client.cookies:
            failures.append(
                {"step": "sign-in", "status": signed.status_code, "nodes": [form_node, post_node]}
            )
            continue
        crossed += form_node != post_node
        for _ in range(2):  # two requests: round robin sends them to both nodes
            home = browser.request("GET", "/")
            if home.status_code != 200 or "Scale" not in home.text:
                failures.append({"step": "session", "status": home.status_code, "node": browser.nodes[-1]})
            else:
                sessions_on.add(browser.nodes[-1])
    return {
        "rounds": rounds,
        "token_from_one_node_posted_to_the_other": crossed,
        "session_honoured_by_nodes": sorted(sessions_on),
        "failures": failures,
        "ok": not failures and crossed > 0 and len(sessions_on) == 2,
    }


def check_csrf_refusals() -> dict:
    """A POST without a token is refused by either node."""
    statuses = {}
    for attempt in range(6):
        browser = Browser()
        browser.request("GET", "/login/")
        for _ in range(
            attempt % 2
        ):  # round robin is shared: one more request lands the POST on the other node
            browser.request("GET", "/healthz")
        response = browser.request("POST", "/login/", data={"username": ADMIN, "password": PASSWORD})
        statuses.setdefault(browser.nodes[-1], set()).add(response.status_code)
    return {
        "statuses_by_node": {node: sorted(codes) for node, codes in statuses.items()},
        "ok": len(statuses) == 2 and all(codes == {403} for codes in statuses.values()),
    }


def signed_in_browser() -> Browser:
    browser = Browser()
    form = browser.request("GET", "/login/")
    browser.request(
        "POST",
        "/login/",
        data={"username": ADMIN, "password": PASSWORD, "csrfmiddlewaretoken": _csrf(form.text)},
    )
    return browser


def check_htmx_across_nodes() -> dict:
    browser = signed_in_browser()
    partial_nodes, failures = set(), []
    for _ in range(4):
        response = browser.request(
            "GET", "/releases/", headers={"HX-Request": "true", "HX-Target": "release-table"}
        )
        if (
            response.status_code == 200
            and "<html" not in response.text
            and 'id="release-table"' in response.text
        ):
            partial_nodes.add(browser.nodes[-1])
        else:
            failures.append({"step": "partial", "status": response.status_code, "node": browser.nodes[-1]})
    posts = []
    for number in range(4):
        page = browser.request("GET", "/profile/")
        header = _csrf(page.text)  # base.html's hx-headers on <body>
        page_node = browser.nodes[-1]
        response = browser.request(
            "POST",
            "/profile/tokens/",
            data={"name": f"pipeline-{number}"},
            headers={"HX-Request": "true", "HX-Target": "api-tokens", "X-CSRFToken": header},
        )
        ok = (
            response.status_code == 200 and 'id="new-token"' in response.text and "<html" not in response.text
        )
        posts.append({"page_node": page_node, "post_node": browser.nodes[-1], "ok": ok})
        if not ok:
            failures.append({"step": "htmx post", "status": response.status_code, "node": browser.nodes[-1]})
    crossed = sum(post["page_node"] != post["post_node"] for post in posts)
    return {
        "partial_from_nodes": sorted(partial_nodes),
        "htmx_posts": len(posts),
        "htmx_posts_with_the_token_of_the_other_node": crossed,
        "cache_control": response.headers.get("cache-control"),
        "csp": "script-src 'self'" in response.headers.get("content-security-policy", ""),
        "failures": failures,
        "ok": not failures and len(partial_nodes) == 2 and crossed > 0,
    }


def check_workers(cluster: Cluster) -> dict:
    """Both workers answer; heartbeat tasks sent through Redis are run by both; one beat."""
    ping = _celery(cluster, "inspect", "ping", "--json")
    sent = 20
    before = _task_totals(cluster)
    script = (
        "from portal.celery import app, HEARTBEAT_TASK\n"
        f"for _ in range({sent}): app.send_task(HEARTBEAT_TASK)\n"
    )
    cluster.manage("shell", "--no-imports", "-c", script)
    deadline = time.monotonic() + 60
    ran: dict[str, int] = {}
    while time.monotonic() < deadline:
        after = _task_totals(cluster)
        ran = {worker: after.get(worker, 0) - before.get(worker, 0) for worker in after}
        if sum(ran.values()) >= sent:
            break
        time.sleep(1)
    health = httpx.get(f"{BASE}/healthz", verify=False, timeout=10).json()  # noqa: S501
    beats = [
        name
        for name, process in cluster.processes.items()
        if name.startswith("beat") and process.poll() is None
    ]
    heartbeat = health.get("worker_heartbeat")
    age = None
    if heartbeat:
        age = round((datetime.now(UTC) - datetime.fromisoformat(heartbeat)).total_seconds(), 1)
    workers = sorted(ping) if isinstance(ping, dict) else []
    return {
        "workers_answering_ping": workers,
        "heartbeat_tasks_sent": sent,
        "heartbeat_tasks_run_by_worker": ran,
        "beat_processes": len(beats),
        "healthz": health,
        "heartbeat_age_s": age,
        "ok": len(workers) == 2
        and sum(ran.values()) >= sent
        and all(count > 0 for count in ran.values())
        and len(ran) == 2
        and len(beats) == 1
        and age is not None
        and age < 60,
    }


def check_sync_across_workers(cluster: Cluster, issues: int) -> dict:
    """A Jira sync of `issues` issues through the broker: a second sync of the connection is refused
    while it runs, it runs on one worker at a time, and the worker running it is killed (SIGKILL, the
    whole process group) once a thousand issues are stored. The other worker gets the unacknowledged
    message back after the visibility timeout and the run resumes from its cursor: at the end every
    issue is stored exactly once."""
    sandbox_url = cluster.start_sandbox(issues)
    os.environ.update(cluster.var("bench"))
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.db.models import Count
    from sync import make_connection  # bench/sync.py

    from integrations.models import SyncRun
    from integrations.sync.base import ACTIVE, SyncAlreadyRunning
    from integrations.tasks import sync_run_queue
    from releases.models import WorkItem

    connection = make_connection(sandbox_url, "Scale-out Jira")
    run = sync_run_queue(connection=connection, by=None)
    try:
        sync_run_queue(connection=connection, by=None)
        second = "queued"
    except SyncAlreadyRunning:
        second = "refused"
    holders_seen, killed, fetched_at_kill, resumed_after, killed_at = [], None, None, None, 0.0
    deadline = time.monotonic() + 600
    holder = None
    while holder is None and time.monotonic() < deadline:  # which worker took it (before a page is stored)
        holders = _sync_holders(cluster, run.pk)
        holders_seen.append(len(holders))
        holder = holders[0] if len(holders) == 1 else None
        run.refresh_from_db()
        if run.status not in ACTIVE:
            break
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status not in ACTIVE:
            break
        if killed is None and holder and run.items_created >= 1000:
            killed, fetched_at_kill, killed_at = holder, run.items_created, time.monotonic()
            cluster.kill(killed.split("@")[0])
        elif killed is not None:
            if resumed_after is None and run.attempts >= 2:  # the other worker started it again
                resumed_after = round(time.monotonic() - killed_at, 1)
            if int(time.monotonic() - killed_at) % 5 == 0:
                holders_seen.append(len(_sync_holders(cluster, run.pk)))
        time.sleep(0.1 if killed is None else 0.5)
    run.refresh_from_db()
    stored = WorkItem.objects.filter(source=connection.source_key)
    duplicates = stored.values("external_id").annotate(n=Count("id")).filter(n__gt=1).count()
    return {
        "issues_in_sandbox": issues,
        "second_sync_while_running": second,
        "workers_running_it_at_once_max": max(holders_seen, default=0),
        "killed_worker": killed,
        "stored_when_killed": fetched_at_kill,
        "taken_up_by_the_other_worker_after_s": resumed_after,
        "finished_after_kill_s": round(time.monotonic() - killed_at, 1) if killed else None,
        "run": {"status": run.status, "attempts": run.attempts, "error": run.error[:200]},
        "work_items_stored": stored.count(),
        "duplicates": duplicates,
        "ok": second == "refused"
        and max(holders_seen, default=0) == 1
        and killed is not None
        and run.attempts >= 2
        and run.status == SyncRun.Status.SUCCEEDED
        and stored.count() == issues
        and duplicates == 0,
    }


def _sync_holders(cluster: Cluster, run_id: int) -> list[str]:
    """The workers running the sync task of this run now."""
    active = _celery(cluster, "inspect", "active", "--json", "--timeout", "2")
    return sorted(
        worker
        for worker, tasks in (active or {}).items()
        for task in tasks or []
        if task.get("name", "").endswith("connection_sync_task")
        and task.get("kwargs", {}).get("run_id") == run_id
    )


def check_one_node_down(cluster: Cluster) -> dict:
    cluster.kill("web2")
    browser = signed_in_browser()
    statuses = []
    for _ in range(10):
        statuses.append(browser.request("GET", "/").status_code)
    return {
        "killed": f"127.0.0.1:{NODE_PORTS[1]}",
        "statuses": sorted(set(statuses)),
        "answered_by": sorted(set(browser.nodes)),
        "ok": set(statuses) == {200} and set(browser.nodes) == {str(NODE_PORTS[0])},
    }


def run(cluster: Cluster, options: argparse.Namespace) -> dict:
    started = time.perf_counter()
    sign_in = check_sign_in_across_nodes(options.rounds)
    csrf = check_csrf_refusals()
    htmx = check_htmx_across_nodes()
    workers = check_workers(cluster)
    sync = check_sync_across_workers(cluster, options.issues)
    node_down = check_one_node_down(cluster)
    checks = {
        "sessions_and_csrf_across_nodes": sign_in,
        "csrf_refused_without_token": csrf,
        "htmx_across_nodes": htmx,
        "workers_and_beat": workers,
        "sync_across_workers": sync,
        "one_node_down": node_down,
    }
    return {
        "bench": "scaleout",
        "topology": {
            "proxy": f"nginx, TLS on 127.0.0.1:{PROXY_PORT}, round robin, no affinity",
            "web_nodes": [f"127.0.0.1:{port}" for port in NODE_PORTS],
            "workers": 2,
            "beat": 1,
            "database": urlsplit(options.database_url)
            ._replace(netloc=urlsplit(options.database_url).hostname or "")
            .geturl(),
            "broker": options.redis_url,
        },
        "checks": checks,
        "requests_through_nginx": len(TIMINGS_MS),
        "request_ms": _percentiles(TIMINGS_MS),
        "seconds": round(time.perf_counter() - started, 1),
        "passed": all(check["ok"] for check in checks.values()),
    }


# --- helpers -----------------------------------------------------------------------------------------


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)

    return {"p50": at(0.5), "p95": at(0.95), "max": round(ordered[-1], 1)}


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')


def _flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def _healthy(base: str, verify: bool = True) -> bool:
    try:
        return (
            httpx.get(
                f"{base}/healthz", verify=verify, timeout=3, headers={"X-Forwarded-Proto": "https"}
            ).status_code
            == 200
        )
    except httpx.HTTPError:
        return False


def _wait_for(condition, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def _celery(cluster: Cluster, *args: str):
    result = subprocess.run(
        [BIN / "celery", "--app", "portal", *args],
        cwd=REPO,
        env=cluster.var("manage"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {}


def _task_totals(cluster: Cluster) -> dict[str, int]:
    stats = _celery(cluster, "inspect", "stats", "--json")
    return {worker: sum((data.get("total") or {}).values()) for worker, data in stats.items()}


class _suppress_lookup:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        return kind is ProcessLookupError


if __name__ == "__main__":
    main()
