"""Jenkins sync against the sandbox over real HTTP on loopback: builds by `tree=` ranges (never a
bare api/json), incremental by build number, running builds re-checked, test reports (404 = none)
for builds made for a release, unchanged re-syncs writing nothing, faults and bad credentials."""

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from integrations.models import Connection, SyncCursor, SyncRun
from integrations.runner import connection_test
from integrations.sandbox.jenkins import JenkinsDataset, JenkinsRoutes
from integrations.sandbox.server import Fault, SandboxServer
from releases import tasks
from releases.gates.services.evidence import gate_evidence_refresh
from releases.models import Build, Release, TestRun
from tests import factories as f
from tests.integrations.helpers import sync

pytestmark = pytest.mark.django_db

JOB = "payments/payments-ci"  # in a folder: /job/payments/job/payments-ci


@pytest.fixture
def jenkins(serve):
    """jenkins(builds=250, versions=(...)) -> a running sandbox with one job."""

    def start(*, builds: int = 250, versions=("4.2", "4.3", "9.9")) -> SandboxServer:
        return serve(JenkinsRoutes(JenkinsDataset(jobs={JOB: builds}, versions=versions)))

    return start


@pytest.fixture
def pay():
    """The application, with releases for two of the three versions the builds carry."""
    application = f.ApplicationFactory(key="PAY")
    for version in ("4.2", "4.3"):
        f.ReleaseFactory(application=application, version=version)
    return application


def jenkins_connection(server, application, **credentials) -> Connection:
    dataset = server.routes.dataset
    connection = f.ConnectionFactory(
        kind=Connection.Kind.JENKINS,
        base_url=server.url,
        credentials={"username": dataset.username, "token": dataset.token} | credentials,
        scope={"jobs": [JOB]},
    )
    f.ApplicationMappingFactory(connection=connection, application=application, external_key=JOB)
    return connection


def stored(connection) -> dict:
    return {
        b.number: (b.result, b.commit, b.release.version if b.release else None)
        for b in Build.objects.filter(source=connection.source_key).select_related("release")
    }


def sandbox(server) -> dict:
    dataset = server.routes.dataset
    results = {"SUCCESS": "success", "FAILURE": "failure", "UNSTABLE": "unstable", "ABORTED": "aborted"}
    results[None] = "running"
    state = {}
    for n in range(1, dataset.jobs[JOB] + 1):
        raw = dataset.build(JOB, n, "")
        version = raw["actions"][0]["parameters"][0]["value"]
        commit = raw["actions"][1]["lastBuiltRevision"]["SHA1"]
        state[n] = (results[raw["result"]], commit, version if version != "9.9" else None)
    return state


