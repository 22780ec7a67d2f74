"""Bulk upserts of facts a sync brings: work items (with fix releases and "blocks" links), releases,
builds, test runs and deployments.

A work item joining or leaving a fix release is also recorded as a ScopeChange (the scope's history,
which the planned-vs-delivered metric reads), in the same statement for the whole page: at the item's
creation when it is new (in the release at first sight), else at the tool's last-updated time of the
item, when the sync observes the change (now, if the tool gives none).

The caller (a sync, one page at a time) holds the transaction. Rows are keyed by (source,
external_id); a row that matches what is stored is not written at all, so an unchanged re-sync
writes nothing. Reads and writes are a fixed number of bulk statements per page, never one per row.
Releases are the exception that proves it: few per project, each created or changed one is audited
and gets its gates, like a release typed in by hand.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, Min, Q
from django.utils import timezone

from releases.audit import audit_record, snapshot
from releases.gates.services.policies import gates_sync_for_release
from releases.metrics.rollups import metrics_mark_dirty
from releases.models import (
    Build,
    Deployment,
    Release,
    ScopeChange,
    SourceAlias,
    TestRun,
    WorkItem,
    WorkItemLink,
)
from releases.tasks import forecast_refresh_after_commit

WORK_ITEM_FIELDS = (
    "application_id",
    "key",
    "title",
    "type",
    "status_category",
    "status_name",
    "priority",
    "created_at",
    "resolved_at",
    "updated_at",
    "parent_key",
    "labels",
)
FixThrough = WorkItem.fix_releases.through


@dataclass(frozen=True)
class WorkItemFact:
    external_id: str
    application_id: int
    key: str
    title: str
    type: str
    status_category: str
    status_name: str
    priority: str
    created_at: datetime
    resolved_at: datetime | None
    updated_at: datetime | None
    parent_key: str = ""
    labels: str = ""
    fix_release_ids: tuple[str, ...] = ()  # external ids of the releases, same source
    # (application id, key) of the work items this one blocks / is blocked by, same source
    blocks: tuple[tuple[int, str], ...] = ()
    blocked_by: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class ReleaseFact:
    external_id: str
    version: str
    summary: str
    released: bool
    archived: bool
    release_date: date | None
    start_date: date | None
    hotfix: bool = False  # the tool calls it a hotfix


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    held: int = 0  # facts another source owns: aliased, left to their owner (counted in unchanged too)
    rows_written: int = 0  # every row inserted, updated or deleted, links and fix releases included
    release_ids: set[int] = field(default_factory=set)  # releases whose facts changed

    def __iadd__(self, other: "UpsertResult") -> "UpsertResult":
        for name in ("created", "updated", "unchanged", "deleted", "held", "rows_written"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.release_ids |= other.release_ids
        return self


# --- work items -------------------------------------------------------------------------------------


def work_items_upsert(*, source: str, facts: list[WorkItemFact]) -> UpsertResult:
    """Create, update or leave each work item; then its fix releases and blocking links."""
    facts = list({fact.external_id: fact for fact in facts}.values())  # overlapping pages repeat items
    result = UpsertResult()
    if not facts:
        return result
    stored, held = _stored_items(source, facts)
    if held:
        known = _aliased(source, "work_item", [alias.external_id for alias in held])
        _aliases_add([alias for alias in held if alias.external_id not in known], result, held=len(held))
        held_ids = {alias.external_id for alias in held}
        facts = [fact for fact in facts if fact.external_id not in held_ids]
    releases = _release_pks(source, list({rid for fact in facts for rid in fact.fix_release_ids}))
    new, changed = [], []
    for fact in facts:
        values = (source, fact.external_id, *(getattr(fact, name) for name in WORK_ITEM_FIELDS))
        if fact.external_id not in stored:
            new.append(values)
        elif stored[fact.external_id][1:] != values:
            changed.append((values, stored[fact.external_id][0]))
    pk_of = {external_id: row[0] for external_id, row in stored.items()}
    inserted = _insert_rows(
        WorkItem, WORK_ITEM_COLUMNS, [(*row, False) for row in new], returning=("external_id", "pk")
    )
    pk_of |= dict(inserted)
    _update_items(changed)
    result.created, result.updated = len(new), len(changed)
    result.unchanged += len(facts) - len(new) - len(changed)
    result.rows_written += len(new) + len(changed)
    existing = {row[0] for row in stored.values()}  # only these can have fix releases and links yet
    written = {pk_of[row[1]] for row in new} | {pk for _, pk in changed}
    _sync_fix_releases(facts, pk_of, releases, existing, written, result)
    _sync_links(source, facts, pk_of, existing, result)
    _late_facts_mark_metrics(facts, pk_of, releases, written)
    if connection.vendor == "postgresql" and _planner_statistics.grown(source, len(new)):
        transaction.on_commit(_analyze_work_item_tables)
    return result


def _late_facts_mark_metrics(facts, pk_of, releases: dict[str, int], written: set[int]) -> None:
    """Facts about days the metrics rolled up already have those days judged again: a bug resolved
    days ago, or an incident naming a release that shipped days ago."""
    facts = [fact for fact in facts if pk_of[fact.external_id] in written]
    resolved = [fact.resolved_at for fact in facts if fact.type == WorkItem.Type.BUG and fact.resolved_at]
    if resolved:
        metrics_mark_dirty(min(resolved))
    named = {
        releases[rid]
        for fact in facts
        if fact.type == WorkItem.Type.INCIDENT
        for rid in fact.fix_release_ids
        if rid in releases
    }
    if named:
        first = Deployment.objects.filter(release_id__in=named).aggregate(first=Min("deployed_at"))["first"]
        if first is not None:
            metrics_mark_dirty(first)


class PlannerStatistics:
    """When a source has grown enough that PostgreSQL's statistics no longer describe it.

    PostgreSQL plans by statistics that autovacuum refreshes a minute or more after a bulk load. A
    first sync grows the tables faster than that, and a source (or application) the statistics have
    never seen looks empty to the planner, which then reads all of the source's rows for each page's
    lookups instead of probing the index per key: ten times slower at 100,000 items. So each time a
    source's inserted rows double (10,000, 20,000, 40,000, ...) the tables are analyzed: four times
    in a first sync of 100,000 issues, never in an incremental one. Kept per worker process.
    """

    FIRST = 10_000

    def __init__(self):
        self.inserted: dict[str, int] = defaultdict(int)
        self.next_analyze: dict[str, int] = defaultdict(lambda: self.FIRST)

    def grown(self, source: str, rows: int) -> bool:
        self.inserted[source] += rows
        if self.inserted[source] < self.next_analyze[source]:
            return False
        self.next_analyze[source] = 2 * self.inserted[source]
        return True


_planner_statistics = PlannerStatistics()


def _analyze_work_item_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(analyze_sql())


# New rows go in by a hand-written INSERT: Django's bulk_create builds a model instance and a
# placeholder per value, and takes 3-4x as long on PostgreSQL (bench/sync.py, raw_vs_django). Rows go
# in as ONE parameter, a JSON list of rows that the database unpacks (PostgreSQL:
# jsonb_array_elements; SQLite: json_each): encoding it is one C call, and the statement's text is
# the same for every page. Every table and column name comes from the models' _meta, quoted; values
# are always parameters. Changed rows take Django's own path: there hand-written UPDATEs were no faster.
WORK_ITEM_TOOL_COLUMNS = ("source", "external_id", *WORK_ITEM_FIELDS)
# A new row is not descoped; a changed one keeps what a release manager decided (release_scope_change).
WORK_ITEM_COLUMNS = (*WORK_ITEM_TOOL_COLUMNS, "descoped")


def analyze_sql() -> str:
    """ANALYZE of only the columns the page's lookups filter on: it keeps each ANALYZE short."""
    return "ANALYZE " + ", ".join(
        f"{_table(model)} ({', '.join(_columns(model, names))})"
        for model, names in (
            (WorkItem, ("source", "external_id", "application", "key")),
            (FixThrough, ("workitem",)),
            (WorkItemLink, ("blocker", "blocked")),
        )
    )


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _field(model, name: str):
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def _columns(model, names) -> list[str]:
    return [connection.ops.quote_name(_field(model, name).column) for name in names]


