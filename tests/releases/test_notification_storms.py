"""No storms: a policy change that gives many releases a gate is one message per signer, listing the
gates; a gate is announced when it enters its lead time (settings.GATE_ANNOUNCE_LEAD_DAYS before it
is due), by the change's one announcement run or by beat, and once."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission

from portal.celery import app as celery_app
from releases import tasks
from releases.gates.services.notifications import gates_announce
from releases.gates.services.policies import gate_requirement_save
from releases.models import Gate
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewers():
    group = f.GroupFactory(name="Security reviewers")
    group.permissions.add(Permission.objects.get(codename="sign_gate"))
    for name in ("rita", "sam", "tao"):
        f.UserFactory(username=name, email=f"{name}@example.com").groups.add(group)
    return group


@pytest.fixture
def eager(monkeypatch, settings):
    """Queued tasks run in the test's process (the worker's job, without a broker). Through Django's
    settings, which the Celery app reads: a value set on the app's conf would outlive the test."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda **kw: None)
    monkeypatch.setattr(tasks.gate_evidence_refresh_task, "delay", lambda **kw: None)


def test_one_policy_change_touching_50_gates_is_one_message_per_reviewer(
    mailoutbox, reviewers, eager, settings, django_capture_on_commit_callbacks
):
    settings.GATE_ANNOUNCE_LEAD_DAYS = 10_000  # every new gate is within its lead time
    policy = f.GatePolicyFactory(portfolio=None, name="Global")
    releases = [f.ReleaseFactory(target_date=f.day(30 + i)) for i in range(50)]
    with django_capture_on_commit_callbacks(execute=True):
        gate_requirement_save(
            policy=policy,
            by=None,
            kind="security",
            name="Security review",
            signer_group=reviewers,
            approvals_required=1,
            criteria={},
            due_days_before_target=5,
        )
    assert Gate.objects.filter(release__in=releases).count() == 50
    assert len(mailoutbox) == 3
    assert sorted(m.to[0] for m in mailoutbox) == ["rita@example.com", "sam@example.com", "tao@example.com"]
    message = mailoutbox[0]
    assert message.subject == "[Flightdeck] 50 new gates wait for your sign-off"
    assert message.body.count("Security review, due ") == 50
    assert not Gate.objects.filter(announced_at__isnull=True).exists()
    # A second change to the same gates (a later due date) announces nothing again.
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        gate_requirement_save(
            policy=policy,
            by=None,
            requirement=policy.requirements.get(),
            due_days_before_target=6,
        )
    assert mailoutbox == []


def test_a_gate_due_in_a_year_waits_for_its_lead_time_then_is_announced_once(mailoutbox, reviewers, settings):
    settings.GATE_ANNOUNCE_LEAD_DAYS = 14
    today = f.day(0)
    release = f.ReleaseFactory(target_date=today + timedelta(days=370))
    gate = f.GateFactory(
        release=release,
        kind="security",
        name="Security review",
        signer_group=reviewers,
        due_date=today + timedelta(days=365),
    )
    assert gates_announce(today=today) == 0
    assert gates_announce(today=gate.due_date - timedelta(days=15)) == 0
    assert mailoutbox == []
    assert gates_announce(today=gate.due_date - timedelta(days=14)) == 3
    label = f"{release.application.key} {release.version}"
    assert mailoutbox[0].subject == f"[Flightdeck] {label}: “Security review” waits for your sign-off"
    assert gates_announce(today=gate.due_date) == 0  # once
    assert len(mailoutbox) == 3


def test_a_policy_change_far_ahead_sends_nothing_until_beat_finds_the_gates_due(
    mailoutbox, reviewers, eager, settings, django_capture_on_commit_callbacks
):
    settings.GATE_ANNOUNCE_LEAD_DAYS = 14
    policy = f.GatePolicyFactory(portfolio=None, name="Global")
    f.ReleaseFactory(target_date=f.day(400))
    with django_capture_on_commit_callbacks(execute=True):
        gate_requirement_save(
            policy=policy,
            by=None,
            kind="security",
            name="Security review",
            signer_group=reviewers,
            approvals_required=1,
            criteria={},
            due_days_before_target=5,
        )
    assert Gate.objects.count() == 1
    assert mailoutbox == []
    assert gates_announce(today=f.day(390)) == 3


def test_the_announcement_runs_hourly_from_beat():
    entry = celery_app.conf.beat_schedule["gates-announce"]
    assert entry == {"task": "releases.tasks.gates_announce_task", "schedule": 3600.0}


def test_a_gate_given_to_another_group_is_announced_to_that_group(
    mailoutbox, reviewers, eager, settings, django_capture_on_commit_callbacks
):
    settings.GATE_ANNOUNCE_LEAD_DAYS = 10_000
    policy = f.GatePolicyFactory(portfolio=None, name="Global")
    f.ReleaseFactory(target_date=f.day(30))
    values = {"kind": "security", "name": "Security review", "approvals_required": 1, "criteria": {}}
    with django_capture_on_commit_callbacks(execute=True):
        requirement = gate_requirement_save(
            policy=policy, by=None, signer_group=reviewers, due_days_before_target=5, **values
        )
    assert len(mailoutbox) == 3
    cab = f.GroupFactory(name="CAB")
    cab.permissions.add(Permission.objects.get(codename="sign_gate"))
    f.UserFactory(email="cab@example.com").groups.add(cab)
    with django_capture_on_commit_callbacks(execute=True):
        gate_requirement_save(policy=policy, by=None, requirement=requirement, signer_group=cab)
    assert [m.to for m in mailoutbox[3:]] == [["cab@example.com"]]
