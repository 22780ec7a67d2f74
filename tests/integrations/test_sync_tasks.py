"""Beat's sync tasks: each enabled connection on its own schedule, the nightly reconcile, never a second
run next to an active one; the heartbeat every run stamps and the sweep that fails runs whose worker or
message was lost, never one a worker is progressing. The task itself is covered in test_sync_faults.py."""

import threading
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.db import OperationalError, connections
from django.utils import timezone

from integrations import tasks
from integrations.http import MAX_RETRY_AFTER
from integrations.models import SyncCursor, SyncRun
from integrations.runner import connection_sync
from integrations.sandbox.server import Fault
from integrations.sync import jira as jira_sync_module
from integrations.sync.base import (
    STALE_AFTER,
    SyncRunEnded,
    run_context,
    sync_runs_fail_stale,
    upsert_page,
)
from integrations.tasks import sync_run_queue
from portal.celery import app
from releases.facts.services.upserts import UpsertResult
from releases.models import AuditEvent, WorkItem
from tests.factories import ConnectionFactory, SyncRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.connection_sync_task, "delay", lambda **kwargs: calls.append(kwargs))
    return calls


def started(minutes_ago: int, **fields) -> SyncRun:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRunFactory(started_at=at, finished_at=at + timedelta(seconds=30), **fields)


def test_due_connections_are_queued_on_their_own_schedule(django_capture_on_commit_callbacks, sent):
    due = ConnectionFactory(schedule_minutes=15)
    started(20, connection=due)
    not_yet = ConnectionFactory(schedule_minutes=60)
    started(20, connection=not_yet)
    never_synced = ConnectionFactory()
    ConnectionFactory(enabled=False)
    busy = ConnectionFactory(schedule_minutes=1)
    SyncRunFactory(connection=busy, status=SyncRun.Status.RUNNING, finished_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.connections_sync_due_task()

    queued = SyncRun.objects.filter(pk__in=result["queued"])
    assert {run.connection for run in queued} == {due, never_synced}
    assert {(call["connection_id"], call["mode"]) for call in sent} == {
        (due.pk, "incremental"),
        (never_synced.pk, "incremental"),
    }
    assert SyncRun.objects.filter(connection=busy).count() == 1


def test_the_nightly_reconcile_queues_every_enabled_connection(django_capture_on_commit_callbacks, sent):
    recent = ConnectionFactory()
    started(1, connection=recent)
    ConnectionFactory(enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.connections_reconcile_task()
    assert [(call["connection_id"], call["mode"]) for call in sent] == [(recent.pk, "reconcile")]


def test_beat_runs_both_and_the_task_is_acked_late():
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {
        "integrations.tasks.connections_sync_due_task",
        "integrations.tasks.connections_reconcile_task",
    } <= schedule
    task = tasks.connection_sync_task
    assert (task.acks_late, task.reject_on_worker_lost) == (True, True)
    assert app.conf.worker_prefetch_multiplier == 1
    assert max(map(tasks.retry_countdown, range(tasks.MAX_RETRIES + 1))) < 60 * 60  # the visibility timeout


def active(status: str, *, silent_minutes: float, started_minutes_ago: float | None = None) -> SyncRun:
    now = timezone.now()
    started = None if started_minutes_ago is None else now - timedelta(minutes=started_minutes_ago)
    return SyncRunFactory(
        status=status,
        started_at=started,
        finished_at=None,
        heartbeat_at=now - timedelta(minutes=silent_minutes),
    )


def test_a_run_whose_worker_was_lost_is_failed_audited_and_its_connection_syncs_again(sent):
    run = active(SyncRun.Status.RUNNING, silent_minutes=240, started_minutes_ago=250)

    assert tasks.sync_runs_sweep_task() == {"failed": [run.pk]}

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error == "No progress for 240 minutes; the worker was lost. Sync again."
    assert run.finished_at >= run.heartbeat_at
    event = AuditEvent.objects.get(action="syncrun.fail_stale", object_id=str(run.pk))
    assert (event.actor, event.before["status"]) == (None, "running")
    assert sync_run_queue(connection=run.connection, by=None).status == SyncRun.Status.QUEUED


def test_a_queued_run_whose_task_never_started_is_failed():
    run = active(SyncRun.Status.QUEUED, silent_minutes=200)
    assert sync_runs_fail_stale() == [run.pk]
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error == "Never started in 200 minutes; the queued task was lost. Sync again."
    assert run.started_at == run.finished_at  # the database wants a start before a finish


def test_the_sweep_leaves_healthy_runs_alone():
    long_but_progressing = active(SyncRun.Status.RUNNING, silent_minutes=1, started_minutes_ago=600)
    waiting_the_longest_retry = active(SyncRun.Status.RUNNING, silent_minutes=110, started_minutes_ago=120)
    just_queued = active(SyncRun.Status.QUEUED, silent_minutes=5)
    long_finished = SyncRunFactory(heartbeat_at=timezone.now() - timedelta(days=3))

    assert sync_runs_fail_stale() == []

    for run in (long_but_progressing, waiting_the_longest_retry, just_queued, long_finished):
        status = run.status
        run.refresh_from_db()
        assert run.status == status
    # Well above the longest legitimate silence: a retry countdown held by a worker that dies, handed
    # out again by the broker after its visibility timeout.
    visibility_timeout = 60 * 60
    assert STALE_AFTER.total_seconds() >= 1.5 * (MAX_RETRY_AFTER + visibility_timeout)


def test_beat_sweeps_every_few_minutes():
    (entry,) = [
        e for e in app.conf.beat_schedule.values() if e["task"] == "integrations.tasks.sync_runs_sweep_task"
    ]
    assert entry["schedule"] <= 10 * 60


def test_every_sign_of_life_stamps_the_heartbeat(jira_sandbox, jira_connection, monkeypatch):
    """Queued, waiting for a Retry-After, resumed, and each stored batch: the sweep's clock restarts."""
    server = jira_sandbox(issues=2500, projects=("PAY",))
    server.faults.append(Fault("429", path="/search/jql", retry_after=2))
    long_ago = timezone.now() - timedelta(days=1)
    run = sync_run_queue(connection=jira_connection(server), by=None)
    assert run.heartbeat_at > long_ago

    def silence() -> None:
        SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago)

    def beat() -> bool:
        return SyncRun.objects.get(pk=run.pk).heartbeat_at > long_ago

    silence()
    monkeypatch.setattr(tasks.connection_sync_task, "retry", lambda **kwargs: Retry())
    with pytest.raises(Retry):
        tasks.connection_sync_task.run(connection_id=run.connection_id, run_id=run.pk)
    assert beat(), "a wait for Retry-After stamps the heartbeat"

    real_upsert, stamped = jira_sync_module.work_items_upsert, []

    def upsert_after_each_stamp(**kwargs):
        stamped.append(beat())  # the page's transaction stamped (and locked) the run before storing
        silence()
        return real_upsert(**kwargs)

    silence()
    monkeypatch.setattr(jira_sync_module, "work_items_upsert", upsert_after_each_stamp)
    assert connection_sync(run_id=run.pk)["status"] == SyncRun.Status.SUCCEEDED
    assert stamped == [True, True, True]  # three batches of about 1,000 issues
    assert beat(), "the stored batch's progress stamps it too"
    run.refresh_from_db()
    assert run.attempts == 2  # the first start, then the resume after Retry-After


def test_a_database_outage_outlasting_every_retry_fails_the_run(monkeypatch):
    run = active(SyncRun.Status.RUNNING, silent_minutes=20, started_minutes_ago=25)

    def database_still_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks, "connection_sync", database_still_down)
    monkeypatch.setattr(tasks.connections, "close_all", lambda: None)  # keep the test's transaction
    tasks.connection_sync_task.push_request(retries=tasks.MAX_RETRIES)
    try:
        result = tasks.connection_sync_task.run(connection_id=run.connection_id, run_id=run.pk)
    finally:
        tasks.connection_sync_task.pop_request()

    assert result["status"] == "failed"
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error == "Gave up after 8 retries: the database was unavailable (connection refused)."