def _json_ready(model, names: tuple[str, ...], rows: list) -> list:
    """The rows with datetimes as the database reads them from JSON: ISO 8601 text that PostgreSQL
    casts, and Django's own stored text on SQLite."""
    moments = [i for i, name in enumerate(names) if isinstance(_field(model, name), DateTimeField)]
    if not moments:
        return rows
    if connection.vendor == "postgresql":
        adapt = datetime.isoformat
    else:
        adapt = connection.ops.adapt_datetimefield_value
    ready = []
    for row in rows:
        row = list(row)
        for i in moments:
            if row[i] is not None:
                row[i] = adapt(row[i])
        ready.append(row)
    return ready


def _insert_rows(model, names: tuple[str, ...], rows: list, *, returning=(), skip_on=()) -> list:
    """Insert the rows (values in the order of the fields `names`) in one statement; the fields
    `returning` names, for each row inserted. With `skip_on` (the fields of a unique constraint) a row
    already there is skipped."""
    if not rows:
        return []
    fields = [_field(model, name) for name in names]
    if connection.vendor == "postgresql":
        # Text is cast to unbounded varchar: a cast to varchar(n) would cut a longer value short
        # silently, where the insert into the column refuses it.
        select = ", ".join(f"(r->>{i})::{_cast(f)}" for i, f in enumerate(fields))
        unpacked = "jsonb_array_elements(%s::jsonb) AS r"
    else:
        select = ", ".join(f"json_extract(r.value, '$[{i}]')" for i in range(len(fields)))
        unpacked = "json_each(%s) AS r"
    columns = ", ".join(_columns(model, names))
    sql = f"INSERT INTO {_table(model)} ({columns}) SELECT {select} FROM {unpacked} WHERE true"  # noqa: S608 (names from _meta)
    if skip_on:  # (SQLite needs the WHERE before an ON CONFLICT)
        sql += f" ON CONFLICT ({', '.join(_columns(model, skip_on))}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(_columns(model, returning))}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(_json_ready(model, names, rows))])
        return cursor.fetchall() if returning else []