def test_initial_sync_stores_every_build_by_ranges_and_test_runs_for_release_builds(
    jenkins, pay, monkeypatch, django_capture_on_commit_callbacks
):
    server = jenkins(builds=250)
    server.routes.dataset.running.add((JOB, 250))
    connection = jenkins_connection(server, pay)
    refreshed = []
    monkeypatch.setattr(tasks.gate_evidence_refresh_task, "delay", lambda **kw: refreshed.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        run = sync(connection)

    assert stored(connection) == sandbox(server)
    assert Build.objects.get(number=250).result == "running"
    assert (run.items_fetched, run.items_created) == (250, 250 + TestRun.objects.count())
    # A test run for each finished build made for a release that published a report (n % 5 != 0).
    with_release = {n for n, (result, _, version) in sandbox(server).items() if version and n != 250}
    expected_runs = {n for n in with_release if n % 5 != 0}
    assert {r.build.number for r in TestRun.objects.select_related("build")} == expected_runs
    run_7 = TestRun.objects.get(build__number=7)
    assert (run_7.passed, run_7.failed, run_7.skipped, run_7.duration_ms) == (97, 1, 2, 12500)
    assert run_7.release == run_7.build.release
    # Every request named its fields; the builds came newest first in three ranges.
    assert all("tree" in r.query for r in server.requests)
    ranges = [r.query["tree"].rsplit("]", 1)[1] for r in server.requests if "allBuilds" in r.query["tree"]]
    assert ranges == ["{0,100}", "{100,200}", "{200,300}"]
    reports = server.requests_to("/testReport/")
    assert len(reports) == len(with_release)  # 404s included: asked once, no test run
    assert run.requests == len(server.requests)
    cursor = SyncCursor.objects.get(connection=connection, stream=f"builds:{JOB}")
    assert (cursor.watermark, cursor.page_token) == ("250", "[250]")
    # The gate evidence of both releases is refreshed once the run has finished.
    release_ids = sorted(Release.objects.filter(application=pay).values_list("pk", flat=True))
    assert refreshed == [{"release_ids": release_ids}]


def test_an_incremental_sync_reads_only_new_builds_and_rechecks_running_ones(jenkins, pay):
    server = jenkins(builds=250)
    dataset = server.routes.dataset
    dataset.running |= {(JOB, 249), (JOB, 250)}
    connection = jenkins_connection(server, pay)
    sync(connection)
    dataset.finish(JOB, 249, "FAILURE")
    dataset.finish(JOB, 250, "SUCCESS")
    new = [dataset.start(JOB) for _ in range(3)]
    dataset.finish(JOB, new[0], "ABORTED")
    server.requests.clear()

    run = sync(connection)
    assert stored(connection) == sandbox(server)
    assert Build.objects.get(number=249).result == "failure"
    assert Build.objects.get(number=new[0]).result == "aborted"
    # Fetched: 3 new builds and the 2 that were running. Created: the 3 builds and the test run of
    # 249 (version 4.2, has a report); 250 published none, 251 is for 9.9 (no such release).
    assert (run.items_fetched, run.items_created, run.items_updated) == (5, 4, 2)
    assert TestRun.objects.filter(build__number__in=[249, 250, 251]).count() == 1
    ranges = [r.query["tree"] for r in server.requests if "allBuilds" in r.query.get("tree", "")]
    assert [tree[-7:] for tree in ranges] == ["{0,100}"]
    cursor = SyncCursor.objects.get(connection=connection, stream=f"builds:{JOB}")
    assert (cursor.watermark, cursor.page_token) == ("253", f"[{new[1]}, {new[2]}]")


def test_a_running_build_older_than_the_first_range_is_asked_for_by_number(jenkins, pay):
    server = jenkins(builds=150)
    dataset = server.routes.dataset
    dataset.running.add((JOB, 10))
    connection = jenkins_connection(server, pay)
    sync(connection)
    dataset.finish(JOB, 10, "UNSTABLE")
    dataset.start(JOB)
    server.requests.clear()
    sync(connection)
    assert Build.objects.get(number=10).result == "unstable"
    # Asked for by number, then for its test report (10 is made for 4.3, and publishes none: 404).
    assert [(r.path, r.status) for r in server.requests_to("/10/")] == [
        ("/job/payments/job/payments-ci/10/api/json", 200),
        ("/job/payments/job/payments-ci/10/testReport/api/json", 404),
    ]
    assert SyncCursor.objects.get(connection=connection, stream=f"builds:{JOB}").page_token == "[151]"


def test_an_unchanged_resync_writes_nothing_and_asks_once(jenkins, pay):
    server = jenkins(builds=120)
    connection = jenkins_connection(server, pay)
    sync(connection)
    server.requests.clear()
    with CaptureQueriesContext(db) as queries:
        run = sync(connection)
    writes = [
        q["sql"]
        for q in queries
        if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))
        and ("releases_build" in q["sql"] or "releases_testrun" in q["sql"])
    ]
    assert writes == []
    assert (run.items_fetched, run.items_created, run.items_updated) == (0, 0, 0)
    assert len(server.requests) == 1  # the job's newest build number, nothing else


