"""The import of releases and their dependencies from a spreadsheet: all of it, or nothing.

Each release is created by release_create and each dependency added by dependency_add, so each is
audited on its release, gets its gates, and is refused by the same rules as one typed into the form;
one more audit event records the import itself. The plan is built again inside the transaction (the
portal may have changed since the preview), and any refusal rolls everything back and comes back as
the problem of its row.
"""

from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from releases import tasks
from releases.audit import audit_record
from releases.errors import Conflict, DomainError, error_messages
from releases.models import Release, ReleaseDependency
from releases.planning.imports import ImportPlan, PlannedRow, import_plan
from releases.planning.services.dependencies import dependency_add
from releases.planning.services.releases import release_create


class ImportRefused(Conflict):
    """The plan has problems (found at the preview, or since): nothing was imported."""

    def __init__(self, plan: ImportPlan):
        self.plan = plan
        super().__init__("The file has problems, so nothing was imported: fix them and upload it again.")


@transaction.atomic
def release_import(*, plan: ImportPlan, by) -> list[Release]:
    """Create every release of a clean plan and its dependencies, in one transaction; the releases
    are owned by `by`, planned, and depend on their upstreams as "ships before"."""
    plan = import_plan(plan.sheet)  # again, inside the transaction: what the preview saw may have changed
    if not plan.clean:
        raise ImportRefused(plan)
    created: dict[int, Release] = {}
    with tasks.one_forecast_refresh():
        for row in plan.rows:
            with _refusal_of(row, plan):
                created[row.number] = release_create(
                    application=row.application,
                    version=row.version,
                    target_date=row.target,
                    by=by,
                    owner=by,
                    summary=row.summary,
                    code_freeze_date=row.freeze,
                    train=row.train,
                )
        existing = Release.objects.select_related("application").in_bulk(
            {pk for row in plan.rows for pk in row.upstream_ids}
        )
        for row in plan.rows:
            with _refusal_of(row, plan):
                if missing := set(row.upstream_ids) - set(existing):  # deleted since the plan (PostgreSQL)
                    raise DomainError(f"{len(missing)} of the releases it depends on were deleted meanwhile.")
            upstreams = [created[n] for n in row.upstream_rows] + [existing[pk] for pk in row.upstream_ids]
            for upstream in upstreams:
                with _refusal_of(row, plan):
                    dependency_add(
                        downstream=created[row.number],
                        upstream=upstream,
                        kind=ReleaseDependency.Kind.SHIPS_BEFORE,
                        by=by,
                    )
    audit_record(
        actor=by,
        action="release.import",
        object_type="releases.release",
        before=None,
        after={
            "file": plan.sheet.name,
            "rows": len(plan.rows),
            "releases": [release.pk for release in created.values()],
            "dependencies": plan.dependency_count,
        },
    )
    return list(created.values())


@contextmanager
def _refusal_of(row: PlannedRow, plan: ImportPlan):
    """A service's refusal, or the database's (a release created meanwhile), becomes the row's problem
    and refuses the whole import; the transaction rolls back as the exception leaves it."""
    try:
        yield
    except (ValidationError, DomainError) as error:
        row.problems += [m for ms in error_messages(error).values() for m in ms]
        raise ImportRefused(plan) from error
    except IntegrityError as error:
        row.problems.append(f"{row.name} was created or changed meanwhile: upload the file again.")
        raise ImportRefused(plan) from error