def _cast(field) -> str:
    return "varchar" if isinstance(field, CharField) else field.cast_db_type(connection)


def _update_items(changed: list[tuple[tuple, int]]) -> None:
    """The changed items, (the tool's values, pk) each, in one INSERT ... ON CONFLICT (id) DO UPDATE a
    page, setting only the tool's columns: on PostgreSQL it takes 0.74-0.89x the time of an UPDATE per
    row and a twentieth of bulk_update's CASE per field (bench/sync.py, raw_vs_django)."""
    items = [WorkItem(pk=pk, **dict(zip(WORK_ITEM_TOOL_COLUMNS, row, strict=True))) for row, pk in changed]
    WorkItem.objects.bulk_create(
        items, update_conflicts=True, unique_fields=["pk"], update_fields=WORK_ITEM_TOOL_COLUMNS
    )


def _by_external_id(model, source: str, external_ids: list[str]):
    """The rows of `source` with these external ids, through the partial unique index (restating
    its `external_id <> ''` lets PostgreSQL use it)."""
    return (
        model.objects.filter(source=source, external_id__any_of=external_ids)
        .exclude(external_id="")
        .order_by()
    )


def _stored_items(source: str, facts: list[WorkItemFact]) -> tuple[dict[str, tuple], list[SourceAlias]]:
    """(pk, source, external_id, *fields) by external id, and the items another source owns.

    An item typed in by hand with the same key (no external id yet) is adopted. One another source
    owns (same application and key) is held: aliased, and left to its owner."""
    fields = ("pk", "source", "external_id", *WORK_ITEM_FIELDS)
    found = {
        row[2]: row
        for row in _by_external_id(WorkItem, source, [f.external_id for f in facts]).values_list(*fields)
    }
    missing = {
        (fact.application_id, fact.key): fact.external_id for fact in facts if fact.external_id not in found
    }
    held: list[SourceAlias] = []
    if missing:
        same_key = (
            WorkItem.objects.filter(
                application_id__any_of=list({app for app, _ in missing}),
                key__any_of=list({key for _, key in missing}),
            )
            .order_by()
            .values_list(*fields)
        )
        for row in same_key:
            external_id = missing.get((row[3], row[4]))
            if external_id is None:
                continue
            if row[2] == "" or row[1] == source:  # typed in, or re-created in the tool under a new id
                found[external_id] = row
            else:
                held.append(SourceAlias(source=source, external_id=external_id, work_item_id=row[0]))
    return found, held


