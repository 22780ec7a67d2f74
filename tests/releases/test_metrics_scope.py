"""Planned vs delivered scope: the scope's history (ScopeChange) as the sync and the scope service
write it, the four figures against a small hand-checked set with its edge cases, the page's section,
its CSV and its query count."""

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from releases.facts.services.upserts import WorkItemFact, work_items_upsert
from releases.metrics.period import Period, Scope
from releases.metrics.rollups import metrics_rollup
from releases.metrics.scope import ScopeTotals, scope_by_release, scope_totals
from releases.models import DailyFigure, ScopeChange, WorkItem
from releases.planning.services.releases import release_scope_change
from tests import factories as f

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 7, tzinfo=UTC)
PERIOD = Period(START, START + timedelta(days=28))
ADDED, REMOVED = "added", "removed"


def day(n: int) -> date:
    return START.date() + timedelta(days=n)


def at(n: float) -> datetime:
    return START + timedelta(days=n)


def history(release, item, *changes) -> None:
    """(kind, day) pairs, in order, as the writers record them."""
    ScopeChange.objects.bulk_create(
        ScopeChange(release=release, work_item=item, kind=kind, at=at(n), recorded_at=at(n))
        for kind, n in changes
    )


def shipped(application, version: str, *, freeze: int | None, ships: int):
    return f.ReleaseFactory(
        application=application,
        version=version,
        status="released",
        target_date=day(ships),
        code_freeze_date=day(freeze) if freeze is not None else None,
        actual_date=day(ships),
    )


@pytest.fixture
def world():
    """PAY 1.0: code freeze on day 5, shipped on day 10, nine items (figures in the docstring of each);
    PAY 1.0.1, a hotfix without a freeze, shipped on day 12 (not measured); WEB 3.0 frozen on day 1,
    shipped on day 3, one item; PAY 0.9, shipped on day -10 (the previous period), one item; PAY 1.1
    in progress (not shipped)."""
    pay, web = f.ApplicationFactory(key="PAY"), f.ApplicationFactory(key="WEB")
    main = shipped(pay, "1.0", freeze=5, ships=10)

    def item(key, status="todo", resolved=None, descoped=False, application=pay):
        return f.WorkItemFactory(
            application=application,
            key=key,
            status_category=status,
            resolved_at=at(resolved) if resolved is not None else None,
            descoped=descoped,
        )

    # in at freeze, done on day 8: shipped
    history(main, item("PAY-1", "done", 8), (ADDED, -10))
    # in at freeze, removed on day 7
    history(main, item("PAY-2"), (ADDED, -10), (REMOVED, 7))
    # added on day 7, done on day 9: added after, shipped
    history(main, item("PAY-3", "done", 9), (ADDED, 7))
    # added on day 6 and removed on day 8: added after and removed after, not shipped
    history(main, item("PAY-4", "done", 8), (ADDED, 6), (REMOVED, 8))
    # in at freeze, descoped on day 6 (done, but descoped): removed after, not shipped
    history(main, item("PAY-5", "done", 4, descoped=True), (ADDED, -3), (REMOVED, 6))
    # added during the freeze day itself: in at freeze; still in progress at shipping: not shipped
    history(main, item("PAY-6", "in_progress"), (ADDED, 5.5))
    # added after shipping: counted nowhere
    history(main, item("PAY-7", "done", 11), (ADDED, 11))
    # out and back in before the freeze: in at freeze; resolved after shipping: not shipped
    history(main, item("PAY-8", "done", 12), (ADDED, -5), (REMOVED, 2), (ADDED, 3))
    # in at freeze, done without a resolution time: shipped
    history(main, item("PAY-9", "done"), (ADDED, -5))

    hotfix = shipped(pay, "1.0.1", freeze=None, ships=12)
    history(hotfix, item("PAY-10", "done", 11), (ADDED, 11))
    other = shipped(web, "3.0", freeze=1, ships=3)
    history(other, item("WEB-1", "done", 2, application=web), (ADDED, -1))
    before = shipped(pay, "0.9", freeze=-15, ships=-10)
    history(before, item("PAY-11", "done", -12), (ADDED, -20))
    f.ReleaseFactory(application=pay, version="1.1", status="in_progress", target_date=day(40))
    return {"pay": pay, "web": web, "main": main, "web_release": other}


def test_the_four_figures_on_a_hand_checked_set(world):
    totals = scope_totals(Scope(application_id=world["pay"].pk), PERIOD)
    assert totals == ScopeTotals(
        releases=1,
        without_freeze=1,
        with_history=1,
        in_at_freeze=6,
        added_after=2,
        removed_after=3,
        shipped=3,
    )


