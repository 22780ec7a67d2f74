"""GitLab sync against the sandbox over real HTTP on loopback: merge requests, pipelines (their jobs
and test reports), deployments and releases through keyset pages; an unchanged re-sync writes
nothing; changes are read from the watermark; deletions are found by the reconcile; 429s and spent
rate limits wait for the task's retry; 5xx are retried; a sync killed between pages resumes after its
last page; webhooks carry the secret in X-Gitlab-Token."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import Retry
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext

from integrations import tasks
from integrations.clients.gitlab import GitlabClient
from integrations.models import Connection, SyncCursor, SyncRun, WebhookDelivery
from integrations.runner import connection_sync, connection_test
from integrations.sandbox.gitlab import GitlabDataset, GitlabRoutes
from integrations.sandbox.server import Fault, SandboxServer
from integrations.sync import gitlab as gitlab_sync_module
from integrations.tasks import sync_run_queue
from releases.models import Build, Deployment, PullRequest, Release, TestRun
from releases.planning.notes import notes_draft
from tests import factories as f
from tests.integrations.helpers import sync
from tests.integrations.test_sync_faults import run_task

pytestmark = pytest.mark.django_db

PROJECT = "acme/payments"
DOMAIN_TABLES = ("releases_pullrequest", "releases_build", "releases_testrun", "releases_deployment")


@pytest.fixture
def gitlab(serve):
    def start(*, merge_requests=30, pipelines=12, deployments=12) -> SandboxServer:
        dataset = GitlabDataset(
            merge_requests={PROJECT: merge_requests},
            pipelines={PROJECT: pipelines},
            deployments={PROJECT: deployments},
        )
        return serve(GitlabRoutes(dataset))

    return start


@pytest.fixture
def pay():
    """The application, releases 4.2 and 4.3 (milestones "4.2", tags "v4.2"), two environments."""
    application = f.ApplicationFactory(key="PAY")
    f.ReleaseFactory(application=application, version="4.2")
    f.ReleaseFactory(application=application, version="4.3")
    f.EnvironmentFactory(name="staging")
    f.EnvironmentFactory(name="prod")
    return application


def gitlab_connection(server, application, token=None) -> Connection:
    connection = f.ConnectionFactory(
        kind=Connection.Kind.GITLAB,
        base_url=server.url,
        credentials={"token": token or server.routes.dataset.token},
        scope={"projects": [PROJECT], "environments": {"production": "prod"}},
    )
    f.ApplicationMappingFactory(connection=connection, application=application, external_key=PROJECT)
    return connection


def merge_requests(connection) -> dict:
    return {
        p.number: (p.state, p.release.version if p.release else "", p.title)
        for p in PullRequest.objects.filter(source=connection.source_key).select_related("release")
    }


def sandbox_merge_requests(dataset) -> dict:
    state = {"opened": "open", "closed": "closed", "merged": "merged"}
    listed = {}
    for n in dataset.numbers(PROJECT, "merge_requests"):
        raw = dataset.merge_request(PROJECT, n)
        listed[n] = (state[raw["state"]], (raw["milestone"] or {}).get("title", ""), raw["title"])
    return listed


def domain_writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE") and any(t in q["sql"] for t in DOMAIN_TABLES)
    ]


def test_first_sync_stores_merge_requests_pipelines_test_runs_deployments_and_releases(gitlab, pay):
    server = gitlab(merge_requests=250)
    dataset = server.routes.dataset
    dataset.publish(PROJECT, "v4.2", at=datetime(2026, 2, 1, 12, tzinfo=UTC))
    dataset.publish(PROJECT, "v4.3", at=datetime.now(UTC) + timedelta(days=30))  # upcoming
    connection = gitlab_connection(server, pay)
    run = sync(connection)

    assert merge_requests(connection) == sandbox_merge_requests(dataset)
    merged = PullRequest.objects.get(external_id=f"{PROJECT}!2")
    assert (merged.state, merged.repository, merged.base_ref, merged.head_ref) == (
        "merged",
        PROJECT,
        "main",
        "feature/2",
    )
    assert merged.merged_at and merged.closed_at and merged.url.endswith("/-/merge_requests/2")
    mr_pages = server.requests_to("/merge_requests")
    # Read by seeking: each page asks again from the newest time read, never by a growing offset.
    assert len(mr_pages) == 3 and all(r.query["order_by"] == "updated_at" for r in mr_pages)
    assert [r.query["page"] for r in mr_pages] == ["1", "1", "1"]
    seeks = [r.query.get("updated_after", "") for r in mr_pages]
    assert seeks[0] == "" and seeks[0] < seeks[1] < seeks[2]

    builds = {
        b.number: (b.result, b.release.version, b.duration_ms)
        for b in Build.objects.select_related("release")
    }
    assert len(builds) == 12
    assert builds[10006] == ("failure", "4.2", 14 * 60 * 1000)  # every sixth fails; build 1 min, test to 15
    assert builds[10001][:2] == ("success", "4.3")
    assert TestRun.objects.count() == 12
    failed_run = TestRun.objects.get(build__number=10006)
    assert (failed_run.passed, failed_run.failed, failed_run.skipped, failed_run.duration_ms) == (
        41,
        1,
        2,
        12500,
    )

    deployments = {d.external_id: (d.environment.name, d.version, d.status) for d in Deployment.objects.all()}
    assert deployments[f"{PROJECT}#20001"] == ("prod", "v4.3", "success")
    assert deployments[f"{PROJECT}#20006"] == ("staging", "v4.2", "failure")
    assert Deployment.objects.filter(release__version="4.2").count() == 6

    shipped = Release.objects.get(application=pay, version="4.2")
    assert (shipped.status, shipped.actual_date.isoformat()) == (Release.Status.RELEASED, "2026-02-01")
    assert Release.objects.get(application=pay, version="4.3").status != Release.Status.RELEASED
    assert (run.items_created, run.items_updated) == (250 + 12 + 12 + 12, 1)  # the release shipped
    assert run.requests == len(server.requests)
    cursor = SyncCursor.objects.get(connection=connection, stream=f"merge_requests:{PROJECT}")
    assert cursor.watermark == PullRequest.objects.latest("updated_at").updated_at.isoformat()


def test_an_unchanged_resync_writes_no_domain_rows(gitlab, pay):
    server = gitlab()
    server.routes.dataset.publish(PROJECT, "v4.2", at=datetime(2026, 2, 1, tzinfo=UTC))
    connection = gitlab_connection(server, pay)
    sync(connection)
    with CaptureQueriesContext(db) as queries:
        run = sync(connection)
    assert domain_writes(queries.captured_queries) == []
    assert (run.items_created, run.items_updated, run.items_deleted) == (0, 0, 0)
    # only the overlap is read again, after the watermark less two minutes
    asked = [r.query.get("updated_after") for r in server.requests_to("/merge_requests")]
    assert asked[-1] and asked[-1].startswith("2026-01-")


def test_changes_and_additions_are_read_from_the_watermark(gitlab, pay):
    server = gitlab(merge_requests=40)
    dataset = server.routes.dataset
    connection = gitlab_connection(server, pay)
    sync(connection)
    later = datetime(2026, 3, 1, 9, tzinfo=UTC)
    dataset.edit(PROJECT, "merge_requests", 3, at=later, state="merged", milestone="4.3", title="Renamed")
    new = dataset.add(PROJECT, "merge_requests", at=later, title="Brand new", milestone="4.2")
    dataset.edit(PROJECT, "pipelines", 5, at=later, status="failed")
    dataset.edit(PROJECT, "deployments", 4, at=later, status="canceled")
    server.requests.clear()

    run = sync(connection)

    assert merge_requests(connection)[3] == ("merged", "4.3", "Renamed")
    assert merge_requests(connection)[new] == ("open", "4.2", "Brand new")
    assert Build.objects.get(number=10005).result == "failure"
    assert Deployment.objects.get(external_id=f"{PROJECT}#20004").status == "failure"
    assert (run.items_created, run.items_updated) == (1, 4)  # the MR, its new test run count stays
    assert merge_requests(connection) == sandbox_merge_requests(dataset)


def test_deletions_are_found_by_the_reconcile_not_by_the_incremental_pass(gitlab, pay):
    server = gitlab(merge_requests=20)
    dataset = server.routes.dataset
    connection = gitlab_connection(server, pay)
    sync(connection)
    dataset.delete(PROJECT, "merge_requests", 4)
    dataset.delete(PROJECT, "pipelines", 2)
    dataset.delete(PROJECT, "deployments", 3)

    sync(connection)
    assert PullRequest.objects.filter(external_id=f"{PROJECT}!4").exists()

    run = sync(connection, mode="reconcile")
    assert not PullRequest.objects.filter(external_id=f"{PROJECT}!4").exists()
    assert not Deployment.objects.filter(external_id=f"{PROJECT}#20003").exists()
    assert merge_requests(connection) == sandbox_merge_requests(dataset)
    # Builds outlive GitLab's pipeline expiry, as Jenkins builds do: a release keeps its history.
    assert Build.objects.filter(number=10002).exists()
    assert (Build.objects.count(), Deployment.objects.count()) == (12, 11)
    assert run.items_deleted == 2


def test_the_reconcile_deletes_only_what_gitlab_answers_404_for(gitlab, pay, monkeypatch):
    """A listing by offset can miss an item when one before it is deleted meanwhile: the missed
    item is asked for by itself and kept, since GitLab still has it."""
    server = gitlab(merge_requests=20)
    connection = gitlab_connection(server, pay)
    sync(connection)
    server.routes.dataset.delete(PROJECT, "merge_requests", 4)
    real = GitlabClient.all_merge_requests

    def missing_seven(self, project):  # as if 7 had shifted across a page boundary
        for page, meta in real(self, project):
            yield [m for m in page if m.iid != 7], meta

    monkeypatch.setattr(GitlabClient, "all_merge_requests", missing_seven)
    server.requests.clear()
    sync(connection, mode="reconcile")
    assert not PullRequest.objects.filter(external_id=f"{PROJECT}!4").exists()
    assert PullRequest.objects.filter(external_id=f"{PROJECT}!7").exists()
    asked = {r.path.rsplit("/", 1)[-1] for r in server.requests_to("/merge_requests/")}
    assert {"4", "7"} <= asked


def test_an_item_updated_while_the_list_is_read_skips_no_other(gitlab, pay, monkeypatch):
    """With offset pages ordered by update, an item updated after its page was read moves to the end
    and the next page starts one item later: one would be skipped. Seeking skips none."""
    monkeypatch.setattr(gitlab_sync_module, "STORE_BATCH", 100)
    server = gitlab(merge_requests=250)
    dataset = server.routes.dataset
    connection = gitlab_connection(server, pay)
    real = GitlabClient._updated_since

    def edited_after_the_first_page(self, path, params, parse, *, updated_after):
        for number, page in enumerate(real(self, path, params, parse, updated_after=updated_after)):
            yield page
            if number == 0 and "merge_requests" in path:
                first = page[0][0].iid
                dataset.edit(PROJECT, "merge_requests", first, at=datetime.now(UTC), title="Edited")

    monkeypatch.setattr(GitlabClient, "_updated_since", edited_after_the_first_page)
    sync(connection)
    assert PullRequest.objects.count() == 250
    assert merge_requests(connection) == sandbox_merge_requests(dataset)


def test_a_reconcile_that_would_delete_most_rows_is_refused(gitlab, pay):
    server = gitlab(merge_requests=10)
    connection = gitlab_connection(server, pay)
    sync(connection)
    for n in range(1, 10):
        server.routes.dataset.delete(PROJECT, "merge_requests", n)
    run = sync(connection, mode="reconcile", expect=SyncRun.Status.FAILED)
    assert "would delete 9 of 10 pull requests: refused" in run.error
    assert PullRequest.objects.count() == 10


def test_a_429_waits_its_retry_after_in_a_task_retry_and_the_run_converges(gitlab, pay, retries, monkeypatch):
    monkeypatch.setattr(gitlab_sync_module, "STORE_BATCH", 100)  # a transaction a page
    server = gitlab(merge_requests=250)
    connection = gitlab_connection(server, pay)
    server.faults.append(Fault("429", path="/merge_requests", after=1, retry_after=7))
    run = sync_run_queue(connection=connection, by=None)

    with pytest.raises(Retry):
        run_task(run)
    assert retries == [7]
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING
    assert (
        "GitLab rate-limited /api/v4/projects/acme%2Fpayments/merge_requests; retrying after 7 s."
        in run.error
    )
    assert PullRequest.objects.count() == 100  # the first page is kept

    assert run_task(run)["status"] == SyncRun.Status.SUCCEEDED
    assert PullRequest.objects.count() == 250
    assert sum(r.status == 429 for r in server.requests) == 1


def test_a_spent_rate_limit_waits_until_its_reset_without_asking_again(gitlab, pay, retries):
    server = gitlab()
    dataset = server.routes.dataset
    dataset.rate_limit, dataset.rate_reset_in = 3, 40
    connection = gitlab_connection(server, pay)
    run = sync_run_queue(connection=connection, by=None)
    with pytest.raises(Retry):
        run_task(run)
    assert 38 <= retries[0] <= 40
    assert len(server.requests) == 3 and all(r.status == 200 for r in server.requests)  # no 429 asked for

    dataset.rate_limit, dataset.rate_window_started = 1000, dataset.rate_window_started - 40  # reset
    assert run_task(run)["status"] == SyncRun.Status.SUCCEEDED
    assert PullRequest.objects.count() == 30 and all(r.status == 200 for r in server.requests)


def test_a_429_without_retry_after_waits_until_ratelimit_reset():
    import httpx

    from integrations.parse.gitlab import retry_after

    now = 1_700_000_000
    assert retry_after(429, httpx.Headers({"RateLimit-Reset": str(now + 25)}), now=now) == 25
    assert (
        retry_after(429, httpx.Headers({"Retry-After": "9", "RateLimit-Reset": str(now + 25)}), now=now) == 9
    )
    assert retry_after(429, httpx.Headers({}), now=now) == 60
    assert retry_after(200, httpx.Headers({"Retry-After": "9"}), now=now) is None


def test_5xx_are_retried_in_the_client_then_by_the_task(gitlab, pay, retries, monkeypatch):
    monkeypatch.setattr("integrations.http.BACKOFF_SECONDS", 0.01)
    server = gitlab()
    connection = gitlab_connection(server, pay)
    server.faults.append(Fault("500", path="/pipelines", times=2))
    assert sync(connection).status == SyncRun.Status.SUCCEEDED
    assert [r.status for r in server.requests_to("/pipelines")][:3] == [500, 500, 200]

    server.faults.append(Fault("500", path="/deployments", times=1000))
    run = sync_run_queue(connection=connection, by=None)
    with pytest.raises(Retry):
        run_task(run)
    assert retries == [30]
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING
    assert "GitLab failed with 500 on /api/v4/projects/acme%2Fpayments/deployments." in run.error


class Killed(BaseException):
    """The worker dies here: nothing the sync code catches."""


def test_a_sync_killed_between_pages_resumes_after_its_last_committed_page(gitlab, pay, monkeypatch):
    monkeypatch.setattr(gitlab_sync_module, "STORE_BATCH", 100)  # a transaction a page
    server = gitlab(merge_requests=350)
    connection = gitlab_connection(server, pay)
    pages = {"n": 0}
    real = GitlabClient._updated_since

    def dying(self, path, params, parse, *, updated_after):
        for page in real(self, path, params, parse, updated_after=updated_after):
            if "merge_requests" in path:
                pages["n"] += 1
                if pages["n"] == 3:
                    raise Killed
            yield page

    monkeypatch.setattr(GitlabClient, "_updated_since", dying)
    run = sync_run_queue(connection=connection, by=None)
    with pytest.raises(Killed):
        connection_sync(run_id=run.pk, client_options={"backoff_seconds": 0})
    # Two pages committed with their cursor: 199, since a seek reads its last second again (the
    # second page starts with the first page's newest merge request).
    assert PullRequest.objects.count() == 199
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING

    monkeypatch.setattr(GitlabClient, "_updated_since", real)
    server.requests.clear()
    assert connection_sync(run_id=run.pk, client_options={"backoff_seconds": 0})["status"] == "succeeded"
    resumed = server.requests_to("/merge_requests")[0]
    assert resumed.query["updated_after"] >= "2026-01-"  # from the watermark, not from the start
    assert PullRequest.objects.count() == 350
    assert merge_requests(connection) == sandbox_merge_requests(server.routes.dataset)


def test_bad_credentials_fail_at_once_and_the_sandbox_answers_like_gitlab(gitlab, pay):
    server = gitlab()
    connection = gitlab_connection(server, pay, token="wrong")
    run = sync(connection, expect=SyncRun.Status.FAILED)
    assert "GitLab refused the credentials (401)" in run.error
    import httpx

    answer = httpx.get(f"{server.url}/api/v4/projects/acme%2Fpayments", headers={"PRIVATE-TOKEN": "nope"})
    assert (answer.status_code, answer.json()) == (401, {"message": "401 Unauthorized"})


def test_connection_test_names_each_readable_project(gitlab, pay):
    server = gitlab()
    connection = gitlab_connection(server, pay)
    ok, message = connection_test(connection=connection)
    assert ok
    assert message == f"Connected to {server.url}; readable: acme/payments (id 100)."


# --- webhooks -------------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """The (connection, mode) of each sync task enqueued after the commit, in order."""
    calls = []
    monkeypatch.setattr(
        tasks.connection_sync_task,
        "delay",
        lambda **kwargs: calls.append((kwargs["connection_id"], kwargs["mode"])),
    )
    return calls


def test_a_gitlab_webhook_carries_the_secret_in_x_gitlab_token(queued, django_capture_on_commit_callbacks):
    connection = f.ConnectionFactory(kind=Connection.Kind.GITLAB)
    connection.webhook_secret = "gitlab-secret"
    connection.save()
    client = Client(enforce_csrf_checks=True)
    body = json.dumps({"object_kind": "merge_request", "project": {"path_with_namespace": PROJECT}}).encode()

    def deliver(token, uuid="e-1", event="Merge Request Hook"):
        headers = {"X-Gitlab-Token": token, "X-Gitlab-Event": event, "X-Gitlab-Event-UUID": uuid}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/webhooks/gitlab/{connection.pk}", body, "application/json", headers=headers)

    assert deliver("gitlab-secre").status_code == 401
    assert deliver("").status_code == 401
    assert WebhookDelivery.objects.count() == 0 and queued == []
    assert deliver("gitlab-secret").status_code == 202
    assert deliver("gitlab-secret").status_code == 200  # GitLab's retry of the same event
    assert deliver("gitlab-secret", uuid="e-2", event="Pipeline Hook").status_code == 202
    assert sorted(WebhookDelivery.objects.values_list("event", flat=True)) == ["merge_requests", "pipelines"]
    assert queued == [(connection.pk, "incremental")]  # the second found that run still queued: it reads all
    assert SyncRun.objects.filter(connection=connection).count() == 1
    SyncRun.objects.filter(connection=connection).update(status=SyncRun.Status.SUCCEEDED)
    assert deliver("gitlab-secret", uuid="e-3", event="Push Hook").status_code == 202
    assert queued[-1] == (connection.pk, "incremental")


def test_a_merge_request_reads_as_gitlab_writes_it_in_the_release_notes(gitlab, pay):
    server = gitlab(merge_requests=4)
    connection = gitlab_connection(server, pay)
    sync(connection)
    merged = PullRequest.objects.get(external_id=f"{PROJECT}!2")
    assert (str(merged), merged.reference) == (f"{PROJECT}!2", f"{PROJECT}!2")
    release = merged.release
    notes = notes_draft(release)
    assert f"[{PROJECT}!2](https://gitlab.example/{PROJECT}/-/merge_requests/2)" in notes


def test_a_running_pipeline_is_a_running_build_without_a_test_run_until_it_finishes(gitlab, pay):
    server = gitlab(pipelines=2)
    dataset = server.routes.dataset
    connection = gitlab_connection(server, pay)
    later = datetime(2026, 3, 1, 9, tzinfo=UTC)
    n = dataset.add(PROJECT, "pipelines", at=later, ref="v4.2", status="running")
    sync(connection)
    running = Build.objects.get(number=10000 + n)
    assert (running.result, running.release.version, running.duration_ms) == ("running", "4.2", 0)
    assert not TestRun.objects.filter(build=running).exists()
    assert not server.requests_to(f"/pipelines/{10000 + n}/test_report")

    dataset.edit(PROJECT, "pipelines", n, at=later + timedelta(minutes=20), status="success")
    run = sync(connection)
    finished = Build.objects.get(number=10000 + n)
    assert (finished.result, finished.duration_ms) == ("success", 14 * 60 * 1000)
    assert TestRun.objects.get(build=finished).failed == 0
    assert (run.items_created, run.items_updated) == (1, 1)  # its test run, and the build


@pytest.mark.parametrize(
    ("next_url", "followed"),
    [
        ("https://gitlab.example/root/api/v4/projects/1/jobs?page=2", "/api/v4/projects/1/jobs?page=2"),
        # GitLab's external_url names another host or scheme: the token still goes to the base URL only.
        ("http://elsewhere.example/root/api/v4/projects/1/jobs?page=3", "/api/v4/projects/1/jobs?page=3"),
        ("", ""),
    ],
)
def test_a_next_link_is_followed_on_the_connections_own_address(next_url, followed):
    client = GitlabClient(base_url="https://gitlab.example/root", headers={"PRIVATE-TOKEN": "t"})
    assert client._own(next_url) == followed
