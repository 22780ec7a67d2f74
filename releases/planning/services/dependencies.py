"""Writes on release dependencies: add and remove, each audited on the downstream release.

Cycles are refused naming the cycle. Two concurrent adds could each pass the cycle check and together
close a loop through releases that neither locked (A needs B and C needs D, with B -> C and D -> A
already there), so locking the two endpoints is not enough: on PostgreSQL every dependency write
takes one transaction-scoped advisory lock (plus row locks on its two releases) and reads the edges
after it; on SQLite writers are serialised at BEGIN IMMEDIATE.
"""

from django.db import connection, transaction

from releases import tasks
from releases.audit import audit_record, snapshot
from releases.errors import Conflict, DomainError
from releases.models import Release, ReleaseDependency
from releases.planning.forecast import would_create_cycle

GRAPH_LOCK = 0x466C_6465_7031  # "Fldep1": the advisory lock key of the dependency graph


class DependencyRefused(DomainError, ValueError):
    """A dependency the rules do not allow; the message is written for the person who asked."""


class DependencyCycle(DependencyRefused, Conflict):
    def __init__(self, names: list[str]):
        self.names = names
        super().__init__("That would make a cycle: " + " → ".join(names) + ".")


@transaction.atomic
def dependency_add(
    *, downstream: Release, upstream: Release, kind: str, note: str = "", by
) -> ReleaseDependency:
    """`downstream` cannot ship before (ships_before) or without (ships_with) `upstream`."""
    if downstream.pk == upstream.pk:
        raise DependencyRefused("A release cannot depend on itself.")
    _lock_graph(downstream.pk, upstream.pk)
    if ReleaseDependency.objects.filter(downstream=downstream, upstream=upstream).exists():
        raise DependencyRefused(f"{downstream} already depends on {upstream}.")
    edges = ReleaseDependency.objects.values_list("downstream_id", "upstream_id")
    cycle = would_create_cycle(edges, downstream=downstream.pk, upstream=upstream.pk)
    if cycle:
        raise DependencyCycle(_names(cycle))
    dependency = ReleaseDependency(downstream=downstream, upstream=upstream, kind=kind, note=note)
    dependency.full_clean()
    dependency.save()
    _audit(by, "release.dependency_add", dependency, before=None)
    tasks.forecast_refresh_after_commit()
    return dependency


@transaction.atomic
def dependency_remove(*, dependency: ReleaseDependency, by) -> None:
    _lock_graph(dependency.downstream_id, dependency.upstream_id)
    dependency = ReleaseDependency.objects.select_related(
        "downstream__application", "upstream__application"
    ).get(pk=dependency.pk)
    _audit(by, "release.dependency_remove", dependency, before=snapshot(dependency), after={})
    dependency.delete()
    tasks.forecast_refresh_after_commit()


def _lock_graph(*release_ids: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GRAPH_LOCK])
        list(Release.objects.select_for_update().filter(pk__in=release_ids).order_by("pk").values("pk"))


def _names(release_ids: list[int]) -> list[str]:
    """The releases of a cycle as "KEY version", in the cycle's order (one query)."""
    names = {
        pk: f"{key} {version}"
        for pk, key, version in Release.objects.filter(pk__in=release_ids).values_list(
            "pk", "application__key", "version"
        )
    }
    return [names[pk] for pk in release_ids]


def _audit(by, action: str, dependency: ReleaseDependency, *, before, after=None) -> None:
    """Recorded on the downstream release, so the change shows in that release's timeline."""
    audit_record(
        actor=by,
        action=action,
        obj=dependency,
        object_type="releases.release",
        object_id=str(dependency.downstream_id),
        before=before,
        after=after,
    )
