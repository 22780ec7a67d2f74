"""Bulk changes from the release list: move dates by N days (freezes checked, overrides asked for), set
a status, put on a train. A preview says what each release and the forecast would do, nothing saved;
the change is all or nothing, and each release's change is audited on its own."""

import itertools
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from releases.models import AuditEvent, Release, ReleaseDependency
from releases.planning.services import bulk
from releases.planning.services.bulk import BulkChange, bulk_preview, releases_bulk_change
from tests import factories as f

pytestmark = pytest.mark.django_db


def day(n: int):
    return timezone.localdate() + timedelta(days=n)


def freeze(first: int, days: int = 3, **fields):
    start = datetime.combine(day(first), time(), tzinfo=UTC)
    return f.FreezeWindowFactory(starts_at=start, ends_at=start + timedelta(days=days), **fields)


def updates_of(release) -> int:
    return AuditEvent.objects.filter(action="release.update", object_id=str(release.pk)).count()


@pytest.fixture
def manager(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER)


@pytest.fixture
def admin(user_in_role):
    return user_in_role(roles.ADMIN)


def three(**fields):
    return [
        f.ReleaseFactory(target_date=day(10 + n), code_freeze_date=day(5 + n), **fields) for n in range(3)
    ]


# --- the service -------------------------------------------------------------------------------------


def test_a_move_shifts_each_target_and_code_freeze_and_audits_each_release(
    manager, django_capture_on_commit_callbacks
):
    releases = three()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        changed = releases_bulk_change(releases=releases, change=BulkChange("move", days=7), by=manager)
    assert changed == 3 and len(callbacks) == 1  # one forecast refresh follows the commit
    for n, release in enumerate(releases):
        release.refresh_from_db()
        assert (release.target_date, release.code_freeze_date) == (day(17 + n), day(12 + n))
        assert updates_of(release) == 1


def test_a_move_into_a_freeze_is_refused_for_a_release_manager_and_nothing_moves(manager):
    releases = three()
    freeze(20, reason="Black Friday")  # days 20-22: the last two (day 11 + 9, day 12 + 9) land in it
    with pytest.raises(ValidationError, match="Black Friday"):
        releases_bulk_change(releases=releases, change=BulkChange("move", days=9), by=manager)
    assert [r.target_date for r in Release.objects.order_by("pk")] == [day(10), day(11), day(12)]
    assert AuditEvent.objects.filter(action="release.update").count() == 0


def test_an_admin_moves_into_a_freeze_with_a_reason_and_each_frozen_release_gets_its_override(admin):
    releases = three()
    freeze(20, reason="Black Friday")
    move = BulkChange("move", days=9)
    with pytest.raises(ValidationError, match="say why"):
        releases_bulk_change(releases=releases, change=move, by=admin)
    assert releases_bulk_change(releases=releases, change=move, by=admin, override_reason="Fix for fees") == 3
    last = Release.objects.get(pk=releases[2].pk)
    assert last.target_date == day(21) and last.freeze_override_by == admin
    assert last.freeze_override_reason == "Fix for fees"
    overrides = AuditEvent.objects.filter(action="release.freeze_override")
    overridden = overrides.values_list("object_id", flat=True)
    assert sorted(overridden) == sorted(str(r.pk) for r in releases[1:])  # only the frozen ones


def test_a_portfolio_freeze_holds_only_its_own_releases():
    payments = f.PortfolioFactory(name="Payments")
    frozen_app, free_app = f.ApplicationFactory(portfolio=payments), f.ApplicationFactory()
    freeze(20, for_portfolio=True, portfolio=payments)
    held = f.ReleaseFactory(application=frozen_app, target_date=day(11))
    free = f.ReleaseFactory(application=free_app, target_date=day(11))
    rows = bulk_preview([held, free], BulkChange("move", days=10))
    assert [row.frozen is not None for row in rows] == [True, False]


def test_closed_releases_are_refused_and_the_whole_change_with_them(manager):
    shipped = f.ReleaseFactory(status=Release.Status.RELEASED, actual_date=day(-1), target_date=day(-1))
    planned = f.ReleaseFactory(target_date=day(5))
    (row_shipped, row_planned) = bulk_preview([shipped, planned], BulkChange("move", days=3))
    assert "released" in row_shipped.refusal and not row_planned.refusal
    with pytest.raises(ValidationError, match="closed release"):
        releases_bulk_change(releases=[shipped, planned], change=BulkChange("move", days=3), by=manager)
    assert Release.objects.get(pk=planned.pk).target_date == day(5)


