"""Beat's two sync tasks: each enabled connection on its own schedule, and the nightly reconcile;
never a second run next to an active one. The task itself is covered in test_sync_faults.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import tasks
from integrations.models import SyncRun
from portal.celery import app
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
