"""The release measures against a small hand-checked set: on-time rate and slip distribution, release
cycle time, bug fix time by priority, gate throughput by kind, booking wait."""

from datetime import UTC, date, datetime, timedelta

import pytest

from releases.metrics.delivery import (
    booking_wait,
    bug_fix_times,
    environment_utilisation,
    gate_throughput,
    release_delivery,
)
from releases.metrics.dora import Period, Scope
from tests import factories as f

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 7, tzinfo=UTC)
PERIOD = Period(START, START + timedelta(days=28))


def day(n: int) -> date:
    return START.date() + timedelta(days=n)


def at(n: float) -> datetime:
    return START + timedelta(days=n)


@pytest.fixture
def pay():
    return f.ApplicationFactory(key="PAY")


def test_on_time_rate_slips_and_cycle_time(pay):
    for target, actual in ((5, 4), (6, 6), (7, 9), (8, 20), (9, 40)):  # early, on the day, +2, +12, +31
        f.ReleaseFactory(
            application=pay,
            status="released",
            target_date=day(target),
            actual_date=day(actual),
            created_at=at(actual - 10),
        )
    f.ReleaseFactory(application=pay, status="released", target_date=day(-5), actual_date=day(-5))  # before
    f.ReleaseFactory(application=pay, status="in_progress", target_date=day(3))  # not shipped
    f.ReleaseFactory(status="released", target_date=day(3), actual_date=day(3))  # another application
    delivery = release_delivery(Scope(application_id=pay.pk), PERIOD)
    assert (delivery.shipped, delivery.on_time) == (4, 2)  # day 40 is after the period
    assert dict(delivery.slips) == {
        "Early": 1,
        "On the day": 1,
        "1-3 days late": 1,
        "4-7 days late": 0,
        "8-14 days late": 1,
        "Over 14 days late": 0,
    }
    assert delivery.mean_cycle == timedelta(days=10)
    assert release_delivery(Scope(), PERIOD).shipped == 5


def test_no_releases_shipped():
    delivery = release_delivery(Scope(), PERIOD)
    assert (delivery.shipped, delivery.on_time, delivery.mean_cycle) == (0, 0, None)


def test_bug_fix_time_by_priority(pay):
    for created, resolved, priority in ((0, 2, "High"), (1, 5, "High"), (0, 10, "Low"), (-30, -20, "High")):
        f.WorkItemFactory(
            application=pay, type="bug", priority=priority, created_at=at(created), resolved_at=at(resolved)
        )
    f.WorkItemFactory(application=pay, type="story", created_at=at(0), resolved_at=at(1))
    f.WorkItemFactory(application=pay, type="bug", created_at=at(0))  # open
    rows = bug_fix_times(Scope(), PERIOD)
    assert rows == [
        {"priority": "High", "bugs": 2, "mean": timedelta(days=3)},
        {"priority": "Low", "bugs": 1, "mean": timedelta(days=10)},
    ]


def test_gate_throughput_by_kind(pay):
    release = f.ReleaseFactory(application=pay)
    for kind, status, decided, due in (
        ("security", "passed", 1, 3),
        ("security", "failed", 5, 3),
        ("qa", "passed", 2, 2),
        ("cab", "waived", 40, 50),
    ):
        f.GateFactory(
            release=release,
            kind=kind,
            status=status,
            decided_at=at(decided),
            due_date=day(due),
            waived_by=f.UserFactory() if status == "waived" else None,
            waiver_reason="Accepted" if status == "waived" else "",
        )
    f.GateFactory(release=release, kind="qa")  # pending
    rows = {row["kind"]: row for row in gate_throughput(Scope(), PERIOD)}
    assert set(rows) == {"security", "qa"}
    assert (rows["security"]["decided"], rows["security"]["passed"], rows["security"]["failed"]) == (2, 1, 1)
    assert rows["security"]["late"] == 1 and rows["qa"]["late"] == 0


def test_booking_wait(pay):
    for created, decided, status in ((0, 1, "approved"), (2, 5, "rejected")):
        f.BookingFactory(
            application=pay,
            status=status,
            created_at=at(created),
            decided_at=at(decided),
            decided_by=f.UserFactory(),
        )
    result = booking_wait(Scope(application_id=pay.pk), PERIOD)
    assert result == {"decided": 2, "approved": 1, "mean_wait": timedelta(days=2)}


def test_a_release_entered_after_it_shipped_has_no_cycle_time(pay):
    f.ReleaseFactory(
        application=pay, status="released", target_date=day(5), actual_date=day(5), created_at=at(0)
    )
    f.ReleaseFactory(
        application=pay, status="released", target_date=day(6), actual_date=day(6), created_at=at(30)
    )
    delivery = release_delivery(Scope(), PERIOD)
    assert (delivery.shipped, delivery.cycle_known, delivery.mean_cycle) == (2, 1, timedelta(days=5))


def test_environment_utilisation_counts_approved_hours_inside_the_period():
    uat = f.EnvironmentFactory(name="UAT", capacity=1, bookable=True)
    shared = f.EnvironmentFactory(name="SIT", capacity=2, bookable=True)
    f.EnvironmentFactory(name="PROD", bookable=False)
    f.BookingFactory(environment=uat, approved=True, starts_at=at(1), ends_at=at(2))  # 24 h
    f.BookingFactory(environment=uat, approved=True, starts_at=at(-1), ends_at=at(0.5))  # 12 h of it inside
    f.BookingFactory(
        environment=uat,
        status="rejected",
        starts_at=at(3),
        ends_at=at(4),
        decided_by=f.UserFactory(),
        decided_at=at(0),
    )
    f.BookingFactory(environment=shared, approved=True, starts_at=at(1), ends_at=at(8))  # 168 h of 2 x 672
    rows = {row["name"]: row for row in environment_utilisation(PERIOD)}
    assert set(rows) == {"UAT", "SIT"}
    assert rows["UAT"]["booked_hours"] == pytest.approx(36) and rows["UAT"]["bookings_held"] == 2
    assert rows["UAT"]["share"] == pytest.approx(36 / 672)
    assert rows["SIT"]["share"] == pytest.approx(168 / 1344)
    assert [row["name"] for row in environment_utilisation(PERIOD)] == ["SIT", "UAT"]
