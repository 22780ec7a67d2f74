"""Writes of facts that arrive from the teams' tools one at a time (an uploaded JUnit report).

Bulk upserts by a sync live with the sync core (facts.py); this module holds the single, audited
writes that a person's or a pipeline's request makes.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from releases import tasks
from releases.audit import audit_record
from releases.models import Build, Environment, Release, TestRun

COUNT_FIELDS = ("passed", "failed", "skipped", "errors", "duration_ms")


@transaction.atomic
def testrun_record(
    *,
    release: Release,
    build: Build | None,
    environment: Environment | None,
    name: str,
    counts: dict[str, int],
    executed_at: datetime,
    source: str,
    external_id: str,
    by,
) -> tuple[TestRun, bool]:
    """Store one test run, once: a report sent again under the same (source, external_id) returns
    the stored run unchanged and `False`. Gate evidence is recomputed after the commit."""
    if build is not None and build.application_id != release.application_id:
        raise ValidationError(f"Build {build} is not a build of {release.application.key}.")
    run, created = TestRun.objects.get_or_create(
        source=source,
        external_id=external_id,
        defaults={
            "release": release,
            "build": build,
            "environment": environment,
            "name": name[:200],
            "executed_at": executed_at,
            **{field: counts[field] for field in COUNT_FIELDS},
        },
    )
    if created:
        audit_record(actor=by, action="testrun.record", obj=run)
        transaction.on_commit(lambda: tasks.gate_evidence_refresh_task.delay(release_ids=[release.pk]))
    return run, created