def test_every_application_and_the_previous_period(world):
    assert scope_totals(Scope(), PERIOD) == ScopeTotals(
        releases=2,
        without_freeze=1,
        with_history=2,
        in_at_freeze=7,
        added_after=2,
        removed_after=3,
        shipped=4,
    )
    assert scope_totals(Scope(application_id=world["pay"].pk), PERIOD.previous()) == ScopeTotals(
        releases=1,
        without_freeze=0,
        with_history=1,
        in_at_freeze=1,
        added_after=0,
        removed_after=0,
        shipped=1,
    )


def test_no_release_shipped_is_all_zeros():
    assert scope_totals(Scope(), PERIOD) == ScopeTotals(0, 0, 0, 0, 0, 0, 0)
    assert scope_by_release(Scope(), PERIOD) == []


def test_a_release_without_history_shows_zeros_and_one_shipped_before_its_freeze_counts_at_shipping():
    pay = f.ApplicationFactory(key="PAY")
    f.ReleaseFactory(  # no history at all
        application=pay,
        version="2.0",
        status="released",
        target_date=day(9),
        code_freeze_date=day(2),
        actual_date=day(4),
    )
    early = f.ReleaseFactory(
        application=pay,
        version="2.1",
        status="released",
        target_date=day(20),
        code_freeze_date=day(20),
        actual_date=day(6),
    )
    history(early, f.WorkItemFactory(application=pay, status_category="done", resolved_at=at(5)), (ADDED, 5))
    rows = scope_by_release(Scope(), PERIOD)
    assert [(r["version"], r["in_at_freeze"], r["added_after"], r["shipped"]) for r in rows] == [
        ("2.0", 0, 0, 0),
        ("2.1", 1, 0, 1),
    ]
    totals = scope_totals(Scope(), PERIOD)
    assert (totals.releases, totals.with_history, totals.in_at_freeze) == (2, 1, 1)


def test_a_repeated_change_changes_nothing(world):
    item = WorkItem.objects.get(key="PAY-1")
    history(world["main"], item, (ADDED, -9), (ADDED, 7))  # said again, before and after the freeze
    totals = scope_totals(Scope(application_id=world["pay"].pk), PERIOD)
    assert (totals.in_at_freeze, totals.shipped) == (6, 3)
    assert totals.added_after == 3  # it was said to join after the freeze: the rule counts what is recorded


# --- the writers --------------------------------------------------------------------------------------

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
        updated_at=CREATED + timedelta(days=1),
    )
    return replace(issue, **changes)


def changes() -> list[tuple]:
    return list(
        ScopeChange.objects.order_by("pk").values_list("work_item__key", "release__version", "kind", "at")
    )


def test_the_sync_records_scope_changes_only_when_they_happen():
    pay = f.ApplicationFactory(key="PAY")
    r1 = f.ReleaseFactory(application=pay, version="1.0", source=SOURCE, external_id="v1")
    r2 = f.ReleaseFactory(application=pay, version="2.0", source=SOURCE, external_id="v2")
    page = [fact(pay, 1, fix_release_ids=("v1",)), fact(pay, 2)]
    work_items_upsert(source=SOURCE, facts=page)
    assert changes() == [("PAY-1", "1.0", ADDED, CREATED)]  # in it at first sight: since its creation

    work_items_upsert(source=SOURCE, facts=page)  # the same again: nothing recorded
    work_items_upsert(source=SOURCE, facts=[replace(page[0], title="renamed"), page[1]])
    assert len(changes()) == 1

    moved_at = CREATED + timedelta(days=9)
    work_items_upsert(
        source=SOURCE,
        facts=[
            replace(page[0], fix_release_ids=("v2",), updated_at=moved_at),
            replace(page[1], fix_release_ids=("v1",), updated_at=None),
        ],
    )
    later = {change[:3]: change[3] for change in changes()[1:]}  # one page: in no particular order
    assert later.keys() == {("PAY-1", "2.0", ADDED), ("PAY-1", "1.0", REMOVED), ("PAY-2", "1.0", ADDED)}
    assert later[("PAY-1", "2.0", ADDED)] == later[("PAY-1", "1.0", REMOVED)] == moved_at
    assert abs(later[("PAY-2", "1.0", ADDED)] - timezone.now()) < timedelta(minutes=1)  # no update time
    assert set(r1.work_items.values_list("key", flat=True)) == {"PAY-2"}
    assert set(r2.work_items.values_list("key", flat=True)) == {"PAY-1"}


def test_the_sync_records_a_page_of_changes_in_a_fixed_number_of_statements():
    pay = f.ApplicationFactory(key="PAY")
    f.ReleaseFactory(application=pay, version="1.0", source=SOURCE, external_id="v1")

    def statements(count: int) -> int:
        facts = [fact(pay, n, fix_release_ids=("v1",)) for n in range(100 * count, 100 * count + count)]
        with CaptureQueriesContext(connection) as queries:
            work_items_upsert(source=SOURCE, facts=facts)
        return len(queries)

    assert statements(3) == statements(30)
    assert ScopeChange.objects.count() == 33


