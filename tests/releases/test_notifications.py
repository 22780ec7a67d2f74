"""E-mail about gates: waiting (to the signer group, without those who may not sign, once the gate is
within its lead time, one summary per person), overdue (once per gate, claimed by one UPDATE),
decided (owner and group); sent after commit, never on a rollback."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from portal.celery import app as celery_app
from releases import tasks
from releases.gates.services.notifications import (
    gate_decided_notify,
    gates_announce,
    gates_overdue_notify,
)
from releases.gates.services.signoffs import gate_waive
from releases.models import Gate
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = f.day(20)


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.FLIGHTDECK_BASE_URL = "https://flightdeck.example.com"


@pytest.fixture
def reviewers():
    group = f.GroupFactory(name="Security reviewers")
    group.permissions.add(Permission.objects.get(codename="sign_gate"))
    return group


@pytest.fixture
def members(reviewers):
    """Two reviewers who get mail, and two who cannot: inactive, no address."""
    people = [
        f.UserFactory(email="rita@example.com"),
        f.UserFactory(email="sam@example.com"),
        f.UserFactory(email="gone@example.com", is_active=False),
        f.UserFactory(email=""),
    ]
    for person in people:
        person.groups.add(reviewers)
    return people


@pytest.fixture
def release():
    application = f.ApplicationFactory(key="PAY")
    return f.ReleaseFactory(
        application=application,
        version="4.2",
        target_date=f.day(30),
        owner=f.UserFactory(email="olive@example.com"),
    )


def gate(release, reviewers, **fields):
    fields = {"name": "Security review", "due_date": f.day(25), **fields}
    return f.GateFactory(release=release, kind="security", signer_group=reviewers, **fields)


def announce(gate_ids):
    return gates_announce(gate_ids=gate_ids, today=TODAY)


def recipients(outbox) -> list[str]:
    return sorted(address for message in outbox for address in message.to)


# --- waiting -------------------------------------------------------------------------------------


def test_a_group_that_cannot_sign_is_not_asked_to(mailoutbox, release):
    """The demo's CAB gate was signed by "Release manager", a group without the sign permission: the
    worker mailed release managers "CAB approval waits for your sign-off" for a gate they could not sign."""
    managers = Group.objects.get(name=roles.RELEASE_MANAGER)
    for address in ("tom@example.com", "jo@example.com"):
        f.UserFactory(email=address).groups.add(managers)
    waiting = f.GateFactory(
        release=release, kind="cab", name="CAB approval", signer_group=managers, due_date=f.day(25)
    )
    assert announce(gate_ids=[waiting.pk]) == 0
    assert mailoutbox == []


def test_a_waiting_gate_mails_each_member_of_its_group(mailoutbox, release, reviewers, members):
    waiting = gate(release, reviewers)
    assert announce(gate_ids=[waiting.pk]) == 2
    assert recipients(mailoutbox) == ["rita@example.com", "sam@example.com"]
    assert all(len(message.to) == 1 for message in mailoutbox)  # nobody sees who else was told
    message = mailoutbox[0]
    assert message.subject == "[Flightdeck] PAY 4.2: “Security review” waits for your sign-off"
    assert "waits for a sign-off from Security reviewers. It is due on 2030-02-01." in message.body
    assert f"https://flightdeck.example.com/releases/{release.pk}/" in message.body
    assert message.from_email == "flightdeck@localhost"


def test_those_who_may_not_sign_are_not_asked(mailoutbox, release, reviewers, members):
    release.owner.groups.add(reviewers)
    release.scope_changed_by = members[1]
    release.save()
    assert announce(gate_ids=[gate(release, reviewers).pk]) == 1
    assert recipients(mailoutbox) == ["rita@example.com"]


def test_decided_and_evidence_only_gates_are_not_waiting(mailoutbox, release, reviewers, members):
    passed = gate(release, reviewers, status="passed", decided_at=f.moment(0))
    evidence_only = gate(release, None, name="QA", approvals_required=0)
    assert announce(gate_ids=[passed.pk, evidence_only.pk, 999999]) == 0
    assert mailoutbox == []


def test_one_query_for_the_members_of_every_group(release, reviewers, members, django_assert_num_queries):
    other = f.GroupFactory(name="CAB")
    members[0].groups.add(other)
    gates = [gate(release, reviewers), gate(release, other, name="CAB")]
    # the claim, the claimed gates, the members; then delivery: the preferences, the insert, the stamp
    with django_assert_num_queries(6):
        assert announce(gate_ids=[g.pk for g in gates]) == 2  # Rita's two gates in one message


# --- overdue -------------------------------------------------------------------------------------


def test_overdue_gates_are_announced_once(mailoutbox, release, reviewers, members):
    late = gate(release, reviewers, due_date=f.day(19))
    assert gates_overdue_notify(today=TODAY) == 2
    assert mailoutbox[0].subject == "[Flightdeck] Overdue: PAY 4.2 “Security review” was due 2030-01-26"
    assert "was due on 2030-01-26 and still waits" in mailoutbox[0].body
    late.refresh_from_db()
    assert late.overdue_notified_at is not None
    assert gates_overdue_notify(today=TODAY) == 0
    assert len(mailoutbox) == 2


def test_only_pending_open_gates_past_due_are_overdue(mailoutbox, release, reviewers, members):
    gate(release, reviewers, name="Due today", due_date=TODAY)
    gate(release, reviewers, name="Passed", due_date=f.day(1), status="passed", decided_at=f.moment(0))
    shipped = f.ReleaseFactory(released=True)
    gate(shipped, reviewers, name="Of a shipped release", due_date=f.day(1))
    assert gates_overdue_notify(today=TODAY) == 0
    assert not Gate.objects.filter(overdue_notified_at__isnull=False).exists()


def test_overdue_gates_are_claimed_in_one_update(mailoutbox, release, reviewers, members):
    for i in range(5):
        gate(release, reviewers, name=f"Late {i}", due_date=f.day(i))
    with CaptureQueriesContext(connection) as queries:
        assert gates_overdue_notify(today=TODAY) == 2  # one summary per person, not one per gate
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "releases_gate"')]
    assert len(updates) == 1
    assert len(queries) == 6  # the claim, the claimed gates, the members; preferences, insert, stamp


def test_the_overdue_task_runs_hourly_from_beat():
    entry = celery_app.conf.beat_schedule["gates-overdue-notify"]
    assert entry == {"task": "releases.tasks.gates_overdue_notify_task", "schedule": 3600.0}


# --- decided -------------------------------------------------------------------------------------


def test_a_decision_mails_the_owner_and_the_group(mailoutbox, release, reviewers, members):
    decided = gate(release, reviewers, status="failed", decided_at=f.moment(1))
    f.SignOffFactory(
        gate=decided, signer=members[0], signer_name="Rita Reviewer", decision="reject", comment="CVE open"
    )
    assert gate_decided_notify(gate_id=decided.pk) == 3
    assert recipients(mailoutbox) == ["olive@example.com", "rita@example.com", "sam@example.com"]
    assert mailoutbox[0].subject == "[Flightdeck] PAY 4.2: “Security review” failed"
    assert "Rita Reviewer signed “reject”: CVE open" in mailoutbox[0].body


def test_a_pending_gate_is_not_decided(mailoutbox, release, reviewers, members):
    assert gate_decided_notify(gate_id=gate(release, reviewers).pk) == 0
    assert gate_decided_notify(gate_id=999999) == 0
    assert mailoutbox == []


@pytest.fixture
def eager(settings):
    """Tasks run in the test's process when enqueued (the worker's job, without a broker). Through
    Django's settings, which the Celery app reads: a value set on the app's conf outlived the test and
    turned eager mode off for the tests that set it in the settings."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


