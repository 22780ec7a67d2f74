"""GitHub sync against the sandbox over real HTTP on loopback: deployments and their newest status
through `Link` pagination, ETag conditional requests (a 304 ends a pass and costs no rate limit),
open deployments re-checked, primary and secondary rate limits raised for the task to retry later,
and each repository's three streams in one run (pull requests and releases in detail:
test_github_pulls_releases.py)."""

from datetime import UTC, datetime

import pytest
from django.db import connection as db
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from integrations.http import RateLimited
from integrations.models import Connection, SyncCursor, SyncRun
from integrations.runner import connection_sync, connection_test
from integrations.sandbox.github import GithubDataset, GithubRoutes
from integrations.sandbox.server import Fault, SandboxServer
from integrations.tasks import sync_run_queue
from releases.models import Deployment, PullRequest, Release
from tests import factories as f
from tests.integrations.helpers import sync

pytestmark = pytest.mark.django_db

REPO = "acme/payments"


@pytest.fixture
def github(serve):
    def start(*, deployments: int = 250) -> SandboxServer:
        return serve(GithubRoutes(GithubDataset(repos={REPO: deployments})))

    return start


@pytest.fixture
def pay():
    """The application, release 4.2 (deployed as tag v4.2), and the two environments, one renamed."""
    application = f.ApplicationFactory(key="PAY")
    f.ReleaseFactory(application=application, version="4.2")
    f.EnvironmentFactory(name="staging")
    f.EnvironmentFactory(name="prod")
    return application


def github_connection(server, application, token=None) -> Connection:
    connection = f.ConnectionFactory(
        kind=Connection.Kind.GITHUB,
        base_url=server.url,
        credentials={"token": token or server.routes.dataset.token},
        scope={"repos": [REPO], "environments": {"production": "prod"}},
    )
    f.ApplicationMappingFactory(connection=connection, application=application, external_key=REPO)
    return connection


def queue(connection) -> SyncRun:
    return sync_run_queue(connection=connection, by=None)


def stored(connection) -> dict:
    return {
        int(d.external_id.rsplit("#", 1)[1]): (
            d.environment.name,
            d.version,
            d.status,
            d.release_id is not None,
        )
        for d in Deployment.objects.filter(source=connection.source_key).select_related("environment")
    }


def sandbox(server) -> dict:
    dataset = server.routes.dataset
    outcome = {
        "success": "success",
        "failure": "failure",
        "queued": "in_progress",
        "in_progress": "in_progress",
    }
    state = {}
    for n in range(1, dataset.repos[REPO] + 1):
        raw = dataset.deployment(REPO, n, "")
        environment = {"production": "prod"}.get(raw["environment"], raw["environment"])
        newest = dataset.history(REPO, n)[-1]
        state[raw["id"]] = (environment, raw["ref"], outcome[newest], raw["ref"] == "v4.2")
    return state


def test_initial_sync_follows_link_pages_and_stores_each_deployments_outcome(github, pay):
    server = github(deployments=250)
    connection = github_connection(server, pay)
    run = sync(connection)

    assert stored(connection) == sandbox(server)
    first = Deployment.objects.get(external_id=f"{REPO}#1006")  # every sixth deployment fails
    assert (first.status, first.environment.name, first.version) == ("failure", "staging", "v4.2")
    assert first.release.version == "4.2"
    pages = [r for r in server.requests if r.path.endswith("/deployments")]
    assert [r.query.get("page", "1") for r in pages] == ["1", "2", "3"]
    assert len(server.requests_to("/statuses")) == 250
    assert (run.items_fetched, run.items_created, run.requests) == (250, 250, len(server.requests))
    cursor = SyncCursor.objects.get(connection=connection, stream=f"deployments:{REPO}")
    assert (cursor.watermark, cursor.page_token) == ("1250", "[]")
    assert cursor.etag.startswith('W/"')


def test_an_unchanged_resync_is_one_free_304_per_stream_and_writes_nothing(github, pay):
    server = github(deployments=120)
    connection = github_connection(server, pay)
    sync(connection)
    dataset = server.routes.dataset
    used = dataset.rate_used
    server.requests.clear()
    with CaptureQueriesContext(db) as queries:
        run = sync(connection)
    assert [(r.path.rsplit("/", 1)[1], r.status) for r in server.requests] == [
        ("deployments", 304),
        ("pulls", 304),
        ("releases", 304),
    ]
    assert dataset.rate_used == used  # a 304 costs nothing
    assert not [
        q for q in queries if q["sql"].startswith(("INSERT", "UPDATE")) and "releases_deployment" in q["sql"]
    ]
    assert (run.items_fetched, run.pages) == (0, 0)