def test_an_attempt_whose_run_was_swept_stores_nothing(jira_sandbox, jira_connection):
    run = active(SyncRun.Status.RUNNING, silent_minutes=240, started_minutes_ago=240)
    context = run_context(run)
    assert sync_runs_fail_stale() == [run.pk]
    stored = []

    with pytest.raises(SyncRunEnded):
        upsert_page(
            context=context,
            stream="issues",
            cursor={"page_token": "next"},
            fetched=1,
            store=lambda: stored.append(1) or UpsertResult(),
        )
    assert (stored, SyncCursor.objects.count()) == ([], 0)
    run.refresh_from_db()
    assert (run.status, run.pages) == (SyncRun.Status.FAILED, 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="SQLite serialises writers: no sweep can run while a worker stores a page",
)
def test_a_sweep_never_fails_a_run_whose_worker_is_storing_a_page(
    jira_sandbox, jira_connection, sent, monkeypatch
):
    """A worker in the middle of a page while the sweep runs with a clock past the threshold: the run's
    row is locked by the page, the sweep skips it, the sync completes. (Were the row locked only at the
    page's end, the sweep would fail the run while its worker progresses, and this test would fail.)"""
    server = jira_sandbox(issues=2500, projects=("PAY",))
    run = sync_run_queue(connection=jira_connection(server), by=None)
    real_upsert, storing, may_finish = (
        jira_sync_module.work_items_upsert,
        threading.Event(),
        threading.Event(),
    )

    def upsert_and_hold_the_second_batch(**kwargs):
        if storing.is_set() is False and WorkItem.objects.exists():
            storing.set()
            assert may_finish.wait(timeout=30)
        return real_upsert(**kwargs)

    def worker(outcome: list) -> None:
        try:
            outcome.append(connection_sync(run_id=run.pk)["status"])
        finally:
            connections.close_all()

    monkeypatch.setattr(jira_sync_module, "work_items_upsert", upsert_and_hold_the_second_batch)
    outcome: list = []
    thread = threading.Thread(target=worker, args=(outcome,))
    try:
        thread.start()
        assert storing.wait(timeout=30), "the worker never reached its second batch"
        swept = sync_runs_fail_stale(now=timezone.now() + STALE_AFTER + timedelta(minutes=1))
        may_finish.set()
        thread.join(timeout=60)
    finally:
        may_finish.set()  # never leave the worker thread waiting

    assert swept == []
    assert outcome == [SyncRun.Status.SUCCEEDED]
    assert WorkItem.objects.count() == 2500
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
