"""SIGKILL a real Celery worker on Redis in the middle of a Jira sync: the run resumes from its cursor
and ends with the exact row count and no duplicates; with early acknowledgement (the control) the same
kill loses the sync, which shows these tests can fail. Runs only with CELERY_BROKER_URL=redis://..."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db
from django.db.models import Count
from kombu import Exchange, Queue

from integrations.models import SyncRun
from integrations.sandbox.server import Fault
from integrations.tasks import connection_sync_task
from releases.models import PullRequest, WorkItem
from tests.conftest import REPO

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"),
        reason="kill tests need a real worker on Redis (CELERY_BROKER_URL=redis://...)",
    ),
    pytest.mark.skipif(
        "sqlite" in settings.DATABASES["default"]["ENGINE"],
        reason="the worker process needs a shared database",
    ),
]

ISSUES = 2000


def database_url() -> str:
    s = db.settings_dict
    return (
        f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    )


def start_worker(queue: str, *, early_ack: bool = False) -> subprocess.Popen:
    env = os.environ | {"DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY}
    if early_ack:
        env["FLIGHTDECK_EARLY_ACK"] = "1"
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "tests.integrations.kill_worker_app",
        "worker",
    ]
    command += [
        "-Q",
        queue,
        "--concurrency",
        "1",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "warning",
    ]
    return subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for(condition, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    return None


def run_state(run: SyncRun) -> SyncRun:
    run.refresh_from_db()
    return run


@pytest.fixture
def slow_sync(jira_sandbox, jira_connection):
    """A queued sync of 2,000 issues that takes about ten seconds (20 pages, each half a second late)."""
    server = jira_sandbox(issues=ISSUES, projects=("PAY",))
    server.faults.append(Fault("slow", path="/search/jql", delay=0.5, times=1000))
    connection = jira_connection(server)
    queue = f"kill-test-{uuid.uuid4().hex[:12]}"  # this test's worker takes this test's task only
    workers = []

    def start(**kwargs) -> subprocess.Popen:
        workers.append(start_worker(queue, **kwargs))
        return workers[-1]

    yield connection, queue, start
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)


def queue_and_wait_until_half_stored(connection, queue: str) -> SyncRun:
    run = SyncRun.objects.create(connection=connection)
    with connection_sync_task.app.connection_for_write() as broker:
        Queue(queue, Exchange(queue), routing_key=queue)(broker).declare()  # before the worker binds it
    connection_sync_task.apply_async(kwargs={"connection_id": connection.pk, "run_id": run.pk}, queue=queue)
    assert wait_for(lambda: run_state(run).items_created >= 1000), "the first batch was never stored"
    assert run_state(run).status == SyncRun.Status.RUNNING
    return run


def assert_exactly_once(run: SyncRun) -> None:
    assert wait_for(lambda: run_state(run).status == SyncRun.Status.SUCCEEDED, timeout=90), run_state(
        run
    ).error
    assert WorkItem.objects.count() == ISSUES
    duplicates = WorkItem.objects.values("external_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists()


def test_killing_the_worker_child_mid_sync_resumes_the_run(slow_sync):
    connection, queue, start = slow_sync
    worker = start()
    run = queue_and_wait_until_half_stored(connection, queue)
    (child,) = children(worker.pid)
    os.kill(child, signal.SIGKILL)  # the pool process running the task; the parent requeues it
    assert_exactly_once(run)


def test_killing_the_whole_worker_mid_sync_resumes_after_a_restart(slow_sync):
    connection, queue, start = slow_sync
    worker = start()
    run = queue_and_wait_until_half_stored(connection, queue)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    start()  # the unacknowledged message comes back after the visibility timeout
    assert_exactly_once(run)


def test_control_with_early_acknowledgement_the_kill_loses_the_sync(slow_sync):
    connection, queue, start = slow_sync
    worker = start(early_ack=True)
    run = queue_and_wait_until_half_stored(connection, queue)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    start()
    time.sleep(15)  # five visibility timeouts: nothing comes back, the message was acknowledged
    assert run_state(run).status == SyncRun.Status.RUNNING
    assert WorkItem.objects.count() < ISSUES


# --- GitLab: the same kill, in the middle of 2,500 merge requests ---------------------------------

MERGE_REQUESTS = 2500


@pytest.fixture
def slow_gitlab_sync(serve):
    """A queued GitLab sync of 2,500 merge requests (25 pages, each a third of a second late), stored
    1,000 a transaction."""
    from integrations.sandbox.gitlab import GitlabDataset, GitlabRoutes
    from tests import factories as f

    server = serve(GitlabRoutes(GitlabDataset(merge_requests={"acme/payments": MERGE_REQUESTS})))
    server.faults.append(Fault("slow", path="/merge_requests", delay=0.3, times=1000))
    connection = f.ConnectionFactory(
        kind="gitlab",
        base_url=server.url,
        credentials={"token": server.routes.dataset.token},
        scope={"projects": ["acme/payments"]},
    )
    f.ApplicationMappingFactory(
        connection=connection, application=f.ApplicationFactory(key="PAY"), external_key="acme/payments"
    )
    queue = f"kill-test-{uuid.uuid4().hex[:12]}"
    workers = [start_worker(queue)]
    yield connection, queue, workers[0]
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)


def test_killing_the_worker_child_mid_gitlab_sync_resumes_the_run_exactly_once(slow_gitlab_sync):
    connection, queue, worker = slow_gitlab_sync
    run = queue_and_wait_until_half_stored(connection, queue)
    (child,) = children(worker.pid)
    os.kill(child, signal.SIGKILL)
    assert wait_for(lambda: run_state(run).status == SyncRun.Status.SUCCEEDED, timeout=90), run_state(
        run
    ).error
    assert PullRequest.objects.count() == MERGE_REQUESTS
    duplicates = PullRequest.objects.values("external_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists()
    assert run_state(run).attempts >= 2  # the requeued message resumed the same run