def test_a_truncated_page_fails_readably_keeps_earlier_pages_and_a_rerun_converges(jenkins, pay):
    server = jenkins(builds=250)
    connection = jenkins_connection(server, pay)
    # The job's own api/json: its newest build, the first range, then the second range is cut off.
    server.faults.append(Fault("truncate", path="payments-ci/api/json", after=2))
    failed = sync(connection, expect=SyncRun.Status.FAILED)
    assert "invalid JSON" in failed.error and "cut off" in failed.error
    assert Build.objects.count() == 100  # the first range, stored with its reports
    assert not SyncCursor.objects.filter(connection=connection, stream=f"builds:{JOB}", watermark="250")
    run = sync(connection)
    assert stored(connection) == sandbox(server)
    assert Build.objects.count() == 250
    assert run.items_created >= 150


def test_builds_started_during_a_pass_shift_the_ranges_without_losing_one(jenkins, pay):
    server = jenkins(builds=250)
    dataset = server.routes.dataset
    connection = jenkins_connection(server, pay)

    def start_builds_after_the_first_range(path, query):
        if query.get("tree", "").endswith("{100,200}") and dataset.jobs[JOB] == 250:
            for _ in range(7):
                dataset.finish(JOB, dataset.start(JOB))

    server.before_answer = start_builds_after_the_first_range
    sync(connection)
    server.before_answer = None
    assert set(stored(connection)) >= set(range(1, 251))  # nothing skipped; 7 seen twice at most
    sync(connection)
    assert stored(connection) == sandbox(server)
    assert Build.objects.count() == 257


def test_bad_credentials_fail_fast_without_retries(jenkins, pay):
    server = jenkins(builds=10)
    connection = jenkins_connection(server, pay, token="wrong")
    run = sync(connection, expect=SyncRun.Status.FAILED)
    assert "refused the credentials (401)" in run.error
    assert len(server.requests) == 1
    assert not Build.objects.exists()


def test_a_500_is_retried_with_backoff_and_then_the_pass_goes_on(jenkins, pay):
    server = jenkins(builds=30)
    connection = jenkins_connection(server, pay)
    server.faults.append(Fault("500", path="/api/json", times=2, after=1))
    sync(connection)
    assert stored(connection) == sandbox(server)
    assert [r.status for r in server.requests[:4]] == [200, 500, 500, 200]


def test_an_unknown_job_or_no_mapping_is_a_readable_failure(jenkins, pay):
    server = jenkins(builds=5)
    connection = jenkins_connection(server, pay)
    connection.mappings.update(external_key="nope")
    connection.scope = {}
    connection.save()
    assert "has nothing at" in sync(connection, expect=SyncRun.Status.FAILED).error
    connection.mappings.all().delete()
    assert "maps no Jenkins job" in sync(connection, expect=SyncRun.Status.FAILED).error


def test_test_connection_names_the_jobs_and_their_last_build(jenkins, pay):
    server = jenkins(builds=42)
    ok, message = connection_test(connection=jenkins_connection(server, pay))
    assert ok, message
    assert f"{JOB} (last build #42)" in message


def test_a_qa_gate_reads_the_newest_report_of_each_job_not_every_build_ever(jenkins, pay):
    server = jenkins(builds=30)
    sync(jenkins_connection(server, pay))
    release = Release.objects.get(application=pay, version="4.2")
    gate = f.GateFactory(release=release, kind="qa")
    runs = TestRun.objects.filter(release=release)
    assert runs.count() > 1 and set(runs.values_list("name", flat=True)) == {JOB}

    gate_evidence_refresh(release_ids=[release.pk])
    gate.refresh_from_db()
    newest = runs.latest("executed_at")
    assert gate.evidence_failed_tests == newest.failed + newest.errors
    assert "suites" not in gate.evidence_summary  # one suite: the job
    assert gate.evidence_summary.startswith(f"{newest.passed} of ")
