"""Governance that no single person bends: policy changes under segregation of duties (a weakening
waits for a second person), evidence that has an author who is not the interested party, and signer
groups that can sign. The first test replays the attack of issue 12, which succeeded before."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.api import SOURCE as JUNIT_SOURCE
from portal import roles
from portal.api_tokens import api_token_create
from releases import tasks
from releases.errors import Conflict, Refused
from releases.facts.services import reports
from releases.gates.services import evidence
from releases.gates.services.deploy_check import can_deploy
from releases.gates.services.policies import gates_sync_for_release
from releases.gates.services.policy_changes import (
    policy_change_approve,
    policy_change_propose,
    policy_change_reject,
    policy_change_withdraw,
    requirement_values,
    weakenings,
)
from releases.models import AuditEvent, Gate, GateRequirement, PolicyChange
from tests import factories as f

pytestmark = pytest.mark.django_db

ALL_GREEN = b"""<?xml version="1.0"?>
<testsuite name="regression" tests="3" failures="0" errors="0" skipped="0">
  <testcase classname="a" name="one"/><testcase classname="a" name="two"/>
  <testcase classname="a" name="three"/>
</testsuite>"""


def _group(role: str) -> Group:
    return Group.objects.get(name=role)


@pytest.fixture(autouse=True)
def propagate_now(monkeypatch):
    """Policy propagation and evidence refresh run in-process, as the worker would after the commit
    (here at once: a test runs in one transaction that never commits)."""
    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())
    monkeypatch.setattr(
        tasks.gate_policy_propagate_task,
        "delay",
        lambda **kw: tasks.gate_policy_propagate_task.apply(kwargs=kw),
    )
    monkeypatch.setattr(
        tasks.gate_evidence_refresh_task,
        "delay",
        lambda **kw: tasks.gate_evidence_refresh_task.apply(kwargs=kw),
    )
    monkeypatch.setattr(tasks.gates_announce_task, "delay", lambda **kw: None)
    monkeypatch.setattr(tasks.gate_decided_notify_task, "delay", lambda **kw: None)


@pytest.fixture
def people(user_in_role):
    return {
        "rm": user_in_role(roles.RELEASE_MANAGER, username="rm", first_name="Tom", last_name="Becker"),
        "gov": user_in_role(roles.GOVERNANCE, username="gov", first_name="Nora", last_name="Quinn"),
        "gov2": user_in_role(roles.GOVERNANCE, username="gov2"),
        "pipeline": user_in_role(roles.PIPELINE, username="ci-bot"),
    }


@pytest.fixture
def card(people):
    """The global policy of the demo (security review, evidence-only QA, CAB), and CARD 7.8.5, owned
    by `rm`, with its gates pending: can-deploy says no."""
    policy = f.GatePolicyFactory(portfolio=None, name="Global")
    for kind, name, role, approvals, criteria in (
        ("security", "Security review", roles.SECURITY_REVIEWER, 1, {}),
        ("qa", "QA sign-off", None, 0, {"min_pass_rate": 0.95, "max_failed": 0}),
        ("cab", "CAB approval", roles.CHANGE_MANAGER, 1, {}),
    ):
        f.GateRequirementFactory(
            policy=policy,
            kind=kind,
            name=name,
            signer_group=_group(role) if role else None,
            approvals_required=approvals,
            criteria=criteria,
        )
    release = f.ReleaseFactory(
        application=f.ApplicationFactory(key="CARD"),
        version="7.8.5",
        owner=people["rm"],
        target_date=f.day(60),
    )
    gates_sync_for_release(release=release)
    f.EnvironmentFactory(name="PROD")
    return {"policy": policy, "release": release}


def _allowed(release) -> bool:
    return can_deploy(
        application_key=release.application.key, version=release.version, environment_name="PROD"
    ).allowed


def _requirement(name: str) -> GateRequirement:
    return GateRequirement.objects.get(name=name)


def _token_client(user) -> Client:
    _, secret = api_token_create(user=user, name="pipeline")
    return Client(headers={"Authorization": f"Bearer {secret}"})


# --- hole 1: the owner alone made can-deploy say yes ----------------------------------------------------


def test_the_release_owner_cannot_make_can_deploy_say_yes_alone(card, people):
    rm, release = people["rm"], card["release"]
    assert not _allowed(release)

    # 1. Removing the global security review only proposes it: nothing changes until a second person approves.
    change = policy_change_propose(
        portfolio=None,
        by=rm,
        action="remove",
        requirement=_requirement("Security review"),
        reason="slows us down",
    )
    assert change.status == "pending" and change.needs_approval
    assert Gate.objects.filter(release=release, name="Security review", status="pending").exists()
    with pytest.raises(Refused, match="You proposed this change"):
        policy_change_approve(change=change, by=rm)

    # 2. A made-up all-green report: the Release manager role may not upload, and the owner may not
    #    supply their own release's evidence even with the permission.
    response = _token_client(rm).post(f"/api/junit?release={release.pk}", ALL_GREEN, "application/xml")
    assert response.status_code == 403
    rm.user_permissions.add(*_group(roles.PIPELINE).permissions.all())
    rm = type(rm).objects.get(pk=rm.pk)
    response = _token_client(rm).post(f"/api/junit?release={release.pk}", ALL_GREEN, "application/xml")
    assert response.status_code == 403
    assert "evidence that passes its gates comes from someone else" in response.json()["detail"]
    assert not release.test_runs.exists()
    assert Gate.objects.get(release=release, name="QA sign-off").status == "pending"

    # 3. Removing the CAB requirement waits too.
    policy_change_propose(
        portfolio=None, by=rm, action="remove", requirement=_requirement("CAB approval"), reason="no CAB here"
    )
    assert not _allowed(release)
    assert GateRequirement.objects.count() == 3
    denied = set(AuditEvent.objects.filter(action__endswith=".denied").values_list("action", flat=True))
    assert denied >= {"gatepolicy.change.denied", "testrun.record.denied"}


def test_a_second_person_makes_a_weakening_take_effect_and_decided_gates_stay(card, people):
    release = card["release"]
    security = Gate.objects.get(release=release, name="Security review")
    other = f.ReleaseFactory(application=release.application, owner=people["rm"], target_date=f.day(61))
    gates_sync_for_release(release=other)
    rejected = Gate.objects.get(release=other, name="Security review")
    f.SignOffFactory(gate=rejected, decision="reject", comment="Open findings")
    Gate.objects.filter(pk=rejected.pk).update(status="failed", decided_at=timezone.now())

    change = policy_change_propose(
        portfolio=None,
        by=people["rm"],
        action="remove",
        requirement=_requirement("Security review"),
        reason="x",
    )
    policy_change_approve(change=change, by=people["gov"], comment="Covered by the platform review.")
    change.refresh_from_db()
    assert (change.status, change.decided_by, change.requirement) == ("applied", people["gov"], None)
    assert change.effective_at is not None and change.decided_at == change.effective_at
    assert not Gate.objects.filter(pk=security.pk).exists()  # pending and unsigned: it goes
    assert Gate.objects.get(pk=rejected.pk).status == "failed"  # decided: it stays, and still holds
    assert list(
        AuditEvent.objects.filter(action__startswith="policychange").values_list("action", flat=True)
    ) == [
        "policychange.propose",
        "policychange.approve",
    ]


def test_a_change_that_does_not_weaken_takes_effect_at_once(card, people):
    security = _requirement("Security review")
    values = requirement_values(security) | {"approvals_required": 2, "signer_group": security.signer_group}
    change = policy_change_propose(
        portfolio=None, by=people["rm"], action="change", requirement=security, values=values
    )
    assert (change.status, change.needs_approval, change.decided_by) == ("applied", False, None)
    assert _requirement("Security review").approvals_required == 2
    assert Gate.objects.get(release=card["release"], name="Security review").approvals_required == 2


def test_an_override_weaker_than_what_it_inherits_waits(card, people):
    """A portfolio's own "Security review" decided by evidence alone would replace the global one."""
    portfolio = card["release"].application.portfolio
    values = {
        "kind": "security",
        "name": "Security review",
        "signer_group": None,
        "approvals_required": 0,
        "criteria": {},
        "due_days_before_target": 2,
    }
    with pytest.raises(ValidationError) as missing_reason:
        policy_change_propose(portfolio=portfolio, by=people["rm"], action="add", values=values)
    assert "lets its evidence alone decide it" in str(missing_reason.value)
    change = policy_change_propose(
        portfolio=portfolio, by=people["rm"], action="add", values=values, reason="x"
    )
    assert change.status == "pending"
    assert not GateRequirement.objects.filter(policy__portfolio=portfolio).exists()


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ({"approvals_required": 1}, ["lowers the approvals from 2 to 1"]),
        ({"approvals_required": 3}, []),
        ({"signer_group": 9}, ["changes who signs it: Reviewers → Change"]),
        ({"name": "PCI"}, ["renames PCI review: its pending gates under the old name go"]),
        ({"criteria": {"min_pass_rate": 0.9}}, ["loosens min pass rate from 95% to 90%"]),
        ({"criteria": {"min_pass_rate": 0.99, "max_failed": 0}}, []),
        ({"criteria": {"max_failed": 2}}, ["loosens max failed from 0 to 2"]),
        ({"criteria": {"result": "unstable"}}, ["accepts a build that is unstable, not only success"]),
        ({"due_days_before_target": 1}, []),
    ],
)
def test_what_weakens_a_requirement(after, expected):
    before = {
        "kind": "compliance",
        "name": "PCI review",
        "signer_group": 8,
        "approvals_required": 2,
        "criteria": {},
        "due_days_before_target": 7,
    }
    assert weakenings(before, before | after, {8: "Reviewers", 9: "Change"}) == expected