def _sync_fix_releases(facts, pk_of, releases, existing: set[int], written: set[int], result) -> None:
    """Fix releases follow the page; a release changes when an item joins or leaves it, or one of its
    items changed (a status flip moves its scope gate)."""
    stored = (
        {
            (w, r): pk
            for pk, w, r in FixThrough.objects.filter(workitem_id__any_of=list(existing)).values_list(
                "pk", "workitem_id", "release_id"
            )
        }
        if existing
        else {}
    )
    wanted = {
        (pk_of[fact.external_id], releases[rid])
        for fact in facts
        for rid in fact.fix_release_ids
        if rid in releases
    }
    gone = [pk for pair, pk in stored.items() if pair not in wanted]
    added = sorted(wanted - stored.keys())
    if gone:
        FixThrough.objects.filter(pk__any_of=gone).delete()
    _insert_rows(FixThrough, ("workitem", "release"), added)
    _record_scope_changes(existing, added, [pair for pair in stored if pair not in wanted])
    result.rows_written += len(gone) + len(added)
    result.release_ids |= {r for _, r in stored.keys() ^ wanted}
    result.release_ids |= {r for w, r in stored.keys() | wanted if w in written}


SCOPE_CHANGE_COLUMNS = ("release", "work_item", "kind", "at", "recorded_at")


def _record_scope_changes(existing: set[int], added: list, removed: list) -> None:
    """The page's fix-release changes, (work item, release) pairs, as scope changes in one INSERT ...
    SELECT that takes each item's times from its row as just written: an item new to Flightdeck
    counts from its creation, a known one from the tool's last update of it (now, if none). So the
    page sends ids only (a third of the time of sending the times, on PostgreSQL)."""
    rows = [(r, w, ScopeChange.Kind.ADDED, w not in existing) for w, r in added]
    rows += [(r, w, ScopeChange.Kind.REMOVED, False) for w, r in removed]
    if not rows:
        return
    if connection.vendor == "postgresql":
        release, item, kind, new = "(r->>0)::bigint", "(r->>1)::bigint", "(r->>2)", "(r->>3)::boolean"
        unpacked, stamp = "jsonb_array_elements(%s::jsonb) AS r", "%s::timestamptz"
    else:
        release, item, kind, new = (f"json_extract(r.value, '$[{i}]')" for i in range(4))
        unpacked, stamp = "json_each(%s) AS r", "%s"
    created, updated, pk = _columns(WorkItem, ("created_at", "updated_at", "pk"))
    columns = ", ".join(_columns(ScopeChange, SCOPE_CHANGE_COLUMNS))
    sql = (
        f"INSERT INTO {_table(ScopeChange)} ({columns})"  # noqa: S608 (names from _meta)
        f" SELECT {release}, {item}, {kind},"
        f" CASE WHEN {new} THEN w.{created} ELSE COALESCE(w.{updated}, {stamp}) END, {stamp}"
        f" FROM {unpacked} JOIN {_table(WorkItem)} w ON w.{pk} = {item}"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, json.dumps(rows)])


