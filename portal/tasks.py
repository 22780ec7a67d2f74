from celery import shared_task
from django.utils import timezone

from portal.models import WorkerHeartbeat


@shared_task
def worker_heartbeat_task() -> dict:
    """Beat sends this; the worker runs it. Its timestamp proves both are alive (shown on /healthz)."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name="worker", defaults={"seen_at": now})
    return {"seen_at": now.isoformat()}
