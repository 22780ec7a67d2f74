"""Faults injected by the sandbox: rate limits, 5xx, timeouts, dropped connections, truncated JSON,
bad credentials, an exhausted request budget. Each leaves the run and the data in a state that a
retry or the next run completes, and never hammers the tool."""

import time

import httpx
import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from integrations import tasks
from integrations.http import retry_after_seconds
from integrations.models import SyncCursor, SyncRun
from integrations.runner import connection_sync
from integrations.sandbox.server import Fault
from integrations.sync import jira as jira_sync_module
from integrations.sync.base import SyncAlreadyRunning
from integrations.tasks import sync_run_queue
from releases.models import WorkItem

pytestmark = pytest.mark.django_db

FAST = {"backoff_seconds": 0.2, "timeout": httpx.Timeout(0.5)}


def run_task(run: SyncRun, *, retries_so_far: int = 0) -> dict:
    tasks.connection_sync_task.push_request(retries=retries_so_far)
    try:
        return tasks.connection_sync_task.run(connection_id=run.connection_id, run_id=run.pk)
    finally:
        tasks.connection_sync_task.pop_request()


def search_requests(server):
    return server.requests_to("/search/jql")


def test_no_request_inside_a_retry_after_window(jira_sandbox, jira_connection, retries):
    server = jira_sandbox(issues=30, projects=("PAY",))
    connection = jira_connection(server)
    server.faults.append(Fault("429", path="/search/jql", retry_after=2))
    run = sync_run_queue(connection=connection, by=None)

    with pytest.raises(Retry):
        run_task(run)
    assert retries == [2]  # the task comes back after Retry-After; the worker did not sleep
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING
    assert run.error == "Waiting to retry: Jira rate-limited /rest/api/3/search/jql; retrying after 2 s."
    with pytest.raises(SyncAlreadyRunning):  # "Sync now" or beat in the window starts nothing
        sync_run_queue(connection=connection, by=None)

    time.sleep(2)  # the broker's countdown
    assert run_task(run)["status"] == SyncRun.Status.SUCCEEDED
    limited, *after = search_requests(server)
    assert limited.status == 429
    assert after and after[0].at - limited.at >= 2
    assert WorkItem.objects.count() == 30


def test_500s_are_retried_with_growing_backoff(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=30, projects=("PAY",))
    connection = jira_connection(server)
    server.faults.append(Fault("500", path="/search/jql", times=2))
    run = sync_run_queue(connection=connection, by=None)

    assert connection_sync(run_id=run.pk, client_options=FAST)["status"] == SyncRun.Status.SUCCEEDED
    first, second, third = search_requests(server)
    assert [first.status, second.status, third.status] == [500, 500, 200]
    assert second.at - first.at >= 0.2
    assert third.at - second.at >= 0.4
    run.refresh_from_db()
    assert run.requests == 6  # myself, versions, the count, three tries of one search page
    assert WorkItem.objects.count() == 30


@pytest.mark.parametrize(
    "fault", [Fault("slow", path="/search/jql", delay=1.5), Fault("drop", path="/search/jql")]
)
def test_timeouts_and_dropped_connections_are_retried(jira_sandbox, jira_connection, fault):
    server = jira_sandbox(issues=30, projects=("PAY",))
    connection = jira_connection(server)
    server.faults.append(fault)
    run = sync_run_queue(connection=connection, by=None)
    assert connection_sync(run_id=run.pk, client_options=FAST)["status"] == SyncRun.Status.SUCCEEDED
    assert WorkItem.objects.count() == 30


def test_a_tool_down_for_longer_is_retried_by_the_task_then_the_run_fails(
    jira_sandbox, jira_connection, retries, monkeypatch
):
    monkeypatch.setattr("integrations.http.BACKOFF_SECONDS", 0.01)
    server = jira_sandbox(issues=30, projects=("PAY",))
    connection = jira_connection(server)
    server.faults.append(Fault("500", path="/search/jql", times=1000))
    run = sync_run_queue(connection=connection, by=None)

    for attempt in range(3):
        with pytest.raises(Retry):
            run_task(run, retries_so_far=attempt)
    assert retries == [30, 60, 120]
    assert all(countdown < 60 * 60 for countdown in map(tasks.retry_countdown, range(tasks.MAX_RETRIES)))
    result = run_task(run, retries_so_far=tasks.MAX_RETRIES)
    run.refresh_from_db()
    assert (result["status"], run.status) == ("failed", SyncRun.Status.FAILED)
    assert run.error == "Gave up after 8 retries: Jira failed with 500 on /rest/api/3/search/jql."
    assert len(search_requests(server)) == 4 * 3  # three tries per attempt, no storm


