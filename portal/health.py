"""Liveness of what the portal needs: the database and the broker, and how many tasks wait in each queue."""

from django.conf import settings
from django.db import connection
from kombu.exceptions import ChannelError

from portal.celery import app as celery_app


def database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the message says why
        return {"ok": False, "error": _one_line(exc)}
    return {"ok": True, "vendor": connection.vendor}


def broker_status() -> dict:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
            transport = conn.transport_cls
            queues = {name: _queue_depth(conn.default_channel, name) for name in queue_names()}
    except Exception as exc:  # kombu raises several types for an unreachable broker
        return {"ok": False, "error": _one_line(exc)}
    return {"ok": True, "transport": str(transport), "queues": queues}


def queue_names() -> list[str]:
    """The queues tasks are sent to: the default one and each route's (sync)."""
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return sorted({settings.CELERY_TASK_DEFAULT_QUEUE} | routed)


def _queue_depth(channel, name: str) -> int:
    """Messages waiting in the queue, not yet handed to a worker (those a worker holds unacknowledged
    are not counted). The virtual transports' own count (Redis: LLEN under the instance's key prefix):
    a passive queue_declare would test the key with EXISTS, which kombu does not prefix."""
    try:
        return int(channel._size(name))
    except ChannelError:  # a transport that has no such queue yet
        return 0


def _one_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