def test_a_move_past_the_years_a_release_is_planned_in_is_refused(manager):
    late = f.ReleaseFactory(target_date=datetime(2199, 12, 1).date())
    (row,) = bulk_preview([late], BulkChange("move", days=60))
    assert "2000 to 2199" in row.refusal


def test_status_and_train_changes_and_a_release_already_so_is_left_unchanged(manager):
    train = f.ReleaseTrainFactory()
    releases = three(status=Release.Status.PLANNED)
    releases[0].status = Release.Status.READY
    releases[0].save()
    ready = BulkChange("status", status="ready")
    assert releases_bulk_change(releases=releases, change=ready, by=manager) == 2
    assert set(Release.objects.values_list("status", flat=True)) == {"ready"}
    assert updates_of(releases[0]) == 0  # already ready: nothing written for it
    assert releases_bulk_change(releases=releases, change=BulkChange("train", train=train), by=manager) == 3
    assert set(Release.objects.values_list("train", flat=True)) == {train.pk}
    releases_bulk_change(releases=releases, change=BulkChange("train", train=None), by=manager)
    assert set(Release.objects.values_list("train", flat=True)) == {None}


def test_a_failure_on_the_last_release_rolls_back_the_first_ones(manager, monkeypatch):
    releases = three()
    real_update, calls = bulk.release_update, []

    def failing_on_the_third(**kwargs):
        calls.append(kwargs["release"].pk)
        if len(calls) == 3:
            raise ValidationError("The database said no.")
        return real_update(**kwargs)

    monkeypatch.setattr(bulk, "release_update", failing_on_the_third)
    with pytest.raises(ValidationError):
        releases_bulk_change(releases=releases, change=BulkChange("move", days=4), by=manager)
    assert [r.target_date for r in Release.objects.order_by("pk")] == [day(10), day(11), day(12)]
    assert AuditEvent.objects.filter(action="release.update").count() == 0


def test_no_release_or_too_many_are_refused(manager):
    with pytest.raises(ValidationError):
        releases_bulk_change(releases=[], change=BulkChange("move", days=1), by=manager)


# --- the pages ---------------------------------------------------------------------------------------


@pytest.fixture
def planner(client_for):
    return client_for(roles.RELEASE_MANAGER)


def post_bulk(client, releases, **data):
    fields = {"release": [r.pk for r in releases], "action": "move", "days": "5", **data}
    return client.post("/releases/bulk/", fields)


def test_the_preview_shows_each_change_and_what_the_forecast_does_downstream_and_saves_nothing(planner):
    upstream = f.ReleaseFactory(target_date=day(10))
    downstream = f.ReleaseFactory(target_date=day(11), application=f.ApplicationFactory(key="CARDS"))
    ReleaseDependency.objects.create(upstream=upstream, downstream=downstream)
    before = AuditEvent.objects.count()
    response = post_bulk(planner, [upstream], days="7")
    page = response.content.decode()
    assert response.status_code == 200
    assert f"{day(17):%a} {day(17).day} {day(17):%b %Y}" in page  # the new target
    assert f"CARDS {downstream.version}" in page and "At risk" in page  # the downstream release moves
    assert "Confirm: change 1 release" in page
    assert AuditEvent.objects.count() == before and Release.objects.get(pk=upstream.pk).target_date == day(10)


def test_confirming_changes_them_and_goes_back_to_the_filtered_list(planner):
    releases = three()
    response = post_bulk(planner, releases, days="-2", confirm="1", back="/releases/?q=pay&when=all")
    assert response.status_code == 302 and response["Location"] == "/releases/?q=pay&when=all"
    assert [r.target_date for r in Release.objects.order_by("pk")] == [day(8), day(9), day(10)]
    followed = planner.get(response["Location"])
    assert "3 releases changed" in followed.content.decode()


