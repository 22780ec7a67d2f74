"""The Celery app: configured from Django settings (CELERY_* names), tasks found in every app."""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import beat_init
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

HEARTBEAT_TASK = "portal.tasks.worker_heartbeat_task"

app = Celery("flightdeck")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = {
    "worker-heartbeat": {"task": HEARTBEAT_TASK, "schedule": 30.0},
    "forecast-refresh": {"task": "releases.tasks.forecast_refresh_task", "schedule": 5 * 60.0},
    "audit-verify-nightly": {"task": "releases.tasks.audit_verify_task", "schedule": 24 * 60 * 60.0},
    # The chain's anchor outside the database: a signed checkpoint of its head, when it has grown.
    "audit-checkpoint": {
        "task": "releases.tasks.audit_checkpoint_task",
        "schedule": settings.AUDIT_CHECKPOINT_MINUTES * 60.0,
    },
    # Gates entering their lead time are announced to their signers, once, one summary per person.
    "gates-announce": {"task": "releases.tasks.gates_announce_task", "schedule": 60 * 60.0},
    # One e-mail a day per person with the notices they chose to get in the digest.
    "notifications-digest-daily": {
        "task": "releases.tasks.notifications_digest_task",
        "schedule": crontab(hour=settings.NOTIFICATION_DIGEST_HOUR, minute=0),
    },
    # The metrics' daily roll-up: the days since the last one, and a week back for late incidents.
    "metrics-rollup": {"task": "releases.tasks.metrics_rollup_task", "schedule": 15 * 60.0},
    "metrics-rollup-nightly": {
        "task": "releases.tasks.metrics_rollup_task",
        "schedule": crontab(hour=1, minute=45),
        "kwargs": {"full": True},
    },
    "gates-overdue-notify": {"task": "releases.tasks.gates_overdue_notify_task", "schedule": 60 * 60.0},
    # Every minute: queue the connections whose own schedule (Connection.schedule_minutes) is due.
    "connections-sync-due": {"task": "integrations.tasks.connections_sync_due_task", "schedule": 60.0},
    # Fail sync runs whose heartbeat is stale (their worker or message was lost), freeing the connection.
    "sync-runs-sweep": {"task": "integrations.tasks.sync_runs_sweep_task", "schedule": 5 * 60.0},
    "webhook-deliveries-prune-nightly": {
        "task": "integrations.tasks.webhook_deliveries_prune_task",
        "schedule": crontab(hour=3, minute=15),
    },
    "connections-reconcile-nightly": {
        "task": "integrations.tasks.connections_reconcile_task",
        "schedule": crontab(hour=2, minute=30),
    },
}


@beat_init.connect
def heartbeat_at_beat_start(sender, **kwargs) -> None:
    """Beat's first heartbeat goes out as it starts, not at its first tick 30 s later: a portal just
    started shows its worker up as soon as the worker has read the message."""
    sender.app.send_task(HEARTBEAT_TASK)
