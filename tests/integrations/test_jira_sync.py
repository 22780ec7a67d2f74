"""Jira sync against the sandbox over real HTTP on loopback: initial, incremental, deletions by
reconcile, the time-zone edge of the overlap window, pages shifting mid-sync, unchanged re-syncs."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import SyncCursor, SyncRun
from integrations.runner import connection_sync
from integrations.sync.jira import OVERLAP, STORE_BATCH
from integrations.tasks import sync_run_queue
from releases.models import Release, ScopeChange, WorkItem, WorkItemLink
from tests.integrations.helpers import sync

pytestmark = pytest.mark.django_db

KINDS = ["jira_cloud", "jira_dc"]


def stored_state(source: str) -> dict:
    return {
        item.external_id: (item.key, item.title, item.status_category)
        for item in WorkItem.objects.filter(source=source)
    }


def sandbox_state(dataset) -> dict:
    state = {}
    for i in range(dataset.issues):
        if dataset.exists(i):
            fields = dataset.issue_fields(i, "")
            category = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
            state[dataset.issue_id(i)] = (
                dataset.key(i),
                fields["summary"],
                category[fields["status"]["statusCategory"]["key"]],
            )
    return state


@pytest.mark.parametrize("kind", KINDS)
def test_initial_sync_stores_releases_work_items_fix_versions_and_links(jira_sandbox, jira_connection, kind):
    server = jira_sandbox(issues=120, projects=("PAY", "WEB"), time_zone="Europe/Berlin")
    connection = jira_connection(server, kind=kind)
    run = sync(connection)

    dataset = server.routes.dataset
    assert stored_state(connection.source_key) == sandbox_state(dataset)
    assert run.items_created == 120 + 12
    pay = Release.objects.filter(application__key="PAY").order_by("version")
    assert [(r.version, r.status) for r in pay] == [
        ("PAY 1.0", "released"),
        ("PAY 1.1", "released"),
        ("PAY 1.2", "released"),
        ("PAY 1.3", "planned"),
        ("PAY 1.4", "planned"),
        ("PAY 1.5", "planned"),
    ]
    assert pay[0].actual_date == pay[0].target_date
    item = WorkItem.objects.get(source=connection.source_key, key="PAY-1")
    assert (item.type, item.status_name, item.status_category) == ("story", "Offen", "todo")
    assert list(item.fix_releases.values_list("version", flat=True)) == ["PAY 1.0"]
    done = WorkItem.objects.get(source=connection.source_key, key="WEB-3")  # index 5: Erledigt
    assert (done.status_name, done.status_category) == ("Erledigt", "done")
    assert done.resolved_at is not None
    # Every tenth issue blocks the next issue of its project.
    assert WorkItemLink.objects.count() == 12
    assert WorkItemLink.objects.filter(blocker__key="PAY-1", blocked__key="PAY-2").exists()
    cursor = SyncCursor.objects.get(connection=connection, stream="issues")
    assert cursor.page_token == ""
    assert cursor.watermark


def test_a_data_center_server_choosing_a_smaller_page_is_followed(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=130, projects=("PAY",), dc_max_results=20)
    connection = jira_connection(server, kind="jira_dc")
    sync(connection)
    searches = server.requests_to("/rest/api/2/search")
    assert {request.query["maxResults"] for request in searches} == {"100"}  # asked for 100, got 20
    assert len(searches) == 9  # 20 new issues per page after the first, 5 read again
    assert WorkItem.objects.count() == 130


@pytest.mark.parametrize("kind", KINDS)
def test_a_scope_jql_with_its_own_order_by_still_makes_a_query_jira_accepts(
    jira_sandbox, jira_connection, kind
):
    """Jira refuses ORDER BY inside parentheses (the sandbox parses as strictly): the scope's goes."""
    server = jira_sandbox(issues=40, projects=("PAY", "WEB"))
    scope = {"jql": 'project = WEB AND statusCategory != Done ORDER BY "priority" DESC, key'}
    connection = jira_connection(server, kind=kind)
    connection.scope = scope
    connection.save(update_fields=["scope"])
    sync(connection)
    dataset = server.routes.dataset
    expected = {dataset.key(i) for i in range(40) if dataset.project_of(i) == "WEB" and i % 3 != 2}
    assert (
        set(WorkItem.objects.filter(source=connection.source_key).values_list("key", flat=True)) == expected
    )
    searches = [r for r in server.requests_to("search") if "jql" in r.query]
    assert searches and all(r.status == 200 for r in searches)
    assert searches[0].query["jql"] == ("(project = WEB AND statusCategory != Done) ORDER BY created ASC")