def _sync_links(source: str, facts, pk_of: dict[str, int], existing: set[int], result: UpsertResult) -> None:
    """Each issue reports all its blocking links, so a link touching a page's issue that none of them
    reports is gone; a link to an issue not synced yet is made when that issue arrives."""
    ends = {end for fact in facts for end in (*fact.blocks, *fact.blocked_by)}
    by_key = {}
    if ends:  # by (application, key): the unique index, probed once per key, whatever the table's size
        keys_of = defaultdict(set)
        for app, key in ends:
            keys_of[app].add(key)
        by_app = Q.create(
            [Q(application_id=app, key__any_of=list(keys)) for app, keys in keys_of.items()], Q.OR
        )
        found = (
            WorkItem.objects.filter(by_app, source=source)
            .order_by()
            .values_list("application_id", "key", "pk")
        )
        by_key = {(app, key): pk for app, key, pk in found}
    wanted = set()
    for fact in facts:
        own = pk_of[fact.external_id]
        wanted |= {(own, by_key[key]) for key in fact.blocks if key in by_key}
        wanted |= {(by_key[key], own) for key in fact.blocked_by if key in by_key}
    wanted = {(a, b) for a, b in wanted if a != b}
    stored = {}
    if existing:
        ids = list(existing)
        stored = {
            (a, b): pk
            for pk, a, b in WorkItemLink.objects.filter(
                Q(blocker_id__any_of=ids) | Q(blocked_id__any_of=ids)
            ).values_list("pk", "blocker_id", "blocked_id")
        }
    gone = [pk for pair, pk in stored.items() if pair not in wanted]
    added = sorted(wanted - stored.keys())
    if gone:
        WorkItemLink.objects.filter(pk__any_of=gone).delete()
    _insert_rows(
        WorkItemLink, ("blocker", "blocked"), added, skip_on=("blocker", "blocked")
    )  # the other page may add it
    result.rows_written += len(gone) + len(added)


def work_items_delete(*, source: str, external_ids) -> UpsertResult:
    """Remove the work items the tool no longer has (found by a reconcile); their releases change."""
    ids = list(external_ids)
    result = UpsertResult()
    for start in range(0, len(ids), 1000):
        chunk = WorkItem.objects.filter(source=source, external_id__in=ids[start : start + 1000])
        result.release_ids |= set(
            FixThrough.objects.filter(workitem__in=chunk).values_list("release_id", flat=True)
        )
        deleted, _ = chunk.delete()
        result.deleted += len(ids[start : start + 1000])
        result.rows_written += deleted
    return result


# --- releases ---------------------------------------------------------------------------------------