def test_a_waiver_is_mailed_after_commit(
    mailoutbox, eager, release, reviewers, members, user_in_role, django_capture_on_commit_callbacks
):
    admin = user_in_role(roles.ADMIN, first_name="Ada", last_name="Admin")
    pending = gate(release, reviewers)
    with django_capture_on_commit_callbacks(execute=True):
        gate_waive(gate=pending, by=admin, reason="Emergency fix")
        assert mailoutbox == []  # not before the commit
    assert recipients(mailoutbox) == ["olive@example.com", "rita@example.com", "sam@example.com"]
    assert mailoutbox[0].subject == "[Flightdeck] PAY 4.2: “Security review” waived"
    assert "Waived by Ada Admin: Emergency fix" in mailoutbox[0].body


class Rollback(Exception):
    pass


def test_nothing_is_mailed_when_the_transaction_rolls_back(
    mailoutbox, eager, release, reviewers, members, user_in_role, django_capture_on_commit_callbacks
):
    admin = user_in_role(roles.ADMIN)
    pending = gate(release, reviewers)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Rollback), transaction.atomic():
        gate_waive(gate=pending, by=admin, reason="Emergency fix")
        raise Rollback
    assert mailoutbox == []
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_the_tasks_report_what_they_sent(mailoutbox, release, reviewers, members):
    waiting = gate(release, reviewers, due_date=timezone.localdate() - timedelta(days=1))
    assert tasks.gate_waiting_notify_task(gate_ids=[waiting.pk]) == {"sent": 2}
    assert tasks.gates_announce_task() == {"sent": 0}  # announced already
    assert tasks.gates_overdue_notify_task() == {"sent": 2}
    assert tasks.gate_decided_notify_task(gate_id=waiting.pk) == {"sent": 0}  # still pending