@pytest.mark.parametrize("kind", KINDS)
def test_incremental_sync_reads_only_changes_and_additions(jira_sandbox, jira_connection, kind):
    server = jira_sandbox(issues=80, projects=("PAY", "WEB"))
    dataset = server.routes.dataset
    connection = jira_connection(server, kind=kind)
    sync(connection)
    now = timezone.now()
    dataset.edit(4, at=now, summary="Rewritten", status=2)
    dataset.edit(7, at=now, fix_versions=[dataset.version_id("WEB", 5)])
    dataset.add(3, at=now)

    run = sync(connection)
    assert (run.items_fetched - 12, run.items_created, run.items_updated) == (5, 3, 2)
    assert stored_state(connection.source_key) == sandbox_state(dataset)
    moved = WorkItem.objects.get(external_id=dataset.issue_id(7))
    assert list(moved.fix_releases.values_list("version", flat=True)) == ["WEB 1.5"]
    search = server.requests_to("search")[-1]
    assert "updated >=" in search.query["jql"]


@pytest.mark.parametrize("kind", KINDS)
def test_deletions_are_found_by_the_reconcile_not_by_the_incremental_pass(
    jira_sandbox, jira_connection, kind
):
    server = jira_sandbox(issues=60, projects=("PAY", "WEB"))
    dataset = server.routes.dataset
    connection = jira_connection(server, kind=kind)
    sync(connection)
    dataset.delete(0)  # PAY-1 blocks PAY-2: the link goes with it
    dataset.delete(33)

    assert sync(connection).items_deleted == 0
    assert WorkItem.objects.count() == 60
    run = sync(connection, mode="reconcile")
    assert run.items_deleted == 2
    assert stored_state(connection.source_key) == sandbox_state(dataset)
    assert not WorkItemLink.objects.filter(blocked__key="PAY-2").exists()


def test_a_reconcile_that_would_delete_most_items_is_refused(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=20, projects=("PAY",))
    connection = jira_connection(server)
    sync(connection)
    for i in range(15):
        server.routes.dataset.delete(i)
    run = sync_run_queue(connection=connection, by=None, mode="reconcile")
    connection_sync(run_id=run.pk, mode="reconcile")
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert "would delete 15 of 20 work items: refused" in run.error
    assert WorkItem.objects.count() == 20


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
def test_the_overlap_window_is_written_in_the_api_users_time_zone(jira_sandbox, jira_connection, zone):
    server = jira_sandbox(issues=40, projects=("PAY",), time_zone=zone)
    dataset = server.routes.dataset
    connection = jira_connection(server)
    sync(connection)
    watermark = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=3)
    SyncCursor.objects.filter(connection=connection, stream="issues").update(watermark=watermark.isoformat())
    dataset.edit(1, at=watermark + timedelta(minutes=1), summary="just after the watermark")
    dataset.edit(2, at=watermark - OVERLAP + timedelta(minutes=1), summary="inside the overlap")
    dataset.edit(3, at=watermark - OVERLAP - timedelta(minutes=2), summary="before the window")

    run = sync(connection)
    assert run.items_fetched - 6 == 2
    titles = dict(WorkItem.objects.values_list("external_id", "title"))
    assert titles[dataset.issue_id(1)] == "just after the watermark"
    assert titles[dataset.issue_id(2)] == "inside the overlap"
    assert titles[dataset.issue_id(3)] != "before the window"  # older than the window: not asked for


@pytest.mark.parametrize("kind", KINDS)
def test_pages_shifting_during_a_sync_lose_nothing(jira_sandbox, jira_connection, kind):
    server = jira_sandbox(issues=300, projects=("PAY", "WEB"), dc_max_results=50)
    dataset = server.routes.dataset
    connection = jira_connection(server, kind=kind)
    searches = []

    def shift_after_the_second_page(path, query):
        if "search" not in path:
            return
        searches.append(path)
        if len(searches) == 3:  # between pages: three read issues vanish, two change, two are created
            for i in (1, 5, 9):
                dataset.delete(i)
            dataset.edit(2, at=timezone.now(), summary="changed mid-sync", status=1)
            dataset.edit(60, at=timezone.now(), summary="changed mid-sync too")
            dataset.add(2, at=timezone.now())

    server.before_answer = shift_after_the_second_page
    sync(connection)
    server.before_answer = None
    stored = stored_state(connection.source_key)
    expected = sandbox_state(dataset)
    assert set(expected) <= set(stored)  # nothing still in Jira was skipped, new issues included
    assert len(stored) == 302

    sync(connection)  # the changes made after those pages were read
    sync(connection, mode="reconcile")  # the deletions
    assert stored_state(connection.source_key) == expected


