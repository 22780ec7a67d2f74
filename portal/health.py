"""Liveness of what the portal needs: the database and the broker."""

from django.db import connection

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
    except Exception as exc:  # kombu raises several types for an unreachable broker
        return {"ok": False, "error": _one_line(exc)}
    return {"ok": True, "transport": str(transport)}


def _one_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