def test_a_frozen_release_is_left_out_for_a_release_manager_and_asked_of_an_admin(planner, superuser_client):
    frozen, free = f.ReleaseFactory(target_date=day(11)), f.ReleaseFactory(target_date=day(30))
    freeze(20, reason="Black Friday")
    page = post_bulk(planner, [frozen, free], days="10").content.decode()
    assert "Left out" in page and "Black Friday" in page and "Confirm: change 1 release" in page
    assert f'name="release" value="{frozen.pk}"' not in page  # not confirmed with the others
    admin_page = post_bulk(superuser_client, [frozen, free], days="10").content.decode()
    assert 'name="override_reason"' in admin_page and "Confirm: change 2 releases" in admin_page


def test_a_refusal_at_confirm_time_is_a_409_that_changes_nothing(planner):
    frozen = f.ReleaseFactory(target_date=day(11))
    freeze(20, reason="Black Friday")  # frozen since the preview: the confirm finds it
    response = post_bulk(planner, [frozen], days="10", confirm="1")
    assert response.status_code == 409 and "Black Friday" in response.content.decode()
    assert Release.objects.get(pk=frozen.pk).target_date == day(11)


@pytest.mark.parametrize(
    "data",
    [
        {"release": []},
        {"days": "0"},
        {"days": "9999"},
        {"days": "x"},
        {"action": "ship"},
        {"action": "status", "status": "released"},
        {"action": "status", "status": ""},
        {"release": ["abc"]},
        {"release": ["99999999999999999999"]},
        {"release": ["٣"]},
        {"release": ["999999"]},
        {"train": "999999", "action": "train"},
        {"override_reason": "x" * 1_000_000},
    ],
)
def test_bad_input_is_a_400_that_says_why_and_changes_nothing(planner, data):
    release = f.ReleaseFactory(target_date=day(10))
    response = post_bulk(planner, [release], **data)
    assert response.status_code == 400 and 'class="alert alert-error"' in response.content.decode()
    assert Release.objects.get(pk=release.pk).target_date == day(10)


def test_more_than_the_limit_is_refused(planner, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_RELEASES", 2)
    response = post_bulk(planner, three())
    assert response.status_code == 400 and "at most 2" in response.content.decode()


def test_the_way_back_is_only_ever_the_release_list(planner):
    release = f.ReleaseFactory(target_date=day(10))
    for back in ["https://evil.example/", "//evil.example/", "/admin/", "/releases/\r\nSet-Cookie: x"]:
        response = post_bulk(planner, [release], confirm="1", back=back, days="1")
        assert response["Location"] == "/releases/", back


def test_only_those_who_change_release_dates_may_bulk_change(client_for):
    release = f.ReleaseFactory(target_date=day(10))
    assert post_bulk(client_for(roles.PROJECT_OFFICE), [release], confirm="1").status_code == 403
    assert Client().post("/releases/bulk/", {"release": [release.pk]}).status_code == 302  # to sign in
    assert Client(enforce_csrf_checks=True).get("/releases/bulk/").status_code in (302, 405)
    assert Release.objects.get(pk=release.pk).target_date == day(10)


def test_csrf_is_checked(manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    release = f.ReleaseFactory(target_date=day(10))
    assert post_bulk(client, [release], confirm="1").status_code == 403
    assert Release.objects.get(pk=release.pk).target_date == day(10)


def test_the_list_shows_tick_boxes_and_the_bar_only_to_planners(planner, client_for):
    f.ReleaseFactory(target_date=day(10))
    page = planner.get("/releases/").content.decode()
    assert 'id="bulk-form"' in page and 'form="bulk-form"' in page
    office = client_for(roles.PROJECT_OFFICE).get("/releases/").content.decode()
    assert 'id="bulk-form"' not in office and 'form="bulk-form"' not in office


def test_the_preview_reads_the_same_queries_for_few_and_many_releases(planner):
    def queries(releases) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert post_bulk(planner, releases).status_code == 200
        return len(captured)

    freeze(40)
    few = [f.ReleaseFactory(target_date=day(10 + n)) for n in range(2)]
    many = [f.ReleaseFactory(target_date=day(10 + n)) for n in range(12)]
    for upstream, downstream in itertools.pairwise(many):
        ReleaseDependency.objects.create(upstream=upstream, downstream=downstream)
    assert queries(few) == queries(many)