def releases_upsert(*, source: str, application_id: int, facts: list[ReleaseFact]) -> UpsertResult:
    """Each tool version becomes (or updates) a release of the application, audited as the system.

    Jira decides the version name, dates and whether it shipped or was archived; a release manager's
    in-between status (in progress, code freeze, ready) is kept while Jira says "unreleased", and a
    version without a date keeps the target it has (a new one starts on its start date or today).
    Shipping is one-way for a sync: a released release stays released when Jira says "unreleased"
    (another tool saw it ship, e.g. a published GitHub release, and Jira's flag lags; otherwise each
    pass of the two would flip it back and forth). A person can reopen it on the release page.
    """
    result, shipped_days = UpsertResult(), []
    by_external = {r.external_id: r for r in _by_external_id(Release, source, [f.external_id for f in facts])}
    aliased = _aliased(source, "release", [f.external_id for f in facts])
    by_version = {
        r.version: r
        for r in Release.objects.filter(application_id=application_id, version__in=[f.version for f in facts])
    }
    held = []
    for fact in facts:
        release = by_external.get(fact.external_id)
        if release is None and (fact.external_id in aliased or _held(by_version.get(fact.version), source)):
            held.append(
                SourceAlias(source=source, external_id=fact.external_id, release=by_version.get(fact.version))
            )
            continue
        # Typed in by hand, or the tool re-created the version under a new id: this source takes it.
        release = release or by_version.get(fact.version)
        created = release is None
        release = release or Release(application_id=application_id)
        before = None if created else snapshot(release)
        _apply_release_fact(release, fact, source)
        if not created and snapshot(release) == before:
            result.unchanged += 1
            continue
        release.full_clean()
        release.save()
        audit_record(
            actor=None, action=f"release.sync_{'create' if created else 'update'}", obj=release, before=before
        )
        gates_sync_for_release(release=release, by=None)
        result.created += created
        result.updated += not created
        result.rows_written += 1
        result.release_ids.add(release.pk)
        shipped_days += [release.actual_date] if release.actual_date else []
    _aliases_add([alias for alias in held if alias.external_id not in aliased], result, held=len(held))
    if shipped_days:  # the delivery figures of the days they shipped count them
        metrics_mark_dirty(min(shipped_days))
    if result.rows_written:
        forecast_refresh_after_commit()
    return result


def _release_pks(source: str, external_ids: list[str]) -> dict[str, int]:
    """Release pk by this source's id: its own releases, and those it knows by an alias."""
    own = _by_external_id(Release, source, external_ids).values_list("external_id", "pk")
    aliased = SourceAlias.objects.filter(source=source, external_id__in=external_ids, release__isnull=False)
    return dict(own) | dict(aliased.values_list("external_id", "release_id"))


def _held(fact_row, source: str) -> bool:
    """The row another source owns, found by what identifies it in any tool: left to its owner."""
    return fact_row is not None and fact_row.external_id != "" and fact_row.source != source


def _aliased(source: str, fact: str, external_ids: list[str]) -> set[str]:
    """The ids `source` already knows as aliases of another source's releases or work items."""
    aliases = SourceAlias.objects.filter(
        source=source, external_id__in=external_ids, **{f"{fact}__isnull": False}
    )
    return set(aliases.values_list("external_id", flat=True))


def _aliases_add(aliases: list[SourceAlias], result: UpsertResult, *, held: int) -> None:
    """Record the new aliases (another page or run may have recorded one already) and count what is held."""
    SourceAlias.objects.bulk_create(aliases, ignore_conflicts=True)
    result.held += held
    result.unchanged += held
    result.rows_written += len(aliases)


def _apply_release_fact(release: Release, fact: ReleaseFact, source: str) -> None:
    today = timezone.localdate()
    release.source, release.external_id = source, fact.external_id
    release.version, release.summary = fact.version, fact.summary
    release.hotfix = release.hotfix or fact.hotfix  # a person may also mark it; a sync never unmarks
    release.target_date = fact.release_date or release.target_date or fact.start_date or today
    if fact.released:
        release.status = Release.Status.RELEASED
        release.actual_date = fact.release_date or release.actual_date or today
    elif fact.archived:
        release.status, release.actual_date = Release.Status.CANCELLED, None
    elif release.status != Release.Status.RELEASED:
        if release.status == Release.Status.CANCELLED:  # unarchived in Jira
            release.status = Release.Status.PLANNED
        release.actual_date = None
    if release.code_freeze_date and release.code_freeze_date > release.target_date:
        release.code_freeze_date = None


# --- builds and test runs ---------------------------------------------------------------------------

BUILD_FIELDS = ("result", "started_at", "duration_ms", "commit", "url", "release_id")
TEST_RUN_FIELDS = ("name", "passed", "failed", "skipped", "errors", "duration_ms", "executed_at")