def test_truncated_json_fails_the_run_readably_and_keeps_the_earlier_pages(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=250, projects=("PAY",))
    connection = jira_connection(server)
    server.faults.append(Fault("truncate", path="/search/jql", after=1))
    run = sync_run_queue(connection=connection, by=None)

    assert connection_sync(run_id=run.pk, client_options=FAST)["status"] == "failed"
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("Jira answered /rest/api/3/search/jql with invalid JSON")
    assert "the response was probably cut off" in run.error
    assert WorkItem.objects.count() == 100  # the first page stays
    assert SyncCursor.objects.get(connection=connection, stream="issues").page_token  # where it stopped

    again = sync_run_queue(connection=connection, by=None)
    assert connection_sync(run_id=again.pk)["status"] == SyncRun.Status.SUCCEEDED
    assert "nextPageToken" in search_requests(server)[-2].query  # resumed, not restarted
    assert WorkItem.objects.count() == 250


def test_bad_credentials_fail_fast_without_a_retry(jira_sandbox, jira_connection, retries):
    server = jira_sandbox(issues=30, projects=("PAY",))
    connection = jira_connection(server)
    connection.credentials = {"username": "sync-bot@example.com", "token": "revoked"}
    connection.save()
    run = sync_run_queue(connection=connection, by=None)

    assert run_task(run)["status"] == "failed"
    assert retries == []
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error == (
        "Jira refused the credentials (401) on /rest/api/3/myself: check the user and API token."
    )
    assert len(server.requests) == 1
    assert run.requests == 1


def test_the_request_budget_stops_a_sync(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=500, projects=("PAY",))
    connection = jira_connection(server, request_budget=5)
    run = sync_run_queue(connection=connection, by=None)
    connection_sync(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("Request budget of 5 used up before")
    assert len(server.requests) == 5
    assert WorkItem.objects.count() == 200  # two pages stored before the budget ran out


def test_a_database_outage_mid_sync_is_retried_and_the_run_completes(
    jira_sandbox, jira_connection, retries, monkeypatch
):
    """A restart of the database fails the page being stored; the task retries soon, the run resumes
    from the cursor of the last stored batch and ends with every issue once."""
    server = jira_sandbox(issues=2500, projects=("PAY",))
    connection = jira_connection(server)
    run = sync_run_queue(connection=connection, by=None)
    real_upsert = jira_sync_module.work_items_upsert
    calls = []

    def upsert_then_lose_the_database(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("terminating connection due to administrator command")
        return real_upsert(**kwargs)

    monkeypatch.setattr(jira_sync_module, "work_items_upsert", upsert_then_lose_the_database)
    closed = []  # the test's own transaction must survive the "reconnect"
    monkeypatch.setattr(tasks.connections, "close_all", lambda: closed.append(True))
    with pytest.raises(Retry):
        run_task(run)
    assert retries == [5]
    assert closed == [True]
    run.refresh_from_db()
    assert (run.status, WorkItem.objects.count()) == (SyncRun.Status.RUNNING, 1000)  # the first batch stays

    before = len(search_requests(server))
    assert run_task(run, retries_so_far=1)["status"] == SyncRun.Status.SUCCEEDED
    assert WorkItem.objects.count() == 2500
    assert "nextPageToken" in search_requests(server)[before].query  # resumed after the stored batch


@pytest.mark.parametrize(
    "value, seconds", [("120", 120), ("2.5", 2), ("inf", 60), ("nan", 60), (None, 60), ("x", 60)]
)
def test_a_retry_after_header_becomes_a_bounded_wait_in_seconds(value, seconds):
    assert retry_after_seconds(value) == seconds
