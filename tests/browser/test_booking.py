"""A release manager asks for a slot that is taken, sees the conflict as they type, takes the suggested
next free slot and sends the request; an environment admin approves it from the queue; the board
shows it. A manager requests a slot from the board's hour view; an admin approves several requests
at once after seeing their conflicts."""

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from portal.models import User
from portal.roles import ENVIRONMENT_ADMIN, RELEASE_MANAGER
from releases import tasks
from releases.models import Booking
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"
TOMORROW = (timezone.now() + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


def _user(username: str, role: str, **fields) -> User:
    user = User.objects.create_user(username, password=PASSWORD, **fields)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def environment(monkeypatch):
    monkeypatch.setattr(tasks.booking_notify_task, "delay", lambda **kwargs: None)
    # Open round the clock, so the next free slot is the same whatever day the test runs.
    env = f.EnvironmentFactory(
        name="SIT-2", kind="test", work_starts=time(0), work_ends=time(0), work_days=127
    )
    f.ApplicationFactory(key="PAY", name="Payments Hub")
    f.BookingFactory(
        environment=env,
        application=f.ApplicationFactory(key="CLM", name="Claims"),
        starts_at=TOMORROW,
        ends_at=TOMORROW + timedelta(hours=4),
        purpose="Claims regression",
        approved=True,
    )
    return env


def _log_in(page, username: str, path: str) -> None:
    page.goto(path)
    submit_login(page, username, PASSWORD)


def test_request_a_taken_slot_take_the_next_free_one_and_get_it_approved(page, environment, screenshot):
    _user("rita", RELEASE_MANAGER, first_name="Rita", last_name="Manager")
    _user("ed", ENVIRONMENT_ADMIN, first_name="Ed", last_name="Admin")
    _log_in(page, "rita", f"/environments/bookings/new/?environment={environment.pk}")
    page.select_option("#id_application", label="PAY · Payments Hub")
    page.fill("#id_purpose", "Fee API contract tests")
    page.fill("#id_starts_at", f"{TOMORROW + timedelta(hours=2):%Y-%m-%dT%H:%M}")
    page.fill("#id_ends_at", f"{TOMORROW + timedelta(hours=5):%Y-%m-%dT%H:%M}")
    check = page.locator("#booking-check")
    check.get_by_text("This slot collides with").wait_for()
    assert "Claims regression" in check.inner_text()
    screenshot("booking-request-conflict")

    page.get_by_role("link", name="Take the next free slot").click()
    page.locator("#booking-check").get_by_text("The slot is free.").wait_for()
    assert page.input_value("#id_starts_at") == f"{TOMORROW + timedelta(hours=4):%Y-%m-%dT%H:%M}"
    assert page.input_value("#id_ends_at") == f"{TOMORROW + timedelta(hours=7):%Y-%m-%dT%H:%M}"
    assert page.input_value("#id_purpose") == "Fee API contract tests"
    page.get_by_role("button", name="Send the request").click()
    page.get_by_text("waits for an admin").wait_for()
    booking = Booking.objects.get(application__key="PAY")
    assert (booking.status, booking.starts_at) == ("requested", TOMORROW + timedelta(hours=4))

    page.get_by_role("button", name="Sign out").click()
    _log_in(page, "ed", "/environments/bookings/queue/")
    row = page.locator(f"#booking-{booking.pk}")
    row.get_by_role("button", name="Approve").click()
    page.locator(f"#booking-{booking.pk}").get_by_text("Approved by Ed Admin").wait_for()
    booking.refresh_from_db()
    assert booking.status == "approved"

    f.FreezeWindowFactory(
        starts_at=TOMORROW + timedelta(days=3), ends_at=TOMORROW + timedelta(days=5), reason="Black Friday"
    )
    page.goto("/environments/board/")
    chip = page.locator(f'a.chip-approved[href$="#booking-{booking.pk}"]')
    assert chip.inner_text() == "PAY"
    band = page.locator(".freeze-band")
    assert band.count() == 1
    assert "Black Friday (all environments)" in band.inner_text()
    screenshot("booking-board")


def test_request_from_the_hour_view_and_bulk_approve_with_the_conflicts_previewed(
    page, environment, screenshot
):
    _user("rita", RELEASE_MANAGER, first_name="Rita", last_name="Manager")
    _user("ed", ENVIRONMENT_ADMIN, first_name="Ed", last_name="Admin")
    day = TOMORROW.date()
    _log_in(page, "rita", f"/environments/board/?day={day}")
    row = page.locator("tr", has=page.get_by_role("link", name="SIT-2", exact=True))
    assert "CLM" in row.inner_text()  # the approved booking, 10:00 to 14:00, in its hours
    screenshot("booking-board-hours")
    page.get_by_role("link", name=f"Request SIT-2, {TOMORROW:%a %d %b} 15:00 to 16:00").click()
    assert page.input_value("#id_starts_at") == f"{day}T15:00"
    assert page.input_value("#id_ends_at") == f"{day}T16:00"
    assert page.locator("#id_environment option:checked").inner_text() == "SIT-2"
    page.select_option("#id_application", label="PAY · Payments Hub")
    page.fill("#id_purpose", "Smoke tests")
    page.get_by_role("button", name="Send the request").click()
    page.get_by_text("waits for an admin").wait_for()
    fits = Booking.objects.get(purpose="Smoke tests")
    clashing = f.BookingFactory(
        environment=environment,
        application=fits.application,
        starts_at=TOMORROW + timedelta(hours=3),
        ends_at=TOMORROW + timedelta(hours=5),
        purpose="Late regression",
    )  # a request made before the Claims booking was approved: it now collides

    page.get_by_role("button", name="Sign out").click()
    _log_in(page, "ed", "/environments/bookings/queue/")
    page.get_by_label(f"Select request #{fits.pk}").check()
    page.get_by_label(f"Select request #{clashing.pk}").check()
    page.get_by_role("button", name="Approve selected").click()
    page.get_by_text("Collides with approved booking").wait_for()
    screenshot("booking-bulk-approve-preview")
    page.get_by_role("button", name="Approve 1 request").click()
    page.get_by_text(f"Approved 1: #{fits.pk}.").wait_for()
    assert page.locator(f"#booking-{clashing.pk}").is_visible()  # still waiting in the queue
    fits.refresh_from_db(), clashing.refresh_from_db()
    assert (fits.status, clashing.status) == ("approved", "requested")