@dataclass(frozen=True)
class BuildFact:
    application_id: int
    job: str
    number: int
    result: str
    started_at: datetime
    duration_ms: int
    commit: str
    url: str
    release_id: int | None  # the release the build was made for, when the tool says

    @property
    def external_id(self) -> str:
        return f"{self.job}#{self.number}"


@dataclass(frozen=True)
class TestRunFact:
    __test__ = False  # a dataclass, not a test class for pytest to collect
    build_external_id: str  # the stored build (same source) the report belongs to
    name: str
    passed: int
    failed: int
    skipped: int
    errors: int
    duration_ms: int
    executed_at: datetime


def builds_upsert(*, source: str, facts: list[BuildFact]) -> UpsertResult:
    """Create or update builds by their natural key (application, job, number); unchanged ones are
    not written. A release gains evidence when one of its builds changes."""
    facts = list({(f.application_id, f.job, f.number): f for f in facts}.values())
    result = UpsertResult()
    if not facts:
        return result
    stored = {
        (b.application_id, b.job, b.number): b
        for b in Build.objects.filter(
            application_id__in={f.application_id for f in facts},
            job__in={f.job for f in facts},
            number__in={f.number for f in facts},
        )
    }
    new, changed = [], []
    for fact in facts:
        values = {name: getattr(fact, name) for name in BUILD_FIELDS}
        build = stored.get((fact.application_id, fact.job, fact.number))
        if build is None:
            new.append(
                Build(
                    source=source,
                    external_id=fact.external_id,
                    application_id=fact.application_id,
                    job=fact.job,
                    number=fact.number,
                    **values,
                )
            )
        elif build.source != source or any(getattr(build, k) != v for k, v in values.items()):
            result.release_ids |= {build.release_id} - {None}
            build.source, build.external_id = source, fact.external_id
            for name, value in values.items():
                setattr(build, name, value)
            changed.append(build)
    Build.objects.bulk_create(new, batch_size=1000)
    Build.objects.bulk_update(changed, ["source", "external_id", *BUILD_FIELDS], batch_size=500)
    result.created, result.updated = len(new), len(changed)
    result.unchanged = len(facts) - len(new) - len(changed)
    result.rows_written = len(new) + len(changed)
    result.release_ids |= {b.release_id for b in (*new, *changed)} - {None}
    return result