def test_removing_always_weakens_and_adding_never_does():
    values = {"kind": "qa", "name": "QA", "signer_group": None, "approvals_required": 0, "criteria": {}}
    assert weakenings(values, None, {}) == ["removes QA: its pending gates without a sign-off go"]
    assert weakenings(None, values, {}) == []


def test_unknown_criteria_dropped_or_changed_weaken():
    before = {
        "kind": "custom",
        "name": "Perf",
        "signer_group": 1,
        "approvals_required": 1,
        "criteria": {"max_p95_ms": 300},
    }
    assert weakenings(before, before | {"criteria": {}}, {1: "G"}) == [
        "changes or drops the criterion max_p95_ms (300)"
    ]


# --- who decides, and when ----------------------------------------------------------------------------


@pytest.fixture
def pending(card, people):
    return policy_change_propose(
        portfolio=None, by=people["rm"], action="remove", requirement=_requirement("CAB approval"), reason="x"
    )


def test_only_approvers_who_did_not_propose_decide(pending, people, user_in_role):
    for role in (roles.RELEASE_MANAGER, roles.SECURITY_REVIEWER, roles.AUDITOR, roles.CHANGE_MANAGER):
        with pytest.raises(Refused, match="does not approve policy changes"):
            policy_change_approve(change=pending, by=user_in_role(role))
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_the_database_refuses_an_approval_by_the_proposer(pending):
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyChange.objects.filter(pk=pending.pk).update(
            status="applied",
            decided_by=pending.proposed_by,
            decided_at=timezone.now(),
            effective_at=timezone.now(),
        )


