"""/healthz: public, JSON, 200 when the database and the broker answer, 503 when either does not."""

from types import SimpleNamespace
from unittest import mock

import pytest
from celery.signals import beat_init
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerError

from portal import celery as celery_module
from portal import health
from portal.models import WorkerHeartbeat
from portal.tasks import worker_heartbeat_task
from tests.factories import WorkerHeartbeatFactory

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["worker_heartbeat"] is None
    assert "no-cache" in response["Cache-Control"]


def test_healthz_uses_the_embedded_filesystem_broker_by_default(client, settings):
    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        pytest.skip("CELERY_BROKER_URL points at a real broker in this run")
    assert client.get("/healthz").json()["broker"]["transport"] == "filesystem"


def test_healthz_reports_the_worker_heartbeat(client):
    heartbeat = WorkerHeartbeatFactory(name="worker")
    assert client.get("/healthz").json()["worker_heartbeat"] == heartbeat.seen_at.isoformat()


def test_healthz_is_503_when_the_broker_is_down(client):
    def unreachable(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with mock.patch.object(health.celery_app, "connection_for_write", unreachable):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is True
    assert body["broker"] == {
        "ok": False,
        "error": "Error 111 connecting to 127.0.0.1:6379. Connection refused.",
    }


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "nosuchtransport://localhost//"])
def test_healthz_is_503_when_the_broker_cannot_be_reached(client, monkeypatch, url):
    monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads it before its own configuration
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    assert response.json()["database"]["ok"] is True


def test_healthz_is_503_when_the_database_is_down(client):
    with mock.patch.object(
        health.connection, "cursor", side_effect=OperationalError("could not connect to server\nretrying")
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == {"ok": False, "error": "could not connect to server"}
    assert body["broker"]["ok"] is True
    assert body["worker_heartbeat"] is None


def test_healthz_answers_get_only(client):
    assert client.post("/healthz").status_code == 405


def test_beat_sends_a_heartbeat_as_it_starts_not_30_s_later():
    sent = []

    class Beat:  # what beat_init sends: the beat service, with its app
        app = SimpleNamespace(send_task=sent.append)

    beat_init.send(sender=Beat())
    assert sent == [celery_module.HEARTBEAT_TASK]
    assert celery_module.app.conf.beat_schedule["worker-heartbeat"]["task"] == sent[0]
    worker_heartbeat_task.run()  # what the worker does with it
    assert WorkerHeartbeat.objects.filter(name="worker").exists()


@pytest.fixture
def memory_broker():
    """The app on kombu's in-process broker for this test: the instance's own queues are left alone."""
    from portal.celery import app

    names = ("broker_read_url", "broker_write_url")
    saved = {name: app.conf.get(name) for name in names}
    app.conf.update(broker_read_url="memory://", broker_write_url="memory://")
    app._pool, app.amqp._producer_pool = None, None
    with app.connection_for_write() as connection:
        for queue in health.queue_names():
            connection.default_channel.queue_purge(queue)
    yield app
    app.conf.update(saved)
    app._pool, app.amqp._producer_pool = None, None


def test_healthz_reports_how_many_tasks_wait_in_each_queue(client, memory_broker):
    """The queue depth, for monitoring: tasks sent and not yet taken by a worker."""
    assert client.get("/healthz").json()["broker"]["queues"] == {"default": 0, "sync": 0}
    for _ in range(3):
        memory_broker.send_task("integrations.tasks.no_such_task_for_the_depth_test", queue="sync")
    memory_broker.send_task("releases.tasks.no_such_task_for_the_depth_test", queue="default")
    assert client.get("/healthz").json()["broker"]["queues"] == {"default": 1, "sync": 3}
