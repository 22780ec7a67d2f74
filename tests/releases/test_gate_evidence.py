"""Automatic gate evidence: QA from the latest test run, scope from work items, build from the latest
build; thresholds from the requirement's criteria; source and time; recomputed when the facts change;
evidence-only gates decided by it, signed gates never; unchanged evidence writes nothing; a scope
change records who made it."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal import roles
from releases import tasks
from releases.audit import audit_verify
from releases.gates.services.evidence import gate_evidence_refresh
from releases.models import AuditEvent, Gate, TestRun
from releases.planning.services.releases import release_scope_change
from tests import factories as f

pytestmark = pytest.mark.django_db


def _gate(kind: str, *, criteria=None, approvals=0, release=None, **fields) -> Gate:
    requirement = f.GateRequirementFactory(
        kind=kind,
        criteria=criteria or {},
        approvals_required=approvals,
        signer_group=f.GroupFactory() if approvals else None,
    )
    return f.GateFactory(
        release=release or f.ReleaseFactory(),
        requirement=requirement,
        kind=kind,
        name=requirement.name,
        approvals_required=approvals,
        signer_group=requirement.signer_group,
        **fields,
    )


def _refresh(gate: Gate) -> Gate:
    gate_evidence_refresh(release_ids=[gate.release_id])
    gate.refresh_from_db()
    return gate


# --- QA ----------------------------------------------------------------------------------------------


def test_qa_evidence_comes_from_the_latest_test_run_and_names_it():
    gate = _gate("qa")
    build = f.BuildFactory(application=gate.release.application, job="pay-release", number=412)
    f.TestRunFactory(release=gate.release, name="Regression", passed=10, failed=5, executed_at=f.moment(1))
    f.TestRunFactory(
        release=gate.release,
        name="Regression",
        build=build,
        passed=99,
        failed=0,
        errors=0,
        executed_at=f.moment(5),
    )
    gate = _refresh(gate)
    assert (gate.evidence_pass_rate, gate.evidence_failed_tests, gate.evidence_ok) == (1.0, 0, True)
    assert gate.evidence_source == "JUnit: Regression · pay-release #412"
    assert gate.evidence_at == f.moment(5)
    assert gate.evidence_summary == "99 of 99 tests passed (100%), 0 failed"


def test_qa_counts_errors_as_failures_and_says_why_it_fails():
    gate = _refresh(_gate_with_run(passed=97, failed=1, errors=2))
    assert (gate.evidence_pass_rate, gate.evidence_failed_tests, gate.evidence_ok) == (0.97, 3, False)
    assert gate.evidence_summary == "97 of 100 tests passed (97%), 1 failed, 2 errors: allows no failure"


@pytest.mark.parametrize(
    ("criteria", "passed", "failed", "ok"),
    [
        ({}, 95, 0, True),  # defaults: 95% and no failure
        ({}, 99, 1, False),
        ({"max_failed": 2}, 98, 2, True),
        ({"max_failed": 2}, 97, 3, False),
        ({"min_pass_rate": 0.99, "max_failed": 5}, 98, 2, False),
        ({"min_pass_rate": 0.9, "max_failed": 10}, 90, 10, True),
    ],
)
def test_qa_thresholds_come_from_the_criteria(criteria, passed, failed, ok):
    assert _refresh(_gate_with_run(criteria=criteria, passed=passed, failed=failed)).evidence_ok is ok


def test_a_pass_rate_below_the_minimum_is_named():
    gate = _refresh(_gate_with_run(criteria={"min_pass_rate": 0.99, "max_failed": 5}, passed=98, failed=2))
    assert gate.evidence_summary.endswith(": needs at least 99%")


def test_a_run_that_executed_nothing_is_no_verdict():
    gate = _refresh(_gate_with_run(passed=0, failed=0, skipped=12))
    assert (gate.evidence_ok, gate.evidence_pass_rate, gate.status) == (None, None, "pending")
    assert gate.evidence_summary == "The latest test runs executed no test."


def test_each_suite_counts_so_a_later_smoke_run_does_not_hide_a_failed_regression():
    gate = _gate("qa")
    f.TestRunFactory(
        release=gate.release, name="Regression", passed=90, failed=10, skipped=0, executed_at=f.moment(1)
    )
    f.TestRunFactory(
        release=gate.release, name="Smoke", passed=10, failed=0, skipped=0, executed_at=f.moment(5)
    )
    gate = _refresh(gate)
    assert (gate.evidence_ok, gate.evidence_failed_tests, gate.evidence_at) == (False, 10, f.moment(5))
    assert gate.evidence_source == "JUnit: Regression, Smoke"
    assert (
        gate.evidence_summary
        == "100 of 110 tests passed (90.9%), 10 failed in 2 suites: needs at least 95%; allows no failure"
    )
    f.TestRunFactory(
        release=gate.release, name="Regression", passed=100, failed=0, skipped=0, executed_at=f.moment(9)
    )
    assert _refresh(gate).evidence_ok is True  # the regression's own latest run now passes


def _gate_with_run(*, criteria=None, **counts) -> Gate:
    gate = _gate("qa", criteria=criteria)
    f.TestRunFactory(release=gate.release, **({"failed": 0, "skipped": 0, "errors": 0} | counts))
    return gate


# --- scope -------------------------------------------------------------------------------------------


def _items(release, *categories, descoped=0):
    items = [
        f.WorkItemFactory(application=release.application, status_category=category, updated_at=f.moment(n))
        for n, category in enumerate(categories)
    ]
    items += [f.WorkItemFactory(application=release.application, descoped=True) for _ in range(descoped)]
    for item in items:
        item.fix_releases.add(release)
    return items


def test_scope_holds_when_every_work_item_is_done_or_descoped():
    gate = _gate("scope")
    items = _items(gate.release, "done", "done", descoped=1)
    gate = _refresh(gate)
    assert (gate.evidence_open_blockers, gate.evidence_ok, gate.evidence_source) == (0, True, "Work items")
    assert gate.evidence_summary == "2 of 2 work items done, 0 open (1 descoped)"
    assert gate.evidence_at == max(item.updated_at or item.created_at for item in items)  # the latest change


def test_open_work_items_are_blockers():
    gate = _gate("scope")
    _items(gate.release, "done", "todo", "in_progress")
    gate = _refresh(gate)
    assert (gate.evidence_open_blockers, gate.evidence_ok) == (2, False)
    assert gate.evidence_summary == "1 of 3 work items done, 2 open: all must be done or descoped"


def test_scope_allows_the_open_items_its_criteria_allow():
    gate = _gate("scope", criteria={"max_open_blockers": 1})
    _items(gate.release, "done", "todo")
    assert _refresh(gate).evidence_ok is True


def test_a_release_without_work_items_has_no_scope_evidence():
    gate = _refresh(_gate("scope"))
    assert (gate.evidence_ok, gate.evidence_at, gate.evidence_summary) == (None, None, "")


# --- build -------------------------------------------------------------------------------------------


def test_build_evidence_comes_from_the_latest_build():
    gate = _gate("build")
    app = gate.release.application
    f.BuildFactory(
        application=app, release=gate.release, job="pay", number=7, result="failure", started_at=f.moment(1)
    )
    f.BuildFactory(
        application=app, release=gate.release, job="pay", number=8, started_at=f.moment(2), duration_ms=60_000
    )
    gate = _refresh(gate)
    assert (gate.evidence_build_result, gate.evidence_ok, gate.evidence_source) == (
        "success",
        True,
        "Build pay #8",
    )
    assert gate.evidence_at == f.moment(2) + timedelta(minutes=1)  # when it finished
    assert gate.evidence_summary == "Build pay #8: success"


def test_a_failed_latest_build_fails_and_a_running_one_is_no_verdict():
    gate = _gate("build")
    build = f.BuildFactory(application=gate.release.application, release=gate.release, result="unstable")
    gate = _refresh(gate)
    assert (gate.evidence_ok, gate.evidence_summary) == (
        False,
        f"Build ci #{build.number}: unstable (needs success)",
    )
    f.BuildFactory(
        application=gate.release.application, release=gate.release, result="running", started_at=f.moment(99)
    )
    assert _refresh(gate).evidence_ok is None


def test_the_build_result_wanted_comes_from_the_criteria():
    gate = _gate("build", criteria={"result": "unstable"})
    f.BuildFactory(application=gate.release.application, release=gate.release, result="unstable")
    assert _refresh(gate).evidence_ok is True


# --- decisions by evidence ---------------------------------------------------------------------------


def test_an_evidence_only_gate_passes_fails_and_follows_new_evidence():
    gate = _refresh(_gate_with_run(passed=100))
    assert gate.status == "passed" and gate.decided_at is not None
    f.TestRunFactory(release=gate.release, passed=90, failed=10, executed_at=f.moment(50))
    gate = _refresh(gate)
    assert gate.status == "failed" and gate.decided_at is not None
    event = AuditEvent.objects.filter(action="gate.evidence").latest("seq")
    assert (event.actor, event.actor_label, event.before["status"], event.after["status"]) == (
        None,
        "system",
        "passed",
        "failed",
    )


def test_a_signed_gate_keeps_its_decision_whatever_the_evidence():
    gate = _gate("qa", approvals=1, status="passed", decided_at=f.moment(0))
    f.TestRunFactory(release=gate.release, passed=10, failed=90)
    gate = _refresh(gate)
    assert (gate.status, gate.decided_at, gate.evidence_ok) == ("passed", f.moment(0), False)


def test_a_pending_signed_gate_gets_evidence_but_stays_pending():
    gate = _gate("qa", approvals=1)
    f.TestRunFactory(release=gate.release, passed=100, failed=0)
    gate = _refresh(gate)
    assert (gate.status, gate.evidence_ok) == ("pending", True)


def test_a_waiver_stands_and_a_closed_release_is_left_as_it_shipped():
    waived = _gate(
        "qa", status="waived", decided_at=f.moment(0), waived_by=f.UserFactory(), waiver_reason="Outage"
    )
    f.TestRunFactory(release=waived.release, passed=1, failed=99)
    assert _refresh(waived).status == "waived"
    shipped = _gate("qa", release=f.ReleaseFactory(released=True))
    f.TestRunFactory(release=shipped.release, passed=1, failed=99)
    shipped = _refresh(shipped)
    assert (shipped.status, shipped.evidence_at) == ("pending", None)


def test_gates_of_other_kinds_are_left_alone():
    gate = _gate("security", approvals=1)
    f.TestRunFactory(release=gate.release)
    assert _refresh(gate).evidence_at is None


# --- writes only what changed, in a bounded number of queries ---------------------------------------


def test_unchanged_evidence_writes_nothing():
    gate = _gate_with_run(passed=100)
    assert gate_evidence_refresh(release_ids=[gate.release_id]) == 1
    events = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        assert gate_evidence_refresh(release_ids=[gate.release_id]) == 0
    assert AuditEvent.objects.count() == events
    assert not [q for q in queries if q["sql"].startswith(("UPDATE", "INSERT"))]


def test_one_audit_event_per_changed_gate():
    gates = [_gate_with_run(passed=100) for _ in range(3)]
    f.TestRunFactory(release=gates[0].release, passed=1, failed=1, executed_at=f.moment(100))
    gate_evidence_refresh(release_ids=[g.release_id for g in gates])
    assert AuditEvent.objects.filter(action="gate.evidence").count() == 3
    gate_evidence_refresh(release_ids=[g.release_id for g in gates])
    assert AuditEvent.objects.filter(action="gate.evidence").count() == 3
    f.TestRunFactory(release=gates[1].release, passed=1, failed=1, executed_at=f.moment(100))
    gate_evidence_refresh(release_ids=[g.release_id for g in gates])
    events = AuditEvent.objects.filter(action="gate.evidence")
    assert events.count() == 4 and events.latest("seq").object_id == str(gates[1].pk)


def _kinds_for(n: int) -> list[int]:
    ids = []
    for _ in range(n):
        release = f.ReleaseFactory()
        for kind in ("qa", "scope", "build"):
            _gate(kind, release=release)
        f.TestRunFactory(release=release)
        f.BuildFactory(application=release.application, release=release)
        _items(release, "done", "todo")
        ids.append(release.pk)
    return ids


def test_queries_do_not_grow_with_the_releases():
    def reads(n: int) -> int:
        ids = _kinds_for(n)
        with CaptureQueriesContext(connection) as queries:
            assert gate_evidence_refresh(release_ids=ids) == 3 * n
        return len(queries)

    reads(1)  # the first audit event makes the chain head
    assert reads(2) == reads(6)
    assert audit_verify().ok


# --- scope changes -----------------------------------------------------------------------------------


@pytest.fixture
def manager(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER)


def test_a_scope_change_records_who_made_it_and_refreshes_evidence_after_commit(
    manager, monkeypatch, django_capture_on_commit_callbacks
):
    refreshed = []
    monkeypatch.setattr(tasks.gate_evidence_refresh_task, "delay", lambda **kwargs: refreshed.append(kwargs))
    gate = _gate("scope")
    release = gate.release
    kept, dropped, parked = _items(release, "done", "todo", "todo")
    extra = f.WorkItemFactory(application=release.application, key="PAY-9", status_category="done")
    with django_capture_on_commit_callbacks(execute=True):
        release_scope_change(release=release, by=manager, add=[extra], remove=[dropped], descope=[parked])
    release.refresh_from_db()
    assert release.scope_changed_by == manager and release.scope_changed_at is not None
    assert set(release.work_items.all()) == {kept, parked, extra}
    parked.refresh_from_db()
    assert parked.descoped
    event = AuditEvent.objects.get(action="release.scope_change")
    assert (event.actor, event.object_id) == (manager, str(release.pk))
    assert event.after == {"added": ["PAY-9"], "removed": [dropped.key], "descoped": [parked.key]}
    assert refreshed == [{"release_ids": [release.pk]}]
    assert _refresh(gate).evidence_ok is True  # what the task does: kept and extra done, parked descoped
    client = Client()
    client.force_login(manager)
    timeline = client.get(f"/releases/{release.pk}/").content.decode().split('id="audit-timeline"', 1)[1]
    assert "<strong>Scope changed</strong> by " + (manager.get_full_name() or manager.username) in timeline


def test_a_scope_change_refuses_foreign_or_unplanned_items_and_changes_nothing(manager):
    release = f.ReleaseFactory()
    foreign = f.WorkItemFactory()
    unplanned = f.WorkItemFactory(application=release.application)
    with pytest.raises(ValidationError, match="Not work items of"):
        release_scope_change(release=release, by=manager, add=[foreign])
    with pytest.raises(ValidationError, match="Not in the scope of"):
        release_scope_change(release=release, by=manager, descope=[unplanned])
    release.refresh_from_db()
    unplanned.refresh_from_db()
    assert (release.scope_changed_by, unplanned.descoped, release.work_items.count()) == (None, False, 0)
    assert not AuditEvent.objects.exists()


# --- facts changed in the admin ----------------------------------------------------------------------


def test_the_admin_cannot_type_in_a_test_run(superuser_client):
    """Evidence comes from the tools (a pipeline's upload, a sync), never counts typed in by hand."""
    gate = _gate("qa")
    data = {"release": str(gate.release_id), "name": "Smoke", "passed": "10", "failed": "0"}
    assert superuser_client.post("/admin/releases/testrun/add/", data).status_code == 403
    assert not TestRun.objects.exists()


def test_a_work_item_is_not_changed_in_the_admin_so_no_evidence_moves(
    superuser_client, monkeypatch, django_capture_on_commit_callbacks
):
    """Work items are the tracker's (synced); a release's scope changes on its page."""
    refreshed = []
    monkeypatch.setattr(tasks.gate_evidence_refresh_task, "delay", lambda **kwargs: refreshed.append(kwargs))
    release = f.ReleaseFactory()
    (item,) = _items(release, "todo")
    data = {"key": item.key, "title": item.title, "status_category": "done", "fix_releases": ""}
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(f"/admin/releases/workitem/{item.pk}/change/", data)
    assert response.status_code == 403
    item.refresh_from_db()
    assert (item.status_category, list(item.fix_releases.all())) == ("todo", [release])
    assert refreshed == []


# --- the demo seed is what the engine computes ------------------------------------------------------


def test_the_seeded_gates_are_what_the_gate_engine_computes():
    from django.core.management import call_command

    from releases.gates.services.policies import gates_propagate
    from releases.models import Release

    call_command("seed_demo", "--scale", "small", "--anchor", "2026-11-23", stdout=io.StringIO())
    open_ids = list(Release.objects.open().values_list("pk", flat=True))
    assert Gate.objects.filter(release_id__in=open_ids, evidence_ok__isnull=False).exists()
    assert gate_evidence_refresh(release_ids=open_ids) == 0
    result = gates_propagate(portfolio_ids=None)
    assert (len(result.updated), result.deleted) == (0, 0)  # every seeded gate is as its policy says
    assert {gate.release.status for gate in result.created} == {"planned"}  # they had none yet
