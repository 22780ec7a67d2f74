"""The sandbox's entry point: Jira, Jenkins and GitHub in one process, each on its own port and each
announced on a line of its own (Jira's first); a plan file lines the three tools up with the demo;
and a demo seed synced from it brings work items, builds, test runs and deployments to its own
releases."""

import base64
import json
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from demo.catalogue import SANDBOX_GITHUB_ENVIRONMENTS
from demo.sandbox import sandbox_plan
from integrations.models import Connection, SyncRun
from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.github import GithubDataset, GithubRoutes
from integrations.sandbox.gitlab import PLANNED_MERGE_REQUESTS, GitlabRoutes, gitlab_from_plan
from integrations.sandbox.jenkins import JenkinsDataset, JenkinsRoutes
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.plan import PULLS_PER_VERSION, github_from_plan, jenkins_from_plan, jira_from_plan
from integrations.sandbox.server import SandboxServer
from releases import tasks
from releases.gates.services.evidence import gate_evidence_refresh
from releases.models import Build, Deployment, Gate, PullRequest, Release, TestRun, WorkItem
from tests.integrations.helpers import sync as sync_connection

REPO = Path(__file__).resolve().parents[2]
ANCHOR = date(2026, 11, 23)
PLAN = {
    "jira": {
        "created_from": "2026-08-25T08:00:00+00:00",
        "created_until": "2026-11-22T18:00:00+00:00",
        "projects": {
            "MOBILE": [{"id": "40000", "name": "5.3.2", "releaseDate": "2026-11-30", "issues": {"done": 4}}]
        },
    },
    "jenkins": {
        "mob-ci": [
            {
                "version": "5.3.2",
                "started_at": "2026-11-22T08:00:00+00:00",
                "result": "UNSTABLE",
                "failed": 3,
            },
            {"version": "5.3.2", "started_at": "2026-11-22T12:00:00+00:00"},
        ]
    },
    "github": {
        "acme/mobile-banking": [
            {"ref": "v5.3.2", "environment": "uat", "created_at": "2026-11-22T17:00:00+00:00"},
            {"ref": "v5.3.2", "environment": "staging", "created_at": "2026-11-22T17:10:00+00:00"},
        ]
    },
}


@contextmanager
def sandbox_process(*args: str, lines: int = 3):
    """`python -m integrations.sandbox *args`, yielding the URLs its first lines end with."""
    command = [sys.executable, "-m", "integrations.sandbox", *args]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield [line.rsplit(" ", 1)[-1] for line in read_lines(process, lines)], process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_lines(process: subprocess.Popen, count: int, timeout: float = 15) -> list[str]:
    """The first `count` lines, read by a thread (a pipe read cannot time out); if they do not come,
    the sandbox is killed before its stderr is read, so a failure never hangs."""
    printed: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            printed.put(line.strip())
        printed.put(None)  # the sandbox closed its stdout: it has ended

    threading.Thread(target=pump, daemon=True).start()
    lines, deadline = [], time.monotonic() + timeout
    while len(lines) < count:
        try:
            line = printed.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            process.kill()
            process.wait()
            raise AssertionError(f"the sandbox printed {lines}, then: {process.stderr.read()!r}")
        lines.append(line)
    return lines


def get(url: str, authorization: str) -> tuple[int, object]:
    request = urllib.request.Request(url, headers={"Authorization": authorization})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our loopback server
        return response.status, json.loads(response.read())