def testruns_upsert(*, source: str, facts: list[TestRunFact]) -> UpsertResult:
    """One test run per stored build report, for builds made for a release (a test run belongs to
    a release); keyed by (source, the build's external id)."""
    result = UpsertResult()
    builds = {
        b.external_id: b
        for b in Build.objects.filter(
            source=source, external_id__in=[f.build_external_id for f in facts], release__isnull=False
        )
    }
    facts = [f for f in facts if f.build_external_id in builds]
    stored = {
        run.external_id: run for run in _by_external_id(TestRun, source, [f.build_external_id for f in facts])
    }
    new, changed = [], []
    for fact in facts:
        build = builds[fact.build_external_id]
        values = {name: getattr(fact, name) for name in TEST_RUN_FIELDS} | {
            "release_id": build.release_id,
            "build_id": build.pk,
        }
        run = stored.get(fact.build_external_id)
        if run is None:
            new.append(TestRun(source=source, external_id=fact.build_external_id, **values))
        elif any(getattr(run, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(run, name, value)
            changed.append(run)
    TestRun.objects.bulk_create(new, batch_size=1000)
    TestRun.objects.bulk_update(changed, [*TEST_RUN_FIELDS, "release_id", "build_id"], batch_size=500)
    result.created, result.updated = len(new), len(changed)
    result.unchanged = len(facts) - len(new) - len(changed)
    result.rows_written = len(new) + len(changed)
    result.release_ids = {run.release_id for run in (*new, *changed)}
    return result


# --- deployments ------------------------------------------------------------------------------------

DEPLOYMENT_FIELDS = ("environment_id", "application_id", "version", "release_id", "deployed_at", "status")


@dataclass(frozen=True)
class DeploymentFact:
    external_id: str
    application_id: int
    environment_id: int
    version: str
    release_id: int | None
    deployed_at: datetime
    status: str


def deployments_upsert(*, source: str, facts: list[DeploymentFact]) -> UpsertResult:
    """What ran where, keyed by (source, external id); unchanged deployments are not written. One that
    ran on a day the metrics already rolled up has that day judged again."""
    result = keyed_facts_upsert(Deployment, source=source, facts=facts, fields=DEPLOYMENT_FIELDS)
    if result.rows_written:
        metrics_mark_dirty(min(fact.deployed_at for fact in facts))
    return result


def deployments_delete(*, source: str, external_ids) -> UpsertResult:
    """Remove the deployments the tool no longer has (found by a reconcile); the days they ran on are
    judged again by the next roll-up."""
    ids = sorted(external_ids)
    earliest = None
    for start in range(0, len(ids), 1000):
        first = (
            Deployment.objects.filter(source=source, external_id__in=ids[start : start + 1000])
            .order_by("deployed_at")
            .values_list("deployed_at", flat=True)
            .first()
        )
        earliest = min(filter(None, (earliest, first)), default=None)
    result = keyed_facts_delete(Deployment, source=source, external_ids=ids)
    if result.deleted and earliest:
        metrics_mark_dirty(earliest)
    return result


def keyed_facts_upsert(
    model, *, source: str, facts: list, fields: tuple[str, ...], raw_insert: bool = False
) -> UpsertResult:
    """Create or update rows of `model` (one with a `release`) keyed by (source, external_id), from
    facts carrying `fields`: one read, one insert and one update a page; an unchanged row is not
    written. The releases that change are those of the rows written, and those a row left."""
    facts = list({fact.external_id: fact for fact in facts}.values())  # overlapping pages repeat them
    result = UpsertResult()
    stored = {row.external_id: row for row in _by_external_id(model, source, [f.external_id for f in facts])}
    new, new_rows, changed = [], [], []
    for fact in facts:
        values = {name: getattr(fact, name) for name in fields}
        row = stored.get(fact.external_id)
        if row is None and raw_insert:  # values straight to the INSERT: no model instance to build
            new_rows.append([source, fact.external_id, *values.values()])
            result.release_ids.add(values["release_id"])
        elif row is None:
            new.append(model(source=source, external_id=fact.external_id, **values))
        elif any(getattr(row, name) != value for name, value in values.items()):
            result.release_ids.add(row.release_id)  # the release it leaves, if it moves
            for name, value in values.items():
                setattr(row, name, value)
            changed.append(row)
    for start in range(0, len(new_rows), 1000):  # one INSERT ... SELECT from one JSON parameter
        _insert_rows(model, ("source", "external_id", *fields), new_rows[start : start + 1000])
    model.objects.bulk_create(new, batch_size=1000)
    model.objects.bulk_update(changed, list(fields), batch_size=500)
    result.created, result.updated = len(new) + len(new_rows), len(changed)
    result.unchanged = len(facts) - result.created - len(changed)
    result.rows_written = result.created + len(changed)
    result.release_ids = (result.release_ids | {row.release_id for row in (*new, *changed)}) - {None}
    return result


def keyed_facts_delete(model, *, source: str, external_ids) -> UpsertResult:
    """Remove the rows of `model` (one with a `release`) the tool no longer has (found by a reconcile),
    keyed by (source, external_id), a thousand a statement; their releases change."""
    ids = sorted(external_ids)
    result = UpsertResult()
    for start in range(0, len(ids), 1000):
        chunk = model.objects.filter(source=source, external_id__in=ids[start : start + 1000])
        result.release_ids |= set(chunk.exclude(release=None).values_list("release_id", flat=True))
        deleted, _ = chunk.delete()
        result.deleted += deleted
        result.rows_written += deleted
    return result
