import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from portal.health import broker_status, database_status
from portal.models import WorkerHeartbeat


class Command(BaseCommand):
    help = (
        "One JSON object: this instance's migrations (applied, pending), database size, health of the "
        "database and broker, and the worker's last heartbeat. `python -m instances list` reads it."
    )

    def handle(self, *args, **options):
        status = {
            "instance": settings.INSTANCE_NAME,
            "database": database_status(),
            "broker": broker_status(),
        }
        if status["database"]["ok"]:
            try:
                status |= _migrations() | {"database_bytes": _database_bytes()}
                seen = WorkerHeartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
                status["worker_seen_at"] = seen.isoformat() if seen else None
            except DatabaseError as error:  # not migrated yet: no heartbeat table
                status.setdefault("worker_seen_at", None)
                status["error"] = str(error).splitlines()[0][:300]
        self.stdout.write(json.dumps(status))


def _migrations() -> dict:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return {
        "migrations_applied": len(executor.loader.applied_migrations),
        "migrations_pending": [f"{m.app_label}.{m.name}" for m, _backwards in plan],
    }


def _database_bytes() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_database_size(current_database())")
            return int(cursor.fetchone()[0])
        cursor.execute("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
        return int(cursor.fetchone()[0])
