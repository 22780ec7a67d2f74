"""Writes of facts that arrive from the teams' tools one at a time (an uploaded JUnit report).

Bulk upserts by a sync live with the sync core (facts.py); this module holds the single, audited
writes that a person's or a pipeline's request makes.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from releases import tasks
from releases.audit import audit_record
from releases.errors import Refused
from releases.models import Build, Environment, Release, TestRun

COUNT_FIELDS = ("passed", "failed", "skipped", "errors", "duration_ms")


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
    """Store one test run, once, as supplied by `by` (a pipeline's service account): a report sent
    again under the same (source, external_id) returns the stored run unchanged and `False`. Gate
    evidence is recomputed after the commit. The release's owner and its last scope changer may not
    supply its evidence: Refused (403)."""
    if by is not None and by.pk in release.barred_signer_ids:
        refusal = Refused(
            f"You own or last changed the scope of {release.application.key} {release.version}: the "
            "evidence that passes its gates comes from someone else (a pipeline's service account)."
        )
        _record_denial(release=release, by=by, reason=str(refusal))
        raise refusal
    if build is not None and build.application_id != release.application_id:
        raise ValidationError(f"Build {build} is not a build of {release.application.key}.")
    run = {
        "release": release,
        "build": build,
        "environment": environment,
        "name": name[:200],
        "executed_at": executed_at,
        "supplied_by": by if by is not None and by.is_authenticated else None,
        **{field: counts[field] for field in COUNT_FIELDS},
    }
    return _store(source=source, external_id=external_id, run=run, by=by)


@transaction.atomic
def _record_denial(*, release: Release, by, reason: str) -> None:
    """In its own transaction: the refusal outlives the upload it refused."""
    audit_record(actor=by, action="testrun.record.denied", obj=release, after={"reason": reason})


@transaction.atomic
def _store(*, source: str, external_id: str, run: dict, by) -> tuple[TestRun, bool]:
    stored, created = TestRun.objects.get_or_create(source=source, external_id=external_id, defaults=run)
    if created:
        audit_record(actor=by, action="testrun.record", obj=stored)
        release_id = stored.release_id
        transaction.on_commit(lambda: tasks.gate_evidence_refresh_task.delay(release_ids=[release_id]))
    return stored, created
