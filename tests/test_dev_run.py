"""`dev.py run` and the tool sandbox: the sandbox takes free ports when the usual ones are taken, each
server must prove it knows the run's secret before the demo connections are pointed at it, and
demo_sandbox_connect points (and re-points) them there with the secret as their credential, or
disables them."""

import importlib.util
import json
import socket
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from demo.catalogue import SANDBOX_PROJECTS
from demo.management.commands.demo_sandbox_connect import DEMO_CONNECTIONS
from demo.management.commands.demo_sandbox_connect import SECRET_ENV as COMMAND_SECRET_ENV
from demo.sandbox import sandbox_plan
from integrations.models import Connection
from integrations.sandbox.github import GithubRoutes
from integrations.sandbox.gitlab import GitlabRoutes, gitlab_from_plan
from integrations.sandbox.jenkins import JenkinsRoutes
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.plan import github_from_plan, jenkins_from_plan, jira_from_plan
from integrations.sandbox.proof import SECRET_ENV
from integrations.sandbox.server import SandboxServer
from tests.integrations.helpers import sync

REPO = Path(__file__).resolve().parents[1]
SECRET = "secret-of-this-run"
ANCHOR = date(2026, 11, 23)


def load_dev():
    spec = importlib.util.spec_from_file_location("dev_script", REPO / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dev(monkeypatch):
    """dev.py as a module, starting the sandbox with this test's Python."""
    module = load_dev()
    monkeypatch.setattr(module, "PYTHON", Path(sys.executable))
    processes = {}
    yield module, processes
    module.stop(processes)


@pytest.fixture
def taken_port():
    """A port something else listens on (as a foreign process on 8765 would)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_the_secret_has_one_name_in_dev_py_the_sandbox_and_the_command():
    assert load_dev().SANDBOX_SECRET_ENV == SECRET_ENV == COMMAND_SECRET_ENV


def test_dev_py_serves_the_demo_plan_and_projects_on_free_ports_unless_told():
    """(Moved from tests/portal/test_seed_demo.py, where it pinned the fixed ports 8765-8767.)"""
    module = load_dev()
    args = [str(arg) for arg in module.SANDBOX_ARGS]
    assert args[args.index("--plan") + 1] == str(module.SANDBOX_PLAN)
    assert args[args.index("--projects") + 1].split(",") == list(SANDBOX_PROJECTS)
    # Jira, Jenkins, GitHub and GitLab: ports are dev.py's to choose, never in the arguments it passes on.
    assert not {"--port", "--jenkins-port", "--github-port", "--gitlab-port"} & set(args)
    assert module.build_parser().parse_args(["run"]).sandbox_port == 0  # free ports
    options = module.build_parser().parse_args(["run", "--port", "9400", "--sandbox-port", "9410"])
    assert (options.port, options.sandbox_port) == (9400, 9410)


def test_the_sandbox_takes_free_ports_when_the_usual_ones_are_taken(dev, taken_port):
    module, processes = dev
    urls = module.sandbox_start(0, SECRET, processes, args=("--issues", "10"))
    assert set(urls) == {"jira", "jenkins", "github", "gitlab"}
    ports = {urlsplit(url).port for url in urls.values()}
    assert len(ports) == 4 and taken_port not in ports
    assert module.sandbox_refusals(urls, SECRET) == []  # each proves it is the sandbox of this run
    assert module.sandbox_refusals(urls, "another-run") == ["jira", "jenkins", "github", "gitlab"]
    assert module.sandbox_connect_args(urls) == [
        *("--jira", urls["jira"], "--jenkins", urls["jenkins"], "--github", urls["github"]),
        *("--gitlab", urls["gitlab"]),
    ]
    assert processes["sandbox"].poll() is None


def test_a_taken_sandbox_port_stops_dev_py_at_once_with_the_reason(dev, taken_port, capfd):
    module, processes = dev
    with pytest.raises(SystemExit, match="the tool sandbox stopped during start-up"):
        module.sandbox_start(taken_port, SECRET, processes, args=("--issues", "10"), timeout=30)
    assert f"cannot listen on 127.0.0.1:{taken_port}" in capfd.readouterr().err


class Foreign(BaseHTTPRequestHandler):
    def do_GET(self):
        data = json.dumps({"proof": "f" * 64}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


def test_a_foreign_server_on_a_port_is_refused(dev):
    module, processes = dev
    urls = module.sandbox_start(0, SECRET, processes, args=("--issues", "10"))
    foreign = ThreadingHTTPServer(("127.0.0.1", 0), Foreign)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        urls["jenkins"] = f"http://127.0.0.1:{foreign.server_address[1]}"
        assert module.sandbox_refusals(urls, SECRET) == ["jenkins"]
    finally:
        foreign.shutdown()
        foreign.server_close()


# --- demo_sandbox_connect ------------------------------------------------------------------------


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--scale", "small", "--seed", "1", "--anchor", ANCHOR.isoformat(), verbosity=0)


def demo_connections() -> dict[str, Connection]:
    return {
        tool: Connection.objects.get(name=name) for tool, (name, _credentials) in DEMO_CONNECTIONS.items()
    }


def connect(monkeypatch, secret: str, urls: dict[str, str]) -> None:
    monkeypatch.setenv(SECRET_ENV, secret)
    call_command("demo_sandbox_connect", *load_dev().sandbox_connect_args(urls), verbosity=0)


def test_the_demo_connections_are_disabled_then_pointed_and_re_pointed(demo, monkeypatch):
    call_command("demo_sandbox_connect", "--disable", verbosity=0)
    assert [c.enabled for c in demo_connections().values()] == [False] * 4

    first = {
        "jira": "http://127.0.0.1:41001",
        "jenkins": "http://127.0.0.1:41002/",
        "github": "http://127.0.0.1:41003",
        "gitlab": "http://127.0.0.1:41004",
    }
    connect(monkeypatch, SECRET, first)
    connections = demo_connections()
    assert {tool: c.base_url for tool, c in connections.items()} == {
        tool: url.rstrip("/") for tool, url in first.items()
    }
    assert all(c.enabled for c in connections.values())
    assert connections["jira"].credentials == {"username": "sync-bot@example.com", "token": SECRET}
    assert connections["jenkins"].credentials == {"username": "ci-bot", "token": SECRET}
    assert connections["github"].credentials == {"token": SECRET}
    assert connections["gitlab"].credentials == {"token": SECRET}
    assert SECRET not in connections["github"].credentials_encrypted  # stored encrypted

    second = {
        "jira": "http://127.0.0.1:42001",
        "jenkins": "http://127.0.0.1:42002",
        "github": "http://127.0.0.1:42003",
        "gitlab": "http://127.0.0.1:42004",
    }
    connect(monkeypatch, "the-next-run", second)  # the same data, another run
    connections = demo_connections()
    assert {tool: c.base_url for tool, c in connections.items()} == second
    assert {c.credentials["token"] for c in connections.values()} == {"the-next-run"}


def test_pointing_needs_the_secret_and_four_urls(demo, monkeypatch):
    urls = [
        "--jira",
        "http://127.0.0.1:1",
        "--jenkins",
        "http://127.0.0.1:2",
        "--github",
        "http://127.0.0.1:3",
        "--gitlab",
        "http://127.0.0.1:4",
    ]
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(CommandError, match=SECRET_ENV):
        call_command("demo_sandbox_connect", *urls)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with pytest.raises(CommandError, match="--github"):
        call_command("demo_sandbox_connect", *urls[:4])
    with pytest.raises(CommandError, match="--gitlab"):
        call_command("demo_sandbox_connect", *urls[:6])
    with pytest.raises(CommandError, match="not an http"):
        call_command("demo_sandbox_connect", *urls[:7], "file:///etc/passwd")


def test_without_the_demo_connections_it_says_so(db, monkeypatch):
    with pytest.raises(CommandError, match="Sandbox Jira Cloud"):
        call_command("demo_sandbox_connect", "--disable")


def test_the_pointed_demo_connections_sync_from_a_sandbox_with_the_runs_secret(demo, monkeypatch):
    plan = json.loads(json.dumps(sandbox_plan()))
    servers = {
        "jira": SandboxServer(JiraRoutes(jira_from_plan(plan)), secret=SECRET).start(),
        "jenkins": SandboxServer(JenkinsRoutes(jenkins_from_plan(plan)), secret=SECRET).start(),
        "github": SandboxServer(GithubRoutes(github_from_plan(plan)), secret=SECRET).start(),
        "gitlab": SandboxServer(GitlabRoutes(gitlab_from_plan(plan)), secret=SECRET).start(),
    }
    try:
        connect(monkeypatch, SECRET, {tool: server.url for tool, server in servers.items()})
        runs = {tool: sync(connection) for tool, connection in demo_connections().items()}
        assert all(run.items_created for run in runs.values())
        statuses = {request.status for server in servers.values() for request in server.requests}
        assert 200 in statuses and 401 not in statuses  # every request carried the run's secret
    finally:
        for server in servers.values():
            server.stop()


def test_the_portals_port_is_the_base_url_of_web_worker_and_beat(monkeypatch):
    """--port 9400: links in e-mails (settings.FLIGHTDECK_BASE_URL) point at :9400, not :8000."""
    module = load_dev()
    started = {}

    class Popen:
        def __init__(self, command, *, env, **options):
            name = Path(command[0]).name
            started[next(c for c in command if c in ("worker", "beat")) if "celery" in name else name] = env

    monkeypatch.setattr(module.subprocess, "Popen", Popen)
    module.start_processes(9400, {})
    assert set(started) == {"gunicorn", "worker", "beat"}
    assert {env["FLIGHTDECK_BASE_URL"] for env in started.values()} == {"http://127.0.0.1:9400"}
    assert all(SECRET_ENV not in env for env in started.values())  # the secret is the sandbox's alone
    # The terminal keeps to URLs, accounts and errors: e-mails go to files, not to it.
    backends = {env["EMAIL_BACKEND"] for env in started.values()}
    assert backends == {"django.core.mail.backends.filebased.EmailBackend"}