def test_the_database_refuses_a_weakening_in_effect_without_an_approver(pending):
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyChange.objects.filter(pk=pending.pk).update(status="applied", effective_at=timezone.now())


def test_one_waiting_change_per_requirement(pending, people):
    with pytest.raises(Conflict, match="proposed by Tom Becker waits for approval"):
        policy_change_propose(
            portfolio=None,
            by=people["gov"],
            action="remove",
            requirement=_requirement("CAB approval"),
            reason="y",
        )


def test_an_approval_after_the_requirement_changed_is_a_conflict(pending, people):
    GateRequirement.objects.filter(pk=pending.requirement_id).update(due_days_before_target=9)
    with pytest.raises(Conflict, match="changed since this was proposed"):
        policy_change_approve(change=pending, by=people["gov"])
    pending.refresh_from_db()
    assert pending.status == "pending" and GateRequirement.objects.filter(name="CAB approval").exists()


def test_a_decided_change_cannot_be_decided_again(pending, people):
    policy_change_reject(change=pending, by=people["gov"], comment="CAB stays.")
    with pytest.raises(Conflict, match="already rejected"):
        policy_change_approve(change=pending, by=people["gov2"])
    assert GateRequirement.objects.filter(name="CAB approval").exists()


def test_a_rejection_says_why(pending, people):
    with pytest.raises(ValidationError):
        policy_change_reject(change=pending, by=people["gov"], comment="  ")
    change = policy_change_reject(change=pending, by=people["gov"], comment="CAB stays.")
    assert (change.status, change.decided_by, change.decision_comment) == (
        "rejected",
        people["gov"],
        "CAB stays.",
    )


