"""work_items_upsert, directly: what a sync page writes, what it leaves, and when it refreshes the
planner's statistics (PostgreSQL)."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from django.db import connection

from releases.facts.services import upserts as facts_module
from releases.facts.services.upserts import PlannerStatistics, WorkItemFact, work_items_upsert
from releases.models import WorkItem, WorkItemLink
from tests import factories as f

pytestmark = pytest.mark.django_db
SOURCE = "jira:1"
CREATED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def fact(app, n: int, **changes) -> WorkItemFact:
    issue = WorkItemFact(
        external_id=str(10_000 + n),
        application_id=app.pk,
        key=f"{app.key}-{n}",
        title=f"Issue {n}",
        type="story",
        status_category="todo",
        status_name="To Do",
        priority="Medium",
        created_at=CREATED,
        resolved_at=None,
        updated_at=CREATED,
    )
    return replace(issue, **changes)


def test_a_page_creates_then_leaves_then_updates_only_what_changed():
    app = f.ApplicationFactory(key="PAY")
    page = [fact(app, n) for n in range(1, 4)]
    assert (work_items_upsert(source=SOURCE, facts=page).created, WorkItem.objects.count()) == (3, 3)

    again = work_items_upsert(source=SOURCE, facts=page)
    assert (again.created, again.updated, again.unchanged, again.rows_written) == (0, 0, 3, 0)

    page[1] = fact(app, 2, title="Issue 2, renamed", status_category="done", resolved_at=CREATED)
    changed = work_items_upsert(source=SOURCE, facts=page)
    assert (changed.updated, changed.unchanged) == (1, 2)
    item = WorkItem.objects.get(key="PAY-2")
    assert (item.title, item.status_category, item.resolved_at) == ("Issue 2, renamed", "done", CREATED)


def test_a_changed_item_is_updated_in_place_even_when_it_moves_to_another_application():
    pay, web = f.ApplicationFactory(key="PAY"), f.ApplicationFactory(key="WEB")
    work_items_upsert(source=SOURCE, facts=[fact(pay, 1), fact(pay, 2)])
    before = dict(WorkItem.objects.values_list("key", "pk"))
    moved = fact(web, 1, key="WEB-1", title="moved", updated_at=CREATED.replace(hour=11))
    result = work_items_upsert(source=SOURCE, facts=[moved, fact(pay, 2)])
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    after = {row[0]: row[1:] for row in WorkItem.objects.values_list("key", "pk", "application", "title")}
    assert after == {
        "WEB-1": (before["PAY-1"], web.pk, "moved"),
        "PAY-2": (before["PAY-2"], pay.pk, "Issue 2"),
    }


def test_a_sync_that_changes_an_item_keeps_the_release_managers_descoping():
    app = f.ApplicationFactory(key="PAY")
    work_items_upsert(source=SOURCE, facts=[fact(app, 1)])
    WorkItem.objects.filter(key="PAY-1").update(descoped=True)  # as release_scope_change(descope=...)
    work_items_upsert(
        source=SOURCE, facts=[fact(app, 1, title="renamed in Jira", updated_at=CREATED.replace(hour=11))]
    )
    assert WorkItem.objects.values_list("title", "descoped").get(key="PAY-1") == ("renamed in Jira", True)


def test_an_item_typed_in_by_hand_is_adopted_by_its_key_not_duplicated():
    app = f.ApplicationFactory(key="PAY")
    typed = f.WorkItemFactory(application=app, key="PAY-7", title="typed in", external_id="")
    result = work_items_upsert(source=SOURCE, facts=[fact(app, 7)])
    assert (result.created, result.updated) == (0, 1)
    typed.refresh_from_db()
    assert (typed.source, typed.external_id, typed.title) == (SOURCE, "10007", "Issue 7")


def test_links_follow_the_issues_that_report_them():
    app = f.ApplicationFactory(key="PAY")
    work_items_upsert(source=SOURCE, facts=[fact(app, 1, blocks=((app.pk, "PAY-2"),)), fact(app, 2)])
    pairs = set(WorkItemLink.objects.values_list("blocker__key", "blocked__key"))
    assert pairs == {("PAY-1", "PAY-2")}
    result = work_items_upsert(source=SOURCE, facts=[fact(app, 1), fact(app, 2)])
    assert not WorkItemLink.objects.exists()
    assert result.rows_written == 1  # the link removed; the items themselves unchanged


def test_statistics_are_due_each_time_a_source_has_doubled():
    watch = PlannerStatistics()
    due = [watch.grown("jira:1", 1000) for _ in range(45)]
    assert [n + 1 for n, flag in enumerate(due) if flag] == [10, 20, 40]
    assert not watch.grown("jira:2", 9_999) and watch.grown("jira:2", 1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ANALYZE is PostgreSQL's planner")
def test_a_page_that_doubles_its_source_analyzes_after_the_commit(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(facts_module, "_planner_statistics", PlannerStatistics())
    monkeypatch.setattr(PlannerStatistics, "FIRST", 3)
    app = f.ApplicationFactory(key="PAY")
    sent = []

    def capture(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        with django_capture_on_commit_callbacks(execute=True):
            work_items_upsert(source=SOURCE, facts=[fact(app, 1), fact(app, 2)])
        assert not [sql for sql in sent if sql.startswith("ANALYZE")]
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            work_items_upsert(source=SOURCE, facts=[fact(app, 3)])
    assert len(callbacks) == 1
    assert [sql for sql in sent if sql.startswith("ANALYZE")] == [facts_module.analyze_sql()]


def test_the_epic_link_and_labels_are_stored_and_follow_the_tool():
    """The value stream: an item's parent (epic) and an epic's labels (its theme) come with the sync."""
    app = f.ApplicationFactory(key="PAY")
    work_items_upsert(
        source=SOURCE,
        facts=[fact(app, 1, type="epic", labels="instant-payments"), fact(app, 2, parent_key="PAY-1")],
    )
    assert dict(WorkItem.objects.values_list("key", "parent_key")) == {"PAY-1": "", "PAY-2": "PAY-1"}
    moved = work_items_upsert(source=SOURCE, facts=[fact(app, 2, parent_key="PAY-9")])
    assert moved.updated == 1 and WorkItem.objects.get(key="PAY-2").parent_key == "PAY-9"
    assert WorkItem.objects.get(key="PAY-1").labels == "instant-payments"