def test_new_and_open_deployments_are_read_again_until_they_finish(github, pay):
    server = github(deployments=150)
    dataset = server.routes.dataset
    connection = github_connection(server, pay)
    dataset.set_states(REPO, 3, "queued")  # deep in the second page, still open
    sync(connection)
    assert Deployment.objects.get(external_id=f"{REPO}#1003").status == "in_progress"
    new = dataset.deploy(REPO)
    server.requests.clear()
    run = sync(connection)
    assert (run.items_fetched, run.items_created) == (2, 1)  # the new one, and 3 read again
    assert server.requests_to("/deployments/1003")  # asked for by id: older than the page read
    dataset.set_states(REPO, 3, "queued", "in_progress", "success")
    dataset.set_states(REPO, new, "queued", "failure")
    sync(connection)
    assert stored(connection) == sandbox(server)
    cursor = SyncCursor.objects.get(connection=connection, stream=f"deployments:{REPO}")
    assert (cursor.watermark, cursor.page_token) == (str(1000 + new), "[]")


def test_a_spent_primary_rate_limit_raises_for_a_later_retry_and_makes_no_more_requests(github, pay):
    server = github(deployments=50)
    dataset = server.routes.dataset
    dataset.rate_limit, dataset.rate_reset_in = 10, 900
    connection = github_connection(server, pay)
    run = queue(connection)
    with pytest.raises(RateLimited) as limited:
        connection_sync(run_id=run.pk)
    assert 895 <= limited.value.retry_after <= 900  # until x-ratelimit-reset
    assert [r.status for r in server.requests][-1] == 403
    assert len(server.requests) == 11  # nothing more inside the window
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING
    assert "Waiting to retry" in run.error
    dataset.rate_limit = 5000  # the window has passed: the task's retry resumes the same run
    connection_sync(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert stored(connection) == sandbox(server)
    assert Deployment.objects.count() == 50


def test_a_secondary_limit_429_waits_its_retry_after(github, pay):
    server = github(deployments=5)
    connection = github_connection(server, pay)
    server.faults.append(Fault("429", path="/statuses", retry_after=45))
    run = queue(connection)
    with pytest.raises(RateLimited) as limited:
        connection_sync(run_id=run.pk)
    assert limited.value.retry_after == 45


def test_bad_credentials_fail_fast_without_retries(github, pay):
    server = github(deployments=5)
    run = sync(github_connection(server, pay, token="wrong"), expect=SyncRun.Status.FAILED)
    assert "refused the credentials (401)" in run.error
    assert len(server.requests) == 1


def test_deployments_to_unknown_environments_are_not_stored(github, pay):
    server = github(deployments=10)
    connection = github_connection(server, pay)
    connection.scope = {"repos": [REPO]}  # "production" no longer maps to "prod"
    connection.save()
    run = sync(connection)
    assert {name for name, *_ in stored(connection).values()} == {"staging"}
    assert (run.items_fetched, run.items_created) == (10, 5)


def test_test_connection_reads_the_repositories(github, pay):
    server = github(deployments=3)
    ok, message = connection_test(connection=github_connection(server, pay))
    assert ok, message
    assert f"{REPO} (deployments)" in message


def test_one_run_syncs_each_repositorys_deployments_pull_requests_and_releases(pay):
    web_repo = "acme/web"
    web = f.ApplicationFactory(key="WEB")
    f.ReleaseFactory(application=web, version="4.3")
    dataset = GithubDataset(repos={REPO: 6, web_repo: 4}, pulls={REPO: 5, web_repo: 8})
    dataset.publish(web_repo, "v4.3", at=datetime(2026, 2, 2, 10, 0, tzinfo=UTC))
    server = SandboxServer(GithubRoutes(dataset)).start()
    try:
        connection = github_connection(server, pay)
        connection.scope = {"repos": [REPO, web_repo], "environments": {"production": "prod"}}
        connection.save()
        f.ApplicationMappingFactory(connection=connection, application=web, external_key=web_repo)
        run = sync(connection)
    finally:
        server.stop()
    streams = set(SyncCursor.objects.filter(connection=connection).values_list("stream", flat=True))
    assert streams == {
        f"{kind}:{repo}" for kind in ("deployments", "pulls", "releases") for repo in (REPO, web_repo)
    }
    pulls = dict(PullRequest.objects.values_list("repository").annotate(n=Count("id")).order_by())
    assert pulls == {REPO: 5, web_repo: 8}
    assert set(
        PullRequest.objects.filter(repository=web_repo).values_list("application__key", flat=True)
    ) == {"WEB"}
    assert Release.objects.get(application=web, version="4.3").status == Release.Status.RELEASED
    assert Release.objects.get(application=pay, version="4.2").status == Release.Status.PLANNED
    assert (run.items_fetched, run.items_updated) == (6 + 4 + 5 + 8 + 1, 1)