def test_only_the_proposer_withdraws(pending, people):
    with pytest.raises(Refused):
        policy_change_withdraw(change=pending, by=people["gov"])
    assert policy_change_withdraw(change=pending, by=people["rm"]).status == "withdrawn"


# --- signer groups that can sign ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", [roles.RELEASE_MANAGER, roles.ENVIRONMENT_ADMIN, roles.AUDITOR, roles.PIPELINE]
)
def test_a_policy_cannot_name_a_group_that_cannot_sign(card, people, role):
    values = {
        "kind": "cab",
        "name": "Change board",
        "signer_group": _group(role),
        "approvals_required": 1,
        "criteria": {},
        "due_days_before_target": 2,
    }
    with pytest.raises(ValidationError) as invalid:
        policy_change_propose(portfolio=None, by=people["gov"], action="add", values=values)
    assert f"Members of {role} cannot sign gates" in invalid.value.message_dict["signer_group"][0]
    assert not GateRequirement.objects.filter(name="Change board").exists()


@pytest.mark.parametrize("role", [roles.SECURITY_REVIEWER, roles.CHANGE_MANAGER, roles.ADMIN])
def test_groups_that_sign_may_be_named(card, people, role):
    values = {
        "kind": "cab",
        "name": "Change board",
        "signer_group": _group(role),
        "approvals_required": 1,
        "criteria": {},
        "due_days_before_target": 2,
    }
    assert (
        policy_change_propose(portfolio=None, by=people["gov"], action="add", values=values).status
        == "applied"
    )


# --- evidence has an author who is not the interested party ----------------------------------------------


def test_a_pipeline_account_uploads_and_is_recorded_as_the_supplier(card, people):
    release = card["release"]
    response = _token_client(people["pipeline"]).post(
        f"/api/junit?release={release.pk}", ALL_GREEN, "application/xml"
    )
    assert response.status_code == 201
    run = release.test_runs.get()
    assert run.supplied_by == people["pipeline"] and run.source == JUNIT_SOURCE
    assert run.supplier == "sent by ci-bot"
    assert Gate.objects.get(release=release, name="QA sign-off").status == "passed"


def test_evidence_supplied_by_whoever_now_owns_the_release_does_not_count(card, people):
    release = card["release"]
    f.TestRunFactory(
        release=release, name="regression", passed=10, failed=0, skipped=0, supplied_by=people["pipeline"]
    )
    evidence.gate_evidence_refresh(release_ids=[release.pk])
    assert Gate.objects.get(release=release, name="QA sign-off").status == "passed"
    type(release).objects.filter(pk=release.pk).update(owner=people["pipeline"])  # the uploader now owns it
    evidence.gate_evidence_refresh(release_ids=[release.pk])
    assert Gate.objects.get(release=release, name="QA sign-off").status == "pending"