def basic(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()


def test_the_entry_point_serves_jira_jenkins_and_github_on_free_ports_jira_first():
    jira, jenkins, github = JiraDataset(), JenkinsDataset(), GithubDataset()
    with sandbox_process("--port", "0", "--issues", "30", "--projects", "MOBILE,PORTAL") as (urls, process):
        jira_url, jenkins_url, github_url = urls
        assert len({urlsplit(url).port for url in urls}) == 3
        status, me = get(f"{jira_url}/rest/api/3/myself", basic(jira.username, jira.token))
        assert status == 200 and me["emailAddress"] == jira.username
        status, found = get(
            f"{jira_url}/rest/api/2/search?jql=project%20%3D%20PORTAL&maxResults=50",
            basic(jira.username, jira.token),
        )
        assert found["total"] == 15  # the options reached Jira: 30 issues over two projects
        tree = "lastBuild%5Bnumber%5D"
        status, job = get(
            f"{jenkins_url}/job/payments-ci/api/json?tree={tree}", basic(jenkins.username, jenkins.token)
        )
        assert status == 200 and job["lastBuild"]["number"] == 250
        status, deployments = get(f"{github_url}/repos/acme/payments/deployments", f"Bearer {github.token}")
        assert status == 200 and len(deployments) == 30
    assert process.returncode == 0  # SIGTERM stops all three cleanly


def test_jenkins_listens_next_to_jira_unless_told_otherwise():
    jira_port = free_pair()
    with sandbox_process("--port", str(jira_port), "--github-port", "0") as (urls, _):
        ports = [urlsplit(url).port for url in urls]
    assert ports[:2] == [jira_port, jira_port + 1] and ports[2]


def test_a_plan_file_gives_the_builds_and_deployments(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    with sandbox_process("--port", "0", "--issues", "30", "--plan", str(plan)) as (urls, _):
        jira_url, jenkins_url, github_url = urls
        jira, jenkins, github = JiraDataset(), JenkinsDataset(), GithubDataset()
        _, versions = get(f"{jira_url}/rest/api/3/project/MOBILE/versions", basic(jira.username, jira.token))
        _, found = get(
            f"{jira_url}/rest/api/2/search?jql=project%20%3D%20MOBILE", basic(jira.username, jira.token)
        )
        tree = "allBuilds%5Bnumber,result,parameters%5Bname,value%5D%5D%7B0,10%7D"
        _, builds = get(
            f"{jenkins_url}/job/mob-ci/api/json?tree={tree}", basic(jenkins.username, jenkins.token)
        )
        _, report = get(
            f"{jenkins_url}/job/mob-ci/1/testReport/api/json", basic(jenkins.username, jenkins.token)
        )
        _, deployments = get(f"{github_url}/repos/acme/mobile-banking/deployments", f"Bearer {github.token}")
    assert [(v["id"], v["name"], v["releaseDate"]) for v in versions] == [("40000", "5.3.2", "2026-11-30")]
    assert found["total"] == 4  # the plan's issues; --issues is for the generated dataset
    assert [(b["number"], b["result"]) for b in builds["allBuilds"]] == [(2, "SUCCESS"), (1, "UNSTABLE")]
    assert report["failCount"] == 3
    assert [(d["ref"], d["environment"], d["created_at"]) for d in deployments] == [
        ("v5.3.2", "staging", "2026-11-22T17:10:00Z"),
        ("v5.3.2", "uat", "2026-11-22T17:00:00Z"),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot read the plan"),
        ('{"jenkins": {"mob-ci": [{"version": "1.0"}]}}', "a Jenkins build in the plan is malformed"),
        ('{"jira": {"projects": {"MOBILE": [{"name": "1.0"}]}}}', "a Jira version in the plan is malformed"),
        (
            '{"github": {"a/b": [{"ref": "v1", "environment": "uat", "created_at": "2026-11-22T17:00"}]}}',
            "no UTC offset",
        ),
    ],
)
def test_a_bad_plan_is_one_clear_line_not_a_traceback(tmp_path, content, message):
    plan = tmp_path / "plan.json"
    plan.write_text(content)
    command = [sys.executable, "-m", "integrations.sandbox", "--port", "0", "--plan", str(plan)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_taken_port_stops_every_tool_with_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "integrations.sandbox", "--port", "0", "--github-port", str(port)]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout.count(" on http://") == 2  # Jira and Jenkins had started, and were stopped


def free_pair() -> int:
    """A port that is free, and the one after it too (probed: nothing holds them afterwards)."""
    for _attempt in range(20):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError("no two free ports in a row")


# --- the demo, synced from the sandbox its plan describes -------------------------------------


@pytest.fixture
def demo_sandbox(db):
    """A small demo seed, and Jira, Jenkins, GitHub and GitLab sandboxes serving its plan, with the demo's
    connections pointed at them (ports are free ones, not dev.py's)."""
    call_command("seed_demo", "--scale", "small", "--seed", "1", "--anchor", ANCHOR.isoformat(), verbosity=0)
    plan = json.loads(json.dumps(sandbox_plan()))  # through JSON, as dev.py hands it over
    servers = {
        Connection.Kind.JIRA_CLOUD: SandboxServer(JiraRoutes(jira_from_plan(plan))).start(),
        Connection.Kind.JENKINS: SandboxServer(JenkinsRoutes(jenkins_from_plan(plan))).start(),
        Connection.Kind.GITHUB: SandboxServer(GithubRoutes(github_from_plan(plan))).start(),
        Connection.Kind.GITLAB: SandboxServer(GitlabRoutes(gitlab_from_plan(plan))).start(),
    }
    for kind, server in servers.items():
        Connection.objects.filter(kind=kind).update(base_url=server.url)
    yield plan
    for server in servers.values():
        server.stop()


def sync(kind: str) -> SyncRun:
    return sync_connection(Connection.objects.get(kind=kind))


def gate_statuses() -> dict:
    return dict(Gate.objects.values_list("pk", "status"))


def test_a_demo_sync_brings_builds_test_runs_and_deployments_to_the_demo_releases(
    demo_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    planned_builds = demo_sandbox["jenkins"]["mob-ci"]
    planned_deployments = demo_sandbox["github"]["acme/mobile-banking"]
    assert planned_builds and planned_deployments  # the small seed has open MOB releases
    reports = [b for b in planned_builds if b["failed"] is not None]
    assert 0 < len(reports) < len(planned_builds)  # some builds broke before their tests ran
    # The evidence of the releases a sync touched is refreshed as the worker would, after commit.
    monkeypatch.setattr(tasks.gate_evidence_refresh_task, "delay", lambda **kw: gate_evidence_refresh(**kw))
    gates_before = gate_statuses()

    with django_capture_on_commit_callbacks(execute=True):
        jenkins = sync(Connection.Kind.JENKINS)
    builds = Build.objects.filter(source=jenkins.connection.source_key).select_related("release__application")
    assert jenkins.items_created == len(planned_builds) + len(reports)  # builds, and a test run per report
    assert sorted((b.number, b.release.version, b.result) for b in builds) == [
        (n, b["version"], b["result"].lower()) for n, b in enumerate(planned_builds, start=1)
    ]
    assert {b.release.application.key for b in builds} == {"MOB"}
    runs = TestRun.objects.filter(source=jenkins.connection.source_key)
    assert {(r.release_id, r.build_id) for r in runs} == {
        (b.release_id, b.pk) for b in builds if b.result == "success"
    }

    with django_capture_on_commit_callbacks(execute=True):
        github = sync(Connection.Kind.GITHUB)
    deployments = Deployment.objects.filter(source=github.connection.source_key).select_related(
        "release", "environment"
    )
    assert sorted((d.version, d.release.version, d.environment.name) for d in deployments) == sorted(
        (p["ref"], p["ref"], SANDBOX_GITHUB_ENVIRONMENTS[p["environment"]]) for p in planned_deployments
    )
    assert all(d.status == "success" and d.release.application.key == "MOB" for d in deployments)
    pulls = PullRequest.objects.filter(source=github.connection.source_key).select_related("release")
    versions = {p["ref"] for p in planned_deployments}
    assert len(pulls) == PULLS_PER_VERSION * len(versions)
    assert {p.release.version for p in pulls} == versions  # each in its release's milestone

    with django_capture_on_commit_callbacks(execute=True):
        sync(Connection.Kind.JIRA_CLOUD)
    # The sandbox's story keeps the seed's: no gate the seed had not failed fails after the syncs.
    assert newly_failed(gates_before) == []

    kinds = (Connection.Kind.JENKINS, Connection.Kind.GITHUB, Connection.Kind.JIRA_CLOUD)
    again = [sync(kind) for kind in kinds]
    assert [(run.items_created, run.items_updated) for run in again] == [(0, 0)] * 3


def test_a_demo_gitlab_sync_brings_merge_requests_pipelines_and_deployments_to_the_payments_hub(
    demo_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    planned = demo_sandbox["gitlab"]["acme/payments-hub"]
    assert planned["versions"] and planned["deployments"]  # the small seed has open PAY releases
    monkeypatch.setattr(tasks.gate_evidence_refresh_task, "delay", lambda **kw: gate_evidence_refresh(**kw))
    gates_before = gate_statuses()

    with django_capture_on_commit_callbacks(execute=True):
        gitlab = sync(Connection.Kind.GITLAB)
    source = gitlab.connection.source_key
    pulls = PullRequest.objects.filter(source=source).select_related("release__application")
    assert len(pulls) == PLANNED_MERGE_REQUESTS * len(planned["versions"])
    assert {p.release.version for p in pulls} == set(planned["versions"])
    assert {(p.state, p.release.application.key) for p in pulls} == {("merged", "PAY")}
    builds = Build.objects.filter(source=source).select_related("release")
    assert sorted(b.release.version for b in builds) == sorted(planned["versions"])
    assert {b.result for b in builds} == {"success"}
    runs = TestRun.objects.filter(source=source)
    assert len(runs) == len(builds) and {r.failed for r in runs} == {0}
    deployments = Deployment.objects.filter(source=source).select_related("release", "environment")
    assert sorted((d.release.version, d.environment.name) for d in deployments) == sorted(
        (p["ref"], SANDBOX_GITHUB_ENVIRONMENTS[p["environment"]]) for p in planned["deployments"]
    )
    assert newly_failed(gates_before) == []
    again = sync(Connection.Kind.GITLAB)
    assert (again.items_created, again.items_updated) == (0, 0)


def newly_failed(before: dict) -> list[int]:
    """Gates failed now that were not failed before (or did not exist)."""
    return [pk for pk, status in gate_statuses().items() if status == "failed" != before.get(pk)]


def release_state(release: Release) -> tuple:
    fields = ("status", "target_date", "code_freeze_date", "actual_date", "summary")
    return tuple(getattr(release, name) for name in fields)


def test_a_demo_jira_sync_adopts_the_demo_releases_and_fails_no_gate_the_seed_passed(
    demo_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    planned = {v["name"]: v for v in demo_sandbox["jira"]["projects"]["MOBILE"]}
    assert "PORTAL" not in demo_sandbox["jira"]["projects"]  # the small seed has no WEB to map it to
    assert {v["released"] for v in planned.values()} == {True, False}
    monkeypatch.setattr(tasks.gate_evidence_refresh_task, "delay", lambda **kw: gate_evidence_refresh(**kw))
    releases_before = Release.objects.count()
    mob = {r.version: r for r in Release.objects.filter(application__key="MOB")}
    state_before = {version: release_state(mob[version]) for version in planned}
    gates_before = gate_statuses()

    with django_capture_on_commit_callbacks(execute=True):
        run = sync(Connection.Kind.JIRA_CLOUD)

    # Every version is a demo release, adopted as it was: no duplicate, no date or status moved.
    assert Release.objects.count() == releases_before
    adopted = {r.version: r for r in Release.objects.filter(application__key="MOB", version__in=planned)}
    assert {version: r.external_id for version, r in adopted.items()} == {
        version: v["id"] for version, v in planned.items()
    }
    assert {version: release_state(r) for version, r in adopted.items()} == state_before
    # Each version's issues are work items of its release, done as the plan says.
    items = WorkItem.objects.filter(source=run.connection.source_key)
    issues = sum(sum(v["issues"].values()) for v in planned.values())
    assert run.items_created == items.count() == issues
    done = items.filter(status_category="done").values_list("fix_releases__version", flat=True)
    assert sorted(done) == sorted(name for name, v in planned.items() for _ in range(v["issues"]["done"]))
    assert all(v["issues"]["done"] == sum(v["issues"].values()) for v in planned.values() if v["released"])

    assert newly_failed(gates_before) == []
    # A release too far ahead for seeded work has an empty version: its scope gate keeps waiting.
    waiting = Gate.objects.filter(
        pk__in=[pk for pk, s in gates_before.items() if s == "pending"], kind="scope"
    )
    assert waiting.exists() and set(waiting.values_list("status", flat=True)) == {"pending"}
    # An open release's scope gate now counts its Jira issues next to the seed's own work items.
    under_way = next(v for v in planned.values() if v["issues"]["todo"])
    scope = Gate.objects.get(release=adopted[under_way["name"]], kind="scope")
    in_scope = adopted[under_way["name"]].work_items.count()
    assert scope.status == "failed" and f" of {in_scope} work items done" in scope.evidence_summary
    assert in_scope > sum(under_way["issues"].values())
