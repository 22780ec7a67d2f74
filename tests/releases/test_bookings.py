"""Booking services and the booking pages: request (live check, next free slot), the admins' queue,
approve and reject, cancel and shorten. Capacity, composites, freezes, boundaries, time zones, bad
input, roles, CSRF, audit and notifications after commit."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from releases import tasks
from releases.environments.services.bookings import (
    BookingConflict,
    BookingFrozen,
    booking_approve,
    booking_cancel,
    booking_conflicts,
    booking_reject,
    booking_request,
    booking_shorten,
    next_free_slot,
)
from releases.environments.working_hours import EVERY_DAY
from releases.models import AuditEvent, Booking
from tests import factories as f

pytestmark = pytest.mark.django_db

# Tomorrow at 10:00 UTC (whole hours, so the form's minute precision never matters).
T0 = (timezone.now() + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def notified(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.booking_notify_task, "delay", lambda **kwargs: calls.append(kwargs))
    return calls


@pytest.fixture
def manager(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER)


@pytest.fixture
def admin(user_in_role):
    return user_in_role(roles.ENVIRONMENT_ADMIN)


@pytest.fixture
def env():
    # Open round the clock: these tests are about capacity and freezes, not working hours (see below).
    return f.EnvironmentFactory(name="SIT-1", work_starts=time(0), work_ends=time(0), work_days=EVERY_DAY)


@pytest.fixture
def app():
    return f.ApplicationFactory(key="PAY")


def request_slot(env, by, start, end, app=None, **kwargs):
    return booking_request(
        environment=env,
        by=by,
        starts_at=start,
        ends_at=end,
        purpose="Regression",
        application=app or f.ApplicationFactory(),
        **kwargs,
    )


# --- request ---------------------------------------------------------------------------------------


def test_a_request_waits_for_an_admin_and_is_audited(
    manager, env, app, notified, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        booking = request_slot(env, manager, at(0), at(4), app)
    assert booking.status == Booking.Status.REQUESTED
    assert booking.exclusive is True
    assert AuditEvent.objects.filter(action="booking.request", object_id=str(booking.pk)).count() == 1
    assert notified == [{"booking_id": booking.pk, "event": "requested"}]


def test_an_admins_own_request_is_booked_at_once(admin, env, notified):
    booking = request_slot(env, admin, at(0), at(4))
    assert booking.status == Booking.Status.APPROVED
    assert booking.decided_by == admin
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["booking.request", "booking.approve"]


def test_a_booking_ending_at_ten_and_one_starting_at_ten_do_not_collide(admin, env, notified):
    request_slot(env, admin, at(-4), at(0))
    second = request_slot(env, admin, at(0), at(4))
    assert second.status == Booking.Status.APPROVED
    with pytest.raises(BookingConflict):
        request_slot(env, admin, at(3), at(5))


def test_a_taken_slot_is_refused_naming_the_winner(admin, manager, env, notified):
    winner = request_slot(env, admin, at(0), at(4))
    with pytest.raises(BookingConflict) as refused:
        request_slot(env, manager, at(2), at(6))
    assert refused.value.winner == winner
    assert f"booking #{winner.pk}" in str(refused.value)
    assert Booking.objects.count() == 1


def test_requests_may_overlap_other_requests(manager, env, notified):
    request_slot(env, manager, at(0), at(4))
    request_slot(env, manager, at(1), at(3))
    assert Booking.objects.filter(status="requested").count() == 2


def test_capacity_above_one_holds_that_many_at_once(admin, notified):
    shared = f.EnvironmentFactory(capacity=3)
    for _ in range(3):
        assert request_slot(shared, admin, at(0), at(4)).exclusive is False
    with pytest.raises(BookingConflict):
        request_slot(shared, admin, at(3), at(5))
    # Three bookings that never all overlap leave room: the peak counts, not the total.
    other = f.EnvironmentFactory(capacity=2)
    request_slot(other, admin, at(0), at(2))
    request_slot(other, admin, at(2), at(4))
    request_slot(other, admin, at(0), at(4))
    with pytest.raises(BookingConflict):
        request_slot(other, admin, at(1), at(3))


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (4, 4, "ends_at", "after the start"),
        (4, 2, "ends_at", "after the start"),
        (0, 24 * 29, "ends_at", "at most 28 days"),
        (-48, -44, "starts_at", "in the past"),
    ],
)
def test_impossible_slots_are_refused_and_nothing_is_stored(manager, env, notified, start, end, field, words):
    with pytest.raises(ValidationError) as refused:
        request_slot(env, manager, at(start), at(end))
    assert words in " ".join(refused.value.message_dict[field])
    assert not Booking.objects.exists()
    assert not AuditEvent.objects.exists()


def test_an_environment_that_is_not_bookable_is_refused(manager, notified):
    closed = f.EnvironmentFactory(bookable=False, name="PROD")
    with pytest.raises(ValidationError, match="not bookable"):
        request_slot(closed, manager, at(0), at(4))
    assert not Booking.objects.exists()


# --- composites ------------------------------------------------------------------------------------


@pytest.fixture
def e2e():
    composite = f.EnvironmentFactory(name="E2E", kind="uat")
    parts = [f.EnvironmentFactory(name="E2E-web"), f.EnvironmentFactory(name="E2E-db")]
    for part in parts:
        f.EnvironmentComponentFactory(composite=composite, component=part)
    return composite, parts


def test_a_composite_books_every_component(admin, e2e, notified):
    composite, parts = e2e
    booking = request_slot(composite, admin, at(0), at(4))
    assert sorted(p.environment.name for p in booking.parts.all()) == ["E2E-db", "E2E-web"]
    assert {p.status for p in booking.parts.all()} == {"approved"}
    with pytest.raises(BookingConflict) as refused:
        request_slot(parts[1], admin, at(1), at(2))
    assert refused.value.winner == booking  # the composite's booking is named, not its part


def test_a_composite_books_all_or_nothing(admin, e2e, notified):
    composite, parts = e2e
    taken = request_slot(parts[1], admin, at(2), at(3))
    with pytest.raises(BookingConflict) as refused:
        request_slot(composite, admin, at(0), at(4))
    assert refused.value.winner == taken
    assert Booking.objects.count() == 1  # no part of the composite was kept


def test_approving_a_composite_rechecks_every_component(manager, admin, e2e, notified):
    composite, parts = e2e
    wanted = request_slot(composite, manager, at(0), at(4))
    assert {p.status for p in wanted.parts.all()} == {"requested"}
    request_slot(parts[0], admin, at(1), at(2))
    with pytest.raises(BookingConflict):
        booking_approve(booking=wanted, by=admin)
    wanted.refresh_from_db()
    assert wanted.status == "requested"
    assert {p.status for p in wanted.parts.all()} == {"requested"}


# --- approve, reject ---------------------------------------------------------------------------------


def test_approve_rechecks_capacity_and_names_the_winner(
    manager, admin, env, notified, django_capture_on_commit_callbacks
):
    first, second = request_slot(env, manager, at(0), at(4)), request_slot(env, manager, at(2), at(6))
    with django_capture_on_commit_callbacks(execute=True):
        booking_approve(booking=first, by=admin, reason="Release week")
    with pytest.raises(BookingConflict) as refused:
        booking_approve(booking=second, by=admin)
    assert refused.value.winner == first
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.decided_by, first.reason) == ("approved", admin, "Release week")
    assert second.status == "requested"
    assert notified[-1] == {"booking_id": first.pk, "event": "approved"}


def test_only_admins_decide_and_only_whole_bookings(manager, admin, e2e, notified):
    composite, _ = e2e
    booking = request_slot(composite, manager, at(0), at(4))
    with pytest.raises(PermissionError):
        booking_approve(booking=booking, by=manager)
    with pytest.raises(PermissionError):
        booking_reject(booking=booking, by=manager, reason="No")
    with pytest.raises(ValidationError, match="part of booking"):
        booking_approve(booking=booking.parts.first(), by=admin)
    assert set(Booking.objects.values_list("status", flat=True)) == {"requested"}


def test_a_request_that_is_over_is_not_approved(manager, admin, env, notified):
    booking = request_slot(env, manager, at(0), at(4))
    Booking.objects.filter(pk=booking.pk).update(starts_at=at(-50), ends_at=at(-48))
    with pytest.raises(ValidationError, match="is over"):
        booking_approve(booking=booking, by=admin)


def test_a_decided_booking_is_not_decided_again(manager, admin, env, notified):
    booking = request_slot(env, manager, at(0), at(4))
    booking_reject(booking=booking, by=admin, reason="Maintenance that week")
    with pytest.raises(ValidationError, match="rejected"):
        booking_approve(booking=booking, by=admin)
    with pytest.raises(ValidationError, match="Say why"):
        booking_reject(booking=request_slot(env, manager, at(0), at(4)), by=admin, reason="  ")
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["booking.request", "booking.reject", "booking.request"]


def test_requester_and_admins_are_told_after_commit(
    manager, env, django_capture_on_commit_callbacks, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    f.UserFactory(email="envteam@example.com").groups.add(*admin_group())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        booking = request_slot(env, manager, at(0), at(4))
    assert mail.outbox == []  # nothing is sent inside the transaction
    for callback in callbacks:
        callback()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([manager.email, "envteam@example.com"])
    assert f"booking #{booking.pk} waits for approval" in mail.outbox[0].subject


def test_an_environment_with_an_owner_group_tells_that_group(manager, admin, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    team = f.GroupFactory(name="Perf team")
    f.UserFactory(email="perf@example.com").groups.add(team)
    f.UserFactory(email="other-admin@example.com").groups.add(*admin_group())
    env = f.EnvironmentFactory(owner_group=team)
    booking = request_slot(env, manager, at(0), at(4))
    booking_reject(booking=booking, by=admin, reason="Perf lab closed")
    from releases.environments.services.notifications import booking_notify

    assert booking_notify(booking_id=booking.pk, event="rejected") == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([manager.email, "perf@example.com"])
    assert "Rejected by" in mail.outbox[0].body and "Perf lab closed" in mail.outbox[0].body
    assert booking_notify(booking_id=999999, event="rejected") == 0


def admin_group():
    from django.contrib.auth.models import Group

    return [Group.objects.get(name=roles.ENVIRONMENT_ADMIN)]


# --- freezes ------------------------------------------------------------------------------------


def test_a_booking_inside_a_freeze_needs_an_admins_override_with_a_reason(manager, admin, env, notified):
    f.FreezeWindowFactory(starts_at=at(2), ends_at=at(30), reason="Year-end close")
    waiting = request_slot(env, manager, at(0), at(4), freeze_override_reason="ignored: not an admin")
    assert (waiting.status, waiting.freeze_override_by) == ("requested", None)
    with pytest.raises(BookingFrozen, match="Year-end close"):
        booking_approve(booking=waiting, by=admin)
    with pytest.raises(BookingFrozen):
        request_slot(env, admin, at(4), at(5))  # an admin's own booking, without a reason
    booking_approve(booking=waiting, by=admin, reason="Hotfix for the close")
    waiting.refresh_from_db()
    assert (waiting.status, waiting.freeze_override_by) == ("approved", admin)
    assert waiting.freeze_override_reason == "Hotfix for the close"
    own = request_slot(env, admin, at(4), at(5), freeze_override_reason="Close rehearsal")
    assert (own.status, own.freeze_override_by, own.freeze_override_reason) == (
        "approved",
        admin,
        "Close rehearsal",
    )
    assert AuditEvent.objects.filter(action="booking.freeze_override").count() == 2


def test_the_queue_marks_requests_inside_a_freeze_and_approving_needs_the_reason(
    admin_client, manager, env, e2e, notified
):
    composite, parts = e2e
    f.FreezeWindowFactory(
        for_environment=True, environment=parts[1], starts_at=at(1), ends_at=at(2), reason="DB patch"
    )
    frozen = request_slot(composite, manager, at(0), at(4))
    free = request_slot(env, manager, at(0), at(4))
    html = admin_client.get("/environments/bookings/queue/").content.decode()
    assert "DB patch" in html.split(f'id="booking-{frozen.pk}"', 1)[1].split("</li>", 1)[0]
    assert "Freeze" not in html.split(f'id="booking-{free.pk}"', 1)[1].split("</li>", 1)[0]
    url = f"/environments/bookings/{frozen.pk}/approve/"
    refused = admin_client.post(url, {"reason": ""}, headers=HTMX)
    assert refused.status_code == 422
    assert "DB patch" in refused.content.decode()
    assert admin_client.post(url, {"reason": "Patch rehearsal"}, headers=HTMX).status_code == 200
    assert {p.freeze_override_reason for p in frozen.parts.all()} == {"Patch rehearsal"}


def test_recurring_portfolio_and_environment_freezes_hold_bookings(admin, env, app, notified):
    # Every day 12:00-13:00 from a week ago: tomorrow's 12:00 occurrence collides.
    f.FreezeWindowFactory(
        starts_at=at(2 - 24 * 7), ends_at=at(3 - 24 * 7), reason="Daily batch", rrule="FREQ=DAILY"
    )
    with pytest.raises(BookingFrozen, match="Daily batch"):
        request_slot(env, admin, at(0), at(4))
    assert request_slot(env, admin, at(3), at(5)).pk  # after today's occurrence
    f.FreezeWindowFactory(
        scope="portfolio", portfolio=app.portfolio, starts_at=at(30), ends_at=at(40), reason="Pay freeze"
    )
    with pytest.raises(BookingFrozen, match="Pay freeze"):
        request_slot(env, admin, at(29), at(31), app)
    assert request_slot(env, admin, at(29), at(31)).pk  # another portfolio's application
    f.FreezeWindowFactory(
        scope="environment", environment=env, starts_at=at(50), ends_at=at(60), reason="Rebuild"
    )
    with pytest.raises(BookingFrozen, match="Rebuild"):
        request_slot(env, admin, at(55), at(56))


def test_conflicts_and_next_free_slot(admin, manager, env, app, notified):
    taken = request_slot(env, admin, at(0), at(4))
    f.FreezeWindowFactory(starts_at=at(4), ends_at=at(6), reason="Patch window")
    waiting = request_slot(env, manager, at(6), at(7))
    conflicts = booking_conflicts(environment=env, starts_at=at(2), ends_at=at(7), application=app)
    assert conflicts.full == [taken]
    assert [hit.freeze.reason for hit in conflicts.freezes] == ["Patch window"]
    assert conflicts.waiting == [waiting]
    assert next_free_slot(environment=env, starts_at=at(2), ends_at=at(5), application=app) == (at(6), at(9))
    assert not booking_conflicts(environment=env, starts_at=at(6), ends_at=at(9)).any


# --- working hours: the next free slot ------------------------------------------------------------

FRIDAY = datetime(2030, 1, 4, tzinfo=UTC)  # a Friday; the portal's time zone is UTC


def friday(hours: float) -> datetime:
    return FRIDAY + timedelta(hours=hours)


MONDAY = friday(72)


def monday(hours: float) -> datetime:
    return MONDAY + timedelta(hours=hours)


@pytest.fixture
def office_env():
    return f.EnvironmentFactory(name="UAT-9")  # the defaults: Mon-Fri, 08:00-18:00


def free_from(env, start, hours, app):
    end = start + timedelta(hours=hours)
    return next_free_slot(environment=env, starts_at=start, ends_at=end, application=app)


def test_the_next_free_slot_is_inside_working_hours_on_working_days(office_env, app):
    assert free_from(office_env, friday(17), 8, app) == (monday(8), monday(16))
    assert free_from(office_env, friday(9), 8, app) == (friday(9), friday(17))  # already inside
    assert free_from(office_env, friday(10), 8, app) == (friday(10), friday(18))  # ends as work ends
    assert free_from(office_env, friday(11), 8, app) == (monday(8), monday(16))
    assert free_from(office_env, friday(6), 2, app) == (friday(8), friday(10))  # before work starts
    assert free_from(office_env, friday(24 + 12), 1, app) == (monday(8), monday(9))  # on Saturday


def test_a_slot_longer_than_a_working_day_starts_and_ends_in_working_hours(office_env, app):
    assert free_from(office_env, friday(17), 72, app) == (friday(17), monday(17))
    # 16 h from Friday 12:00 would end on Saturday: Monday 16:00 to Tuesday 08:00 is the first fit.
    assert free_from(office_env, friday(12), 16, app) == (monday(16), monday(32))


def test_the_request_form_offers_the_next_slot_in_working_hours_and_says_so(manager_client, app):
    env = f.EnvironmentFactory(name="UAT-7", work_days=0b0011111)
    query = {
        "environment": env.pk,
        "application": app.pk,
        "purpose": "Regression",
        "starts_at": f"{friday(17):%Y-%m-%dT%H:%M}",
        "ends_at": f"{friday(25):%Y-%m-%dT%H:%M}",
    }
    f.FreezeWindowFactory(starts_at=friday(16), ends_at=friday(20), reason="Patch")  # a conflict to solve
    html = manager_client.get("/environments/bookings/check/", query, headers=HTMX).content.decode()
    assert "in UAT-7's working hours (Mon-Fri, 08:00-18:00 UTC)" in html
    assert "<strong>Mon 7 Jan 08:00 \u2013 Mon 7 Jan 16:00</strong>" in html


def test_a_taken_slot_moves_the_offer_to_the_next_working_time(office_env, app, admin, notified):
    request_slot(office_env, admin, monday(8), monday(12), app=app)
    # Monday 12:00 to 20:00 would run past 18:00: Tuesday 08:00.
    assert free_from(office_env, friday(17), 8, app) == (monday(32), monday(40))


def test_working_hours_are_per_environment(app):
    weekend = f.EnvironmentFactory(work_starts=time(6), work_ends=time(0), work_days=0b1100000)
    assert free_from(weekend, friday(17), 8, app) == (friday(24 + 6), friday(24 + 14))  # Saturday 06:00
    assert free_from(weekend, friday(24 + 20), 4, app) == (friday(24 + 20), friday(48))  # to midnight


def test_working_hours_are_in_the_environments_own_time_zone(app):
    # A team in Bangalore works 09:00-17:30 IST (UTC+05:30): 03:30-12:00 UTC.
    bangalore = f.EnvironmentFactory(
        work_starts=time(9), work_ends=time(17, 30), work_time_zone="Asia/Kolkata"
    )
    assert free_from(bangalore, friday(13), 2, app) == (monday(3.5), monday(5.5))  # Friday is over there
    assert free_from(bangalore, monday(0), 8, app) == (monday(3.5), monday(11.5))
    assert bangalore.working_hours_label == "Mon-Fri, 09:00-17:30 Asia/Kolkata"


def test_without_a_time_zone_working_hours_are_in_the_portals():
    env = f.EnvironmentFactory(work_time_zone="")
    assert env.working_hours_label == "Mon-Fri, 08:00-18:00 UTC"


def test_the_database_refuses_impossible_working_hours():
    for bad in ({"work_starts": time(18), "work_ends": time(8)}, {"work_days": 0}, {"work_days": 128}):
        with pytest.raises(IntegrityError), transaction.atomic():
            f.EnvironmentFactory(**bad)


def test_the_admin_edits_working_days_as_checkboxes(superuser_client):
    env = f.EnvironmentFactory(name="PERF-2")
    url = f"/admin/releases/environment/{env.pk}/change/"
    html = superuser_client.get(url).content.decode()
    assert re.search(r'value="4"[^>]*checked', html) and not re.search(r'value="5"[^>]*checked', html)
    data = {
        "name": "PERF-2",
        "kind": "perf",
        "capacity": 1,
        "bookable": "on",
        "work_starts": "07:00",
        "work_ends": "19:00",
        "work_days": ["0", "2", "5"],
        "work_time_zone": "Europe/Berlin",
        "component_links-TOTAL_FORMS": 0,
        "component_links-INITIAL_FORMS": 0,
    }
    saved = superuser_client.post(url, data)
    assert saved.status_code == 302
    env.refresh_from_db()
    assert (env.work_starts, env.work_ends, env.work_days) == (time(7), time(19), 0b100101)
    assert env.work_time_zone == "Europe/Berlin"
    refused = superuser_client.post(
        url, data | {"work_days": [], "work_ends": "06:00", "work_time_zone": "Mars/Base"}
    )
    assert refused.status_code == 200
    assert "Tick at least one working day." in refused.content.decode()
    assert "Working hours end after they start" in refused.content.decode()
    assert "Mars/Base is not one of the available choices" in refused.content.decode()


# --- cancel, shorten ---------------------------------------------------------------------------------


def test_cancel_frees_the_slot_for_everyone(manager, admin, env, e2e, notified):
    booking = request_slot(env, admin, at(0), at(4))
    booking_cancel(booking=booking, by=admin, reason="Not needed")
    assert request_slot(env, admin, at(0), at(4)).status == "approved"
    composite, parts = e2e
    whole = request_slot(composite, admin, at(0), at(4))
    booking_cancel(booking=whole, by=admin)
    assert {p.status for p in whole.parts.all()} == {"cancelled"}
    assert request_slot(parts[0], manager, at(0), at(4)).pk
    with pytest.raises(ValidationError, match="cancelled"):
        booking_cancel(booking=whole, by=admin)


def test_only_the_requester_or_an_admin_may_change_a_booking(manager, user_in_role, env, notified):
    booking = request_slot(env, manager, at(0), at(4))
    other = user_in_role(roles.RELEASE_MANAGER)
    with pytest.raises(PermissionError):
        booking_cancel(booking=booking, by=other)
    with pytest.raises(PermissionError):
        booking_shorten(booking=booking, by=other, ends_at=at(2))
    assert booking_cancel(booking=booking, by=manager).status == "cancelled"


def test_shorten_ends_earlier_and_frees_the_rest(admin, env, e2e, notified):
    booking = request_slot(env, admin, at(0), at(8))
    booking_shorten(booking=booking, by=admin, ends_at=at(4))
    booking.refresh_from_db()
    assert booking.ends_at == at(4)
    assert request_slot(env, admin, at(4), at(8)).pk
    for bad in (at(0), at(-1), at(9), at(4)):
        with pytest.raises(ValidationError):
            booking_shorten(booking=booking, by=admin, ends_at=bad)
    composite, _ = e2e
    whole = request_slot(composite, admin, at(0), at(8))
    booking_shorten(booking=whole, by=admin, ends_at=at(6))
    assert {p.ends_at for p in whole.parts.all()} == {at(6)}
    assert AuditEvent.objects.filter(action="booking.shorten").count() == 2


# --- the request form --------------------------------------------------------------------------------


def local(moment: datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def form_data(env, app, start, end, zone="UTC", **extra) -> dict:
    return {
        "environment": env.pk,
        "application": app.pk,
        "starts_at": local(start, zone),
        "ends_at": local(end, zone),
        "purpose": "Contract tests",
        **extra,
    }


@pytest.fixture
def manager_client(manager):
    client = Client()
    client.force_login(manager)
    return client


def test_the_form_lists_applications_by_key_with_the_key_first(manager_client):
    f.ApplicationFactory(key="ZED", name="Archive")
    f.ApplicationFactory(key="ABC", name="Zebra payments")
    html = manager_client.get("/environments/bookings/new/").content.decode()
    select = html.split('name="application"', 1)[1].split("</select>", 1)[0]
    labels = re.findall(r'<option value="\d+">([^<]+)</option>', select)
    assert labels[0] == "ABC · Zebra payments" and labels[-1] == "ZED · Archive"
    assert labels == sorted(labels), "sorted by the key the label starts with"


def test_the_form_requests_a_booking(manager, manager_client, env, app, notified):
    response = manager_client.post("/environments/bookings/new/", form_data(env, app, at(0), at(4)))
    booking = Booking.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/environments/{env.pk}/#booking-{booking.pk}"
    assert (booking.starts_at, booking.ends_at, booking.status) == (at(0), at(4), "requested")
    assert (booking.application, booking.requester) == (app, manager)


def test_a_user_in_another_time_zone_books_the_same_instant(user_in_role, env, app, admin, notified):
    tokyo = user_in_role(roles.RELEASE_MANAGER, time_zone="Asia/Tokyo")
    client = Client()
    client.force_login(tokyo)
    request_slot(env, admin, at(0), at(4))
    data = form_data(env, app, at(2), at(6), zone="Asia/Tokyo")
    assert data["starts_at"].endswith("T21:00")  # 12:00 UTC is 21:00 in Tokyo
    response = client.post("/environments/bookings/new/", data)
    assert response.status_code == 409  # the same instant as the UTC booking 10:00-14:00
    free = client.post("/environments/bookings/new/", form_data(env, app, at(4), at(6), zone="Asia/Tokyo"))
    assert free.status_code == 302
    assert Booking.objects.filter(requester=tokyo).get().starts_at == at(4)


def test_a_release_version_is_looked_up(manager_client, env, app, notified):
    release = f.ReleaseFactory(application=app, version="4.2")
    manager_client.post("/environments/bookings/new/", form_data(env, app, at(0), at(4), version="4.2"))
    assert Booking.objects.get().release == release
    response = manager_client.post(
        "/environments/bookings/new/", form_data(env, app, at(5), at(6), version="9")
    )
    assert response.status_code == 422
    assert "PAY has no release 9" in response.content.decode()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"ends_at": "start"}, "The end must be after the start."),
        ({"ends_at": "long"}, "A booking lasts at most 28 days."),
        ({"starts_at": "past"}, "The start is in the past."),
        ({"environment": 999999}, "No bookable environment with that id."),
        ({"environment": "closed"}, "No bookable environment with that id."),
        ({"starts_at": "tomorrow"}, "Enter a valid date/time."),
        ({"purpose": ""}, "This field is required."),
    ],
)
def test_bad_input_is_a_form_error_and_nothing_is_stored(manager_client, env, app, notified, change, words):
    data = form_data(env, app, at(0), at(4))
    values = {
        "start": data["starts_at"],
        "long": local(at(24 * 30), "UTC"),
        "past": local(at(-48), "UTC"),
        "closed": f.EnvironmentFactory(bookable=False).pk,
    }
    data |= {name: values.get(value, value) for name, value in change.items()}
    response = manager_client.post("/environments/bookings/new/", data)
    assert response.status_code == 422
    assert words in response.content.decode()
    assert not Booking.objects.exists()


def test_a_conflict_is_409_with_the_winner_and_the_next_free_slot(manager_client, env, app, admin, notified):
    winner = request_slot(env, admin, at(0), at(4))
    response = manager_client.post("/environments/bookings/new/", form_data(env, app, at(2), at(4)))
    html = response.content.decode()
    assert response.status_code == 409
    assert f"booking #{winner.pk}" in html
    assert "Take the next free slot" in html
    assert f"starts_at={local(at(4), 'UTC').replace(':', '%3A')}" in html
    assert Booking.objects.count() == 1


def test_the_live_check_warns_and_offers_the_next_free_slot(manager_client, env, app, admin, notified):
    winner = request_slot(env, admin, at(0), at(4))
    query = form_data(env, app, at(2), at(4))
    response = manager_client.get("/environments/bookings/check/", query, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="booking-check"')
    assert f"booking #{winner.pk}" in html
    assert "Next free slot of the same length" in html
    free = manager_client.get("/environments/bookings/check/", form_data(env, app, at(4), at(6)))
    assert "The slot is free." in free.content.decode()
    assert Booking.objects.count() == 1


def test_taking_the_suggested_slot_fills_the_form_in(manager_client, env, app, admin, notified):
    request_slot(env, admin, at(0), at(4))
    query = form_data(env, app, at(4), at(6))
    response = manager_client.get(
        "/environments/bookings/new/", query, headers={"HX-Request": "true", "HX-Target": "booking-form"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="booking-form"')
    assert f'value="{query["starts_at"]}"' in html
    assert "The slot is free." in html


def test_requesting_needs_the_role(client_for, env, app, notified):
    client = client_for(roles.PROJECT_OFFICE)
    assert client.get("/environments/bookings/new/").status_code == 403
    assert client.post("/environments/bookings/new/", form_data(env, app, at(0), at(4))).status_code == 403
    assert client.get("/environments/bookings/check/").status_code == 403
    assert not Booking.objects.exists()


def test_requesting_needs_the_csrf_token(manager, env, app, notified):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post("/environments/bookings/new/", form_data(env, app, at(0), at(4)))
    assert response.status_code == 403
    assert not Booking.objects.exists()
    page = client.get("/environments/bookings/new/")
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/environments/bookings/new/", form_data(env, app, at(0), at(4)), HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 302


# --- the queue and the decisions --------------------------------------------------------------------


@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin)
    return client


HTMX = {"HX-Request": "true"}


def test_the_queue_lists_waiting_requests_with_their_clashes(admin_client, manager, admin, env, notified):
    waiting = request_slot(env, manager, at(2), at(6))
    taken = request_slot(env, admin, at(0), at(4))
    html = admin_client.get("/environments/bookings/queue/").content.decode()
    assert f'id="booking-{waiting.pk}"' in html
    assert f"Collides with approved booking #{taken.pk}" in html
    shared = f.EnvironmentFactory(capacity=2)
    room = request_slot(shared, manager, at(2), at(6))
    request_slot(shared, admin, at(0), at(4))
    html = admin_client.get("/environments/bookings/queue/").content.decode()
    row = html.split(f'id="booking-{room.pk}"', 1)[1].split("</li>", 1)[0]
    assert "Collides" not in row  # one of two places is still free


def test_the_queue_pages_in_place_keeping_per_page(admin_client, manager, notified):
    waiting = [request_slot(f.EnvironmentFactory(), manager, at(i), at(i + 4)) for i in range(3)]
    first = admin_client.get("/environments/bookings/queue/?per_page=2").content.decode()
    assert f'id="booking-{waiting[1].pk}"' in first and f'id="booking-{waiting[2].pk}"' not in first
    assert '<a href="?per_page=2&amp;page=2" rel="next">' in first
    assert 'hx-target="#booking-queue"' in first
    target = {**HTMX, "HX-Target": "booking-queue"}
    second = admin_client.get("/environments/bookings/queue/?per_page=2&page=2", headers=target)
    html = second.content.decode()
    assert html.lstrip().startswith('<section id="booking-queue"')
    assert f'id="booking-{waiting[2].pk}"' in html and f'id="booking-{waiting[0].pk}"' not in html
    assert "<h1>" not in html
    assert admin_client.get("/environments/bookings/queue/?per_page=0").status_code == 400


def test_approve_and_reject_from_the_queue(admin_client, manager, env, notified):
    first, second = request_slot(env, manager, at(0), at(4)), request_slot(env, manager, at(2), at(6))
    response = admin_client.post(f"/environments/bookings/{first.pk}/approve/", {"reason": ""}, headers=HTMX)
    assert response.status_code == 200
    assert "Approved by" in response.content.decode()
    conflict = admin_client.post(f"/environments/bookings/{second.pk}/approve/", headers=HTMX)
    assert conflict.status_code == 409
    assert f"booking #{first.pk}" in conflict.content.decode()
    no_reason = admin_client.post(f"/environments/bookings/{second.pk}/reject/", {"reason": ""}, headers=HTMX)
    assert no_reason.status_code == 422
    rejected = admin_client.post(f"/environments/bookings/{second.pk}/reject/", {"reason": "Clash"})
    assert rejected.status_code == 302
    assert list(Booking.objects.order_by("pk").values_list("status", flat=True)) == ["approved", "rejected"]
    assert admin_client.post("/environments/bookings/999999/approve/").status_code == 404


def test_deciding_needs_the_role_and_the_csrf_token(manager, client_for, env, notified):
    booking = request_slot(env, manager, at(0), at(4))
    manager_client = Client()
    manager_client.force_login(manager)
    for action in ("approve", "reject"):
        url = f"/environments/bookings/{booking.pk}/{action}/"
        assert manager_client.post(url, {"reason": "x"}).status_code == 403
    assert manager_client.get("/environments/bookings/queue/").status_code == 403
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(f.UserFactory(is_superuser=True))
    assert csrf_client.post(f"/environments/bookings/{booking.pk}/approve/").status_code == 403
    booking.refresh_from_db()
    assert booking.status == "requested"


def test_cancel_and_shorten_from_the_environment_page(
    manager, manager_client, user_in_role, env, app, notified
):
    booking = request_slot(env, manager, at(0), at(8), app)
    page = manager_client.get(f"/environments/{env.pk}/").content.decode()
    assert f'action="/environments/bookings/{booking.pk}/cancel/"' in page
    response = manager_client.post(
        f"/environments/bookings/{booking.pk}/shorten/", {"ends_at": local(at(4), "UTC")}, headers=HTMX
    )
    assert response.status_code == 200
    booking.refresh_from_db()
    assert booking.ends_at == at(4)
    bad = manager_client.post(
        f"/environments/bookings/{booking.pk}/shorten/", {"ends_at": local(at(9), "UTC")}
    )
    assert bad.status_code == 302  # without HTMX: back to the page, with the message
    booking.refresh_from_db()
    assert booking.ends_at == at(4)
    stranger = Client()
    stranger.force_login(user_in_role(roles.RELEASE_MANAGER))
    assert stranger.post(f"/environments/bookings/{booking.pk}/cancel/").status_code == 403
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(manager)
    assert csrf_client.post(f"/environments/bookings/{booking.pk}/cancel/").status_code == 403
    assert manager_client.post(f"/environments/bookings/{booking.pk}/cancel/").status_code == 302
    booking.refresh_from_db()
    assert booking.status == "cancelled"


def _request_queries(env, by, app, start) -> int:
    with CaptureQueriesContext(connection) as queries:
        request_slot(env, by, at(start), at(start + 1), app)
    return len(queries)


def test_a_request_takes_the_same_queries_whatever_is_booked(admin, env, app, notified):
    request_slot(env, admin, at(3), at(4), app)  # the permission cache and the audit chain's head
    few = _request_queries(env, admin, app, 5)
    for i in range(30):
        request_slot(env, admin, at(24 * i + 10), at(24 * i + 12), app)
        f.FreezeWindowFactory(starts_at=at(-500 - i), ends_at=at(-499 - i))
    many = _request_queries(env, admin, app, 6)
    assert few == many <= 16


def test_times_stay_utc_in_the_database(admin, env, notified):
    booking = request_slot(
        env, admin, datetime(2040, 3, 1, 10, tzinfo=UTC), datetime(2040, 3, 1, 12, tzinfo=UTC)
    )
    booking.refresh_from_db()
    assert booking.starts_at.utcoffset() == timedelta(0)


# --- the API -----------------------------------------------------------------------------------------


def bearer(user) -> dict:
    from portal.api_tokens import api_token_create

    _, secret = api_token_create(user=user, name="CI")
    return {"Authorization": f"Bearer {secret}"}


def api_body(env, app, start, end, **extra) -> str:
    import json

    body = {
        "environment": env.name,
        "application": app.key,
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "purpose": "Pipeline run",
    }
    return json.dumps(body | extra)


def test_the_api_books_and_answers_409_naming_the_winner(client, manager, admin, env, app, notified):
    winner = request_slot(env, admin, at(0), at(4))
    auth = bearer(manager)
    post = lambda body: client.post("/api/bookings", body, content_type="application/json", headers=auth)  # noqa: E731
    taken = post(api_body(env, app, at(2), at(6)))
    assert taken.status_code == 409
    assert taken.json()["winner"]["id"] == winner.pk
    assert f"booking #{winner.pk}" in taken.json()["detail"]
    made = post(api_body(env, app, at(4), at(6)))
    assert made.status_code == 201
    assert made.json()["booking"] | {"id": 0} == {
        "id": 0,
        "environment": "SIT-1",
        "environment_id": env.pk,
        "part_of": None,
        "application": "PAY",
        "release": None,
        "starts_at": at(4).isoformat(),
        "ends_at": at(6).isoformat(),
        "status": "requested",
        "purpose": "Pipeline run",
        "requester": manager.username,
        "decided_by": None,
        "reason": "",
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("not json", 400),
        ("[1, 2]", 400),
        ({"environment": "NOPE"}, 404),
        ({"application": "NOPE"}, 404),
        ({"starts_at": "2030-01-07T10:00:00"}, 400),  # no offset
        ({"ends_at": "soon"}, 400),
        ({"ends_at": "start"}, 400),
        ({"ends_at": "long"}, 400),
        ({"starts_at": "past"}, 400),
        ({"version": "9.9"}, 400),
        ({"purpose": ""}, 400),
    ],
)
def test_bad_api_input_is_400_or_404_and_nothing_is_stored(client, manager, env, app, notified, body, status):
    values = {"start": at(0).isoformat(), "long": at(24 * 40).isoformat(), "past": at(-72).isoformat()}
    if isinstance(body, dict):
        body = api_body(env, app, at(0), at(4), **{k: values.get(v, v) for k, v in body.items()})
    response = client.post("/api/bookings", body, content_type="application/json", headers=bearer(manager))
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert not Booking.objects.exists()


def test_the_api_lists_environments_and_bookings(
    client, manager, admin, env, e2e, notified, django_assert_max_num_queries
):
    booking = request_slot(env, admin, at(0), at(4))
    request_slot(e2e[0], admin, at(0), at(4))
    auth = bearer(manager)
    environments = client.get("/api/environments", headers=auth).json()["environments"]
    assert {e["name"]: e["components"] for e in environments}["E2E"] == sorted(p.pk for p in e2e[1])
    listed = client.get(f"/api/bookings?environment={env.pk}", headers=auth).json()
    assert [b["id"] for b in listed["bookings"]] == [booking.pk]
    assert client.get("/api/bookings?environment=NOPE", headers=auth).status_code == 404
    assert client.get("/api/bookings?from=yesterday", headers=auth).status_code == 400
    for i in range(20):
        request_slot(env, admin, at(24 * i + 5), at(24 * i + 6))
    with django_assert_max_num_queries(5):
        assert len(client.get("/api/bookings", headers=auth).json()["bookings"]) == 1 + 3 + 20


def test_the_api_cancels_for_the_requester_only(client, manager, user_in_role, env, app, notified):
    booking = request_slot(env, manager, at(0), at(4), app)
    stranger = client.post(
        f"/api/bookings/{booking.pk}/cancel", headers=bearer(user_in_role(roles.RELEASE_MANAGER))
    )
    assert stranger.status_code == 403
    assert client.post("/api/bookings/999999/cancel", headers=bearer(manager)).status_code == 404
    auth = bearer(manager)
    done = client.post(
        f"/api/bookings/{booking.pk}/cancel",
        '{"reason": "Done early"}',
        content_type="application/json",
        headers=auth,
    )
    assert done.status_code == 200
    assert done.json()["booking"]["status"] == "cancelled"
    assert client.post(f"/api/bookings/{booking.pk}/cancel", headers=auth).status_code == 409


def test_the_api_needs_the_role(client, user_in_role, env, app, notified):
    auth = bearer(user_in_role(roles.PROJECT_OFFICE))
    response = client.post(
        "/api/bookings", api_body(env, app, at(0), at(4)), content_type="application/json", headers=auth
    )
    assert response.status_code == 403
    assert client.get("/api/bookings", headers=auth).status_code == 200  # reading is fine
    assert client.get("/api/bookings", headers=bearer(f.UserFactory())).status_code == 403
    assert not Booking.objects.exists()
    assert AuditEvent.objects.filter(action="api.denied").count() == 2


# --- a release targeted inside a freeze -------------------------------------------------------------


def _plan(release, target) -> dict:
    return {
        "plan-status": release.status,
        "plan-target_date": target.isoformat(),
        "plan-code_freeze_date": "",
        "plan-actual_date": "",
    }


@pytest.fixture
def frozen_release(app):
    """A release of PAY and a recurring freeze of its parent portfolio: every Friday from 2030-01-11."""
    parent = f.PortfolioFactory(name="Group")
    app.portfolio.parent = parent
    app.portfolio.save()
    f.FreezeWindowFactory(
        scope="portfolio",
        portfolio=parent,
        starts_at=datetime(2030, 1, 11, 0, tzinfo=UTC),
        ends_at=datetime(2030, 1, 12, 0, tzinfo=UTC),
        rrule="FREQ=WEEKLY;BYDAY=FR",
        reason="Friday change freeze",
    )
    return f.ReleaseFactory(application=app, version="5.0", target_date=f.day(1))


def test_a_release_target_inside_a_freeze_is_refused_until_an_admin_overrides(
    frozen_release, manager_client, user_in_role, monkeypatch
):
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: None)
    friday = f.day(11)  # 2030-01-18, a Friday
    refused = manager_client.post(f"/releases/{frozen_release.pk}/edit/", _plan(frozen_release, friday))
    assert refused.status_code == 422
    assert "Friday change freeze" in refused.content.decode()
    frozen_release.refresh_from_db()
    assert frozen_release.target_date == f.day(1)
    thursday = manager_client.post(f"/releases/{frozen_release.pk}/edit/", _plan(frozen_release, f.day(10)))
    assert thursday.status_code == 302

    admin = Client()
    admin.force_login(user_in_role(roles.ADMIN))
    url = f"/releases/{frozen_release.pk}/freeze-override/"
    assert admin.post(url, {"reason": " "}).status_code == 422
    assert manager_client.post(url, {"reason": "Hotfix"}).status_code == 403
    assert admin.post(url, {"reason": "Regulatory deadline"}).status_code == 302
    frozen_release.refresh_from_db()
    assert frozen_release.freeze_override_reason == "Regulatory deadline"
    assert AuditEvent.objects.filter(action="release.freeze_override").count() == 1
    assert (
        manager_client.post(f"/releases/{frozen_release.pk}/edit/", _plan(frozen_release, friday)).status_code
        == 302
    )
    assert "Freeze override" in manager_client.get(f"/releases/{frozen_release.pk}/").content.decode()


def test_the_freeze_override_needs_the_csrf_token(frozen_release, user_in_role):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_in_role(roles.ADMIN))
    assert client.post(f"/releases/{frozen_release.pk}/freeze-override/", {"reason": "x"}).status_code == 403
    frozen_release.refresh_from_db()
    assert frozen_release.freeze_override_by is None


# --- the admin ---------------------------------------------------------------------------------------


def test_the_admin_approves_and_cancels_through_the_service(superuser_client, manager, env, notified):
    first, second = request_slot(env, manager, at(0), at(4)), request_slot(env, manager, at(2), at(6))
    url = "/admin/releases/booking/"
    response = superuser_client.post(
        url, {"action": "approve", "_selected_action": [first.pk, second.pk]}, follow=True
    )
    html = response.content.decode()
    assert f"Booking #{first.pk} approved." in html
    assert f"Booking #{second.pk}: SIT-1 is taken" in html
    assert list(Booking.objects.order_by("pk").values_list("status", flat=True)) == ["approved", "requested"]
    superuser_client.post(url, {"action": "cancel", "_selected_action": [first.pk]})
    first.refresh_from_db()
    assert first.status == "cancelled"
    assert superuser_client.get(f"{url}{first.pk}/change/").status_code == 200  # to read
    assert superuser_client.post(f"{url}{first.pk}/change/", {"status": "approved"}).status_code == 403
    assert superuser_client.get(f"{url}add/").status_code == 403


# --- bulk approval from the queue --------------------------------------------------------------------

BULK = "/environments/bookings/queue/approve/"


def test_the_queue_ticks_requests_for_bulk_approval(admin_client, manager, env, notified):
    waiting = request_slot(env, manager, at(2), at(6))
    html = admin_client.get("/environments/bookings/queue/").content.decode()
    assert f'action="{BULK}"' in html
    assert f'name="booking" value="{waiting.pk}" form="approve-many"' in html


def test_bulk_approve_previews_each_requests_conflicts_then_approves_those_that_fit(
    admin_client, manager, admin, env, notified
):
    clashing = request_slot(env, manager, at(2), at(6))
    taken = request_slot(env, admin, at(0), at(4))  # approved at once, after the request
    fits = request_slot(env, manager, at(10), at(12))
    first, second = request_slot(env, manager, at(20), at(22)), request_slot(env, manager, at(21), at(23))
    f.FreezeWindowFactory(starts_at=at(30), ends_at=at(40), reason="Quarter close")
    frozen = request_slot(env, manager, at(31), at(32))
    ids = [b.pk for b in (clashing, fits, first, second, frozen)]
    preview = admin_client.post(BULK, {"booking": ids})
    assert preview.status_code == 200
    html = preview.content.decode()
    assert f"Collides with approved booking #{taken.pk}" in html
    assert f"Collides with selected request #{first.pk}" in html
    assert "Inside the freeze “Quarter close”" in html
    assert "Approve 2 requests" in html
    assert Booking.objects.filter(status="approved").count() == 1  # a preview writes nothing
    confirm = html.split('name="confirm"', 1)[0].rsplit("<form", 1)[1]  # the confirming form
    chosen = [int(pk) for pk in re.findall(r'name="booking" value="(\d+)"', confirm)]
    assert chosen == [fits.pk, first.pk]
    done = admin_client.post(BULK, {"booking": ids, "confirm": "1"}, follow=True)
    assert done.status_code == 200
    page = done.content.decode()
    assert f"Approved 2: #{fits.pk}, #{first.pk}." in page
    assert f"Left out #{clashing.pk}: SIT-1 is taken" in page and f"Left out #{frozen.pk}" in page
    statuses = dict(Booking.objects.values_list("pk", "status"))
    assert [statuses[b.pk] for b in (clashing, fits, first, second, frozen)] == [
        "requested",
        "approved",
        "approved",
        "requested",
        "requested",
    ]
    approvals = AuditEvent.objects.filter(
        action="booking.approve", object_id__in=[str(fits.pk), str(first.pk)]
    )
    assert approvals.count() == 2  # each audited by booking_approve


def test_bulk_approve_is_all_in_one_transaction(admin, manager, env, notified, monkeypatch):
    from releases.environments.services import bookings as services

    one, two = request_slot(env, manager, at(0), at(2)), request_slot(env, manager, at(3), at(4))
    real = services.booking_approve

    def approve_then_crash(*, booking, by, reason=""):
        if booking.pk == two.pk:
            raise RuntimeError("the database went away")
        return real(booking=booking, by=by, reason=reason)

    monkeypatch.setattr(services, "booking_approve", approve_then_crash)
    with pytest.raises(RuntimeError):
        services.booking_approve_many(bookings=[one, two], by=admin)
    one.refresh_from_db()
    assert one.status == "requested"  # the first approval rolled back with the rest


def test_bulk_approve_needs_the_role_the_csrf_token_and_good_input(
    admin_client, manager, manager_client, env, notified
):
    booking = request_slot(env, manager, at(0), at(4))
    assert manager_client.post(BULK, {"booking": [booking.pk], "confirm": "1"}).status_code == 403
    assert admin_client.get(BULK).status_code == 405
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(f.UserFactory(is_superuser=True))
    assert csrf_client.post(BULK, {"booking": [booking.pk], "confirm": "1"}).status_code == 403
    for bad in ([], ["x"], [""], ["-1"], ["1" * 40], ["\x00"], list(range(1, 200))):
        assert admin_client.post(BULK, {"booking": bad, "confirm": "1"}).status_code == 400, bad
    gone = admin_client.post(BULK, {"booking": [booking.pk, 999999]}, follow=True)
    assert "#999999 no longer waits" in gone.content.decode()
    booking.refresh_from_db()
    assert booking.status == "requested"


def test_the_bulk_preview_keeps_its_query_count(admin_client, manager, env, e2e, notified):
    def preview_queries(n):
        ids = [request_slot(env, manager, at(100 + 3 * i), at(101 + 3 * i)).pk for i in range(n)]
        ids += [request_slot(e2e[0], manager, at(100 + 3 * i), at(101 + 3 * i)).pk for i in range(n)]
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.post(BULK, {"booking": ids}).status_code == 200
        Booking.objects.update(status="cancelled")
        return len(queries)

    assert preview_queries(2) == preview_queries(20)