def test_the_scope_service_records_additions_removals_and_descoping():
    pay = f.ApplicationFactory(key="PAY")
    release, other = f.ReleaseFactory(application=pay), f.ReleaseFactory(application=pay)
    a, b, c = (f.WorkItemFactory(application=pay, key=f"PAY-{n}") for n in (1, 2, 3))
    c.fix_releases.add(other)
    user = f.UserFactory()
    release_scope_change(release=release, by=user, add=[a, b, c])
    release_scope_change(release=release, by=user, add=[a])  # already in: nothing recorded
    release_scope_change(release=release, by=user, remove=[a], descope=[c])
    recorded = {(key, version, kind) for key, version, kind, _ in changes()}
    assert recorded == {
        ("PAY-1", release.version, ADDED),
        ("PAY-2", release.version, ADDED),
        ("PAY-3", release.version, ADDED),
        ("PAY-1", release.version, REMOVED),
        ("PAY-3", release.version, REMOVED),
        ("PAY-3", other.version, REMOVED),  # descoped: out of every release it is in
    }
    assert len(changes()) == 6
    release_scope_change(release=release, by=user, remove=[c])  # already descoped: left already
    assert len(changes()) == 6
    d = f.WorkItemFactory(application=pay, key="PAY-4")
    release_scope_change(release=release, by=user, add=[d], descope=[d])  # in and out at once
    assert [change[2] for change in changes() if change[0] == "PAY-4"] == [ADDED, REMOVED]


# --- the page -----------------------------------------------------------------------------------------


def _page(client, **params):
    return client.get("/metrics/", params)


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_page_shows_the_figures_with_their_universe_and_the_previous_period(
    world, client_for, monkeypatch
):
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    html = _page(client_for(roles.PROJECT_OFFICE), application=world["pay"].pk).content.decode()
    section = html[html.index('id="scope-title"') :]
    assert "across 1 release with a code freeze; 1 shipped without one is not counted" in section
    assert 'id="scope-table"' in section and '<title id="scope-chart-title">' in section
    table = section[
        section.index('id="scope-table"') : section.index("</table>", section.index('id="scope-table"'))
    ]
    cells = table.split("<tr>")[2:]
    assert [c.split("<td>")[1].split("<")[0] for c in cells] == ["6", "2", "3", "3"]  # this period
    assert [c.split("<td>")[2].split("<")[0] for c in cells] == ["1", "0", "0", "1"]  # the one before


def test_the_csv_lists_each_measured_release(world, client_for, monkeypatch):
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    rows = _csv(client_for(roles.PROJECT_OFFICE).get("/metrics/scope.csv"))
    assert rows == [
        [
            "Release id",
            "Application",
            "Version",
            "Code freeze",
            "Shipped on",
            "In at code freeze",
            "Added after",
            "Removed after",
            "Shipped",
        ],
        [str(world["web_release"].pk), "WEB", "3.0", "2030-01-08", "2030-01-10", "1", "0", "0", "1"],
        [str(world["main"].pk), "PAY", "1.0", "2030-01-12", "2030-01-17", "6", "2", "3", "3"],
    ]


def test_the_csv_needs_a_sign_in_and_the_permission(client):
    assert client.get("/metrics/scope.csv").status_code == 302
    client.force_login(f.UserFactory())  # in no role
    assert client.get("/metrics/scope.csv").status_code == 403


def test_the_query_count_does_not_grow(world, client_for):
    client = client_for(roles.PROJECT_OFFICE)
    _page(client)
    with CaptureQueriesContext(connection) as few:
        _page(client)
    pay = world["pay"]
    today = timezone.localdate()
    for n in range(12):
        release = f.ReleaseFactory(
            application=pay,
            status="released",
            target_date=today - timedelta(days=n),
            code_freeze_date=today - timedelta(days=n + 5),
            actual_date=today - timedelta(days=n),
        )
        for k in range(4):
            item = f.WorkItemFactory(application=pay, status_category="done")
            ScopeChange.objects.create(
                release=release,
                work_item=item,
                kind=ADDED,
                at=timezone.now() - timedelta(days=n + k * 3),
                recorded_at=timezone.now(),
            )
    with CaptureQueriesContext(connection) as many:
        _page(client)
    assert len(many) == len(few)


@pytest.mark.parametrize("rolled_days", [4, 11, 40])  # before, between and after the releases shipped
def test_the_rolled_up_figures_equal_the_live_ones(world, rolled_days):
    periods = [PERIOD, PERIOD.previous()]
    scopes = [Scope(), Scope(application_id=world["pay"].pk), Scope(application_id=world["web"].pk)]
    live = [scope_totals(scope, period) for scope in scopes for period in periods]
    assert live[0].releases == 2 and live[2].in_at_freeze == 6  # the set is not empty
    metrics_rollup(today=(START + timedelta(days=rolled_days)).date())
    assert DailyFigure.objects.filter(figure="release_scope").exists()
    assert [scope_totals(scope, period) for scope in scopes for period in periods] == live