def test_an_unchanged_resync_writes_no_domain_rows(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=150, projects=("PAY", "WEB"))
    connection = jira_connection(server)
    sync(connection)
    SyncCursor.objects.filter(connection=connection).update(watermark="")  # read everything again

    with CaptureQueriesContext(db) as queries:
        run = sync(connection)
    assert (run.items_fetched, run.items_unchanged, run.items_created, run.items_updated) == (162, 162, 0, 0)
    writes = [
        q["sql"]
        for q in queries
        if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")
        and '"releases_' in q["sql"].split("(")[0] + q["sql"][:60]
        and "releases_audit" not in q["sql"][:60]
    ]
    assert writes == []


def test_each_stored_batch_costs_a_fixed_number_of_queries(jira_sandbox, jira_connection):
    """Bulk reads and writes: queries grow with the batches stored (1,000 issues, ten pages, each),
    never with the rows."""

    def queries_for(issues: int) -> int:
        server = jira_sandbox(issues=issues, projects=(f"Q{issues}",), versions_per_project=1)
        connection = jira_connection(server, name=f"count {issues}")
        with CaptureQueriesContext(db) as queries:
            sync(connection)
        return len(queries)

    queries_for(5)  # first use: content types and other per-process caches
    one, two, three = queries_for(STORE_BATCH), queries_for(2 * STORE_BATCH), queries_for(3 * STORE_BATCH)
    assert 0 < two - one == three - two <= 15


def test_a_release_that_shipped_stays_released_when_jira_says_unreleased(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=20, projects=("PAY",))
    connection = jira_connection(server)
    sync(connection)
    dataset = server.routes.dataset
    shipped = Release.objects.get(application__key="PAY", version="PAY 1.0")
    archived_id = dataset.version_id("PAY", 5)
    dataset.edit_version(dataset.version_id("PAY", 0), released=False)
    dataset.edit_version(archived_id, archived=True)
    sync(connection)
    dataset.edit_version(archived_id, archived=False)
    run = sync(connection)

    shipped_again = Release.objects.get(pk=shipped.pk)
    assert (shipped_again.status, shipped_again.actual_date) == ("released", shipped.actual_date)
    assert Release.objects.get(external_id=archived_id).status == "planned"  # unarchived: planned again
    assert run.items_updated == 1  # only the unarchived one; the shipped one is left alone


def test_a_version_jira_describes_as_a_hotfix_becomes_a_hotfix_release(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=20, projects=("PAY",))
    connection = jira_connection(server)
    dataset = server.routes.dataset
    dataset.edit_version(dataset.version_id("PAY", 1), description="HOTFIX for the card timeout")
    sync(connection)
    hotfixes = Release.objects.filter(application__key="PAY", hotfix=True)
    assert list(hotfixes.values_list("external_id", flat=True)) == [dataset.version_id("PAY", 1)]
    dataset.edit_version(dataset.version_id("PAY", 1), description="Release 1.1 of PAY")
    sync(connection)
    assert hotfixes.count() == 1  # a person or the tool marked it: a later sync does not unmark it


def test_the_sync_records_scope_changes_once_when_fix_versions_change(jira_sandbox, jira_connection):
    """Each fixVersion joined is recorded as a scope change, at the issue's creation when it is in the
    version at first sight, at the issue's update when a later sync sees it move; a re-sync of the
    same issues records nothing."""
    server = jira_sandbox(issues=40, projects=("PAY", "WEB"))
    dataset = server.routes.dataset
    connection = jira_connection(server)
    sync(connection)
    source = connection.source_key
    first = ScopeChange.objects.filter(work_item__source=source)
    pairs = WorkItem.fix_releases.through.objects.filter(workitem__source=source)
    assert first.count() == pairs.count() > 0
    assert not first.exclude(kind="added").exists()
    assert not first.exclude(at=F("work_item__created_at")).exists()

    moved_at = (timezone.now() - timedelta(minutes=5)).replace(microsecond=0)
    dataset.edit(7, at=moved_at, fix_versions=[dataset.version_id("WEB", 5)])
    sync(connection)
    SyncCursor.objects.filter(connection=connection).update(watermark="")  # read everything again
    sync(connection)
    item = WorkItem.objects.get(external_id=dataset.issue_id(7), source=source)
    history = list(item.scope_changes.order_by("pk").values_list("kind", "release__version", "at"))
    old = history[0][1]
    assert sorted(history[1:]) == [("added", "WEB 1.5", moved_at), ("removed", old, moved_at)]  # one page
    assert ScopeChange.objects.filter(work_item__source=source).count() == pairs.count() + 2