def test_the_last_scope_changer_may_not_supply_evidence_either(card, user_in_role):
    changer = user_in_role(roles.PIPELINE)
    release = card["release"]
    type(release).objects.filter(pk=release.pk).update(scope_changed_by=changer)
    release.refresh_from_db()
    with pytest.raises(Refused):
        reports.testrun_record(
            release=release,
            build=None,
            environment=None,
            name="regression",
            counts={"passed": 1, "failed": 0, "skipped": 0, "errors": 0, "duration_ms": 1},
            executed_at=timezone.now(),
            source="test",
            external_id="1",
            by=changer,
        )
    assert not release.test_runs.exists()


def test_no_human_role_uploads_test_reports():
    from portal.roles import ROLE_PERMISSIONS

    uploaders = {role for role, perms in ROLE_PERMISSIONS.items() if "releases.add_testrun" in perms}
    assert uploaders == {roles.PIPELINE}


# --- the pages ------------------------------------------------------------------------------------------


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_policy_page_shows_who_proposed_and_lets_a_second_person_approve(pending, people):
    html = _client(people["rm"]).get("/gates/policies/global/").content.decode()
    assert "Waiting for approval" in html and "Remove CAB approval" in html
    assert "Proposed by Tom Becker" in html and "Withdraw" in html and "Approve remove" not in html
    gov = _client(people["gov"])
    assert "Approve remove CAB approval" in gov.get("/gates/policies/global/").content.decode()
    response = gov.post(f"/gates/policies/changes/{pending.pk}/approve/", {"comment": "ok"})
    assert response.status_code == 302 and response["Location"].endswith("?decided=approve#policy-changes")
    html = gov.get("/gates/policies/global/?decided=approve").content.decode()
    assert "Approved: the change is in effect." in html
    assert "approved by Nora Quinn" in html and "in effect since" in html
    assert not GateRequirement.objects.filter(name="CAB approval").exists()


def test_the_proposer_cannot_approve_through_the_page(pending, people):
    response = _client(people["rm"]).post(f"/gates/policies/changes/{pending.pk}/approve/")
    assert response.status_code == 403
    assert GateRequirement.objects.filter(name="CAB approval").exists()


def test_deciding_needs_the_csrf_token_and_a_known_decision(pending, people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["gov"])
    assert client.post(f"/gates/policies/changes/{pending.pk}/approve/").status_code == 403
    gov = _client(people["gov"])
    assert gov.post(f"/gates/policies/changes/{pending.pk}/explode/").status_code == 404
    assert gov.post("/gates/policies/changes/999999/approve/").status_code == 404
    assert gov.get(f"/gates/policies/changes/{pending.pk}/approve/").status_code == 405
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_reject_without_comment_is_a_clear_400(pending, people):
    response = _client(people["gov"]).post(f"/gates/policies/changes/{pending.pk}/reject/", {"comment": ""})
    assert response.status_code == 400
    assert "Say why you reject the change" in response.content.decode()


def _more_pending(n: int, proposer) -> None:
    policy = f.GatePolicyFactory(portfolio=f.PortfolioFactory())
    for i in range(n):
        requirement = f.GateRequirementFactory(
            policy=policy, kind="custom", name=f"Check {i}", signer_group=_group(roles.CHANGE_MANAGER)
        )
        policy_change_propose(
            portfolio=policy.portfolio, by=proposer, action="remove", requirement=requirement, reason="x"
        )


@pytest.mark.parametrize("url", ["/gates/policies/", "/gates/policies/global/"])
def test_pending_changes_do_not_grow_the_query_count(card, people, url):
    client = _client(people["gov"])
    _more_pending(1, people["rm"])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _more_pending(8, people["rm"])
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)
