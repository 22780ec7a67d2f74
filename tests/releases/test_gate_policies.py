"""Gate policies: the effective policy (global, parent, own; the nearest wins), gates created for new
releases and following policy changes (open releases only; decided gates keep their decisions), the
policy services (audited, bad input refused) and the policy pages (roles, CSRF, HTMX, query counts)."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal import roles
from releases import tasks
from releases.audit import audit_verify
from releases.gates.forms import GateRequirementForm
from releases.gates.services.policies import (
    effective_requirements,
    gate_policy_create,
    gate_requirement_delete,
    gate_requirement_save,
    gates_sync_for_release,
)
from releases.models import AuditEvent, Gate, GatePolicy, GateRequirement
from releases.planning.services.releases import release_create, release_update
from tests import factories as f

pytestmark = pytest.mark.django_db


def _group(role: str) -> Group:
    return Group.objects.get(name=role)


def _requirement(policy, kind, name, *, role=roles.SECURITY_REVIEWER, approvals=1, due=2, **fields):
    group = _group(role) if approvals else None
    return f.GateRequirementFactory(
        policy=policy,
        kind=kind,
        name=name,
        signer_group=group,
        approvals_required=approvals,
        due_days_before_target=due,
        **fields,
    )


@pytest.fixture
def world():
    """A global policy (security review, QA), a portfolio with its own policy (overrides QA, adds
    PCI) and a programme inside it with its own policy (adds a CAB)."""
    global_policy = f.GatePolicyFactory(portfolio=None, name="Global")
    _requirement(global_policy, "security", "Security review", due=5)
    _requirement(global_policy, "qa", "QA sign-off", approvals=0, due=3, criteria={"min_pass_rate": 0.9})
    payments = f.PortfolioFactory(name="Payments", slug="payments")
    programme = f.PortfolioFactory(name="Instant", slug="instant", parent=payments)
    own = f.GatePolicyFactory(portfolio=payments, name="Payments policy")
    _requirement(own, "qa", "QA sign-off", approvals=0, due=4, criteria={"min_pass_rate": 0.99})
    _requirement(own, "compliance", "PCI review", approvals=2, due=7)
    child = f.GatePolicyFactory(portfolio=programme, name="Instant policy")
    _requirement(child, "cab", "CAB approval", role=roles.CHANGE_MANAGER, due=1)
    return {"global": global_policy, "payments": payments, "programme": programme, "own": own, "child": child}


@pytest.fixture
def manager(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER)


@pytest.fixture
def propagate_now(monkeypatch, django_capture_on_commit_callbacks):
    """Run the propagation task in-process when the policy write commits."""
    runs = []

    def delay(**kwargs):
        runs.append(kwargs)
        return tasks.gate_policy_propagate_task.apply(kwargs=kwargs)

    monkeypatch.setattr(tasks.gate_policy_propagate_task, "delay", delay)
    monkeypatch.setattr(tasks.gates_announce_task, "delay", lambda **kwargs: None)

    def run(write, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return write(*args, **kwargs)

    run.runs = runs
    return run


def _release(portfolio, **fields):
    application = f.ApplicationFactory(portfolio=portfolio)
    return f.ReleaseFactory(application=application, target_date=f.day(30), **fields)


def _gates(release) -> dict[str, Gate]:
    return {gate.name: gate for gate in Gate.objects.filter(release=release)}


# --- the effective policy ---------------------------------------------------------------------------


def test_a_portfolio_without_a_policy_follows_the_global_one(world):
    loose = f.PortfolioFactory()
    assert {r.name for r in effective_requirements(loose)} == {"Security review", "QA sign-off"}
    assert [r.policy for r in effective_requirements(None)] == [world["global"]] * 2


def test_the_portfolio_overrides_the_global_requirement_with_the_same_kind_and_name(world):
    effective = {r.name: r for r in effective_requirements(world["payments"])}
    assert set(effective) == {"Security review", "QA sign-off", "PCI review"}
    assert effective["Security review"].policy == world["global"]
    assert effective["QA sign-off"].policy == world["own"]
    assert effective["QA sign-off"].criteria == {"min_pass_rate": 0.99}


def test_a_programme_inherits_its_parent_then_adds_its_own(world):
    effective = {r.name: r.policy for r in effective_requirements(world["programme"])}
    assert effective == {
        "Security review": world["global"],
        "QA sign-off": world["own"],
        "PCI review": world["own"],
        "CAB approval": world["child"],
    }


def test_the_nearest_policy_wins_for_a_programme(world):
    _requirement(world["child"], "qa", "QA sign-off", approvals=0, criteria={"min_pass_rate": 0.5})
    qa = next(r for r in effective_requirements(world["programme"]) if r.name == "QA sign-off")
    assert (qa.policy, qa.criteria) == (world["child"], {"min_pass_rate": 0.5})


def test_a_same_name_of_another_kind_is_another_requirement(world):
    _requirement(world["own"], "custom", "Security review")
    names = [(r.kind, r.name) for r in effective_requirements(world["payments"])]
    assert ("security", "Security review") in names and ("custom", "Security review") in names


# --- gates of new and changed releases ------------------------------------------------------------


def test_a_new_release_gets_the_gates_of_its_effective_policy(
    world, manager, django_capture_on_commit_callbacks
):
    application = f.ApplicationFactory(portfolio=world["programme"])
    with django_capture_on_commit_callbacks() as callbacks:
        release = release_create(application=application, version="2.0", target_date=f.day(30), by=manager)
    gates = _gates(release)
    assert set(gates) == {"Security review", "QA sign-off", "PCI review", "CAB approval"}
    pci = gates["PCI review"]
    assert (pci.status, pci.due_date, pci.approvals_required, pci.signer_group.name) == (
        "pending",
        f.day(23),
        2,
        roles.SECURITY_REVIEWER,
    )
    assert pci.requirement.policy == world["own"]
    assert gates["QA sign-off"].signer_group is None
    assert gates["CAB approval"].due_date == f.day(29)
    created = AuditEvent.objects.filter(action="gate.create")
    assert sorted(created.values_list("object_id", flat=True)) == sorted(str(g.pk) for g in gates.values())
    assert {event.actor for event in created} == {manager}
    assert len(callbacks) == 2  # the forecast, and the announcement run


def test_new_gates_queue_one_announcement_run_not_one_notice_per_gate(
    world, manager, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.gates_announce_task, "delay", lambda **kwargs: sent.append(kwargs))
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: None)
    application = f.ApplicationFactory(portfolio=world["payments"])
    with django_capture_on_commit_callbacks(execute=True):
        release_create(application=application, version="2.0", target_date=f.day(30), by=manager)
    assert sent == [{}]


def test_moving_the_target_moves_the_pending_due_dates_only(world, manager):
    release = _release(world["payments"])
    gates_sync_for_release(release=release)
    Gate.objects.filter(release=release, name="PCI review").update(status="passed", decided_at=f.moment(0))
    release_update(release=release, by=manager, target_date=f.day(40))
    gates = _gates(release)
    assert gates["Security review"].due_date == f.day(35)
    assert gates["PCI review"].due_date == f.day(23)  # decided: untouched
    assert AuditEvent.objects.filter(action="gate.update").count() == 2  # security and QA


def test_a_closed_release_keeps_its_gates(world, manager):
    release = _release(world["payments"])
    gates_sync_for_release(release=release)
    before = {g.pk: (g.status, g.due_date) for g in Gate.objects.filter(release=release)}
    release_update(release=release, by=manager, status="cancelled", target_date=f.day(50))
    assert {g.pk: (g.status, g.due_date) for g in Gate.objects.filter(release=release)} == before


def test_syncing_twice_changes_nothing(world):
    release = _release(world["payments"])
    gates_sync_for_release(release=release)
    events = AuditEvent.objects.count()
    gates_sync_for_release(release=release)
    assert AuditEvent.objects.count() == events


def test_a_gate_added_by_hand_is_left_alone(world):
    release = _release(world["payments"])
    manual = f.GateFactory(release=release, kind="custom", name="Pen test")
    gates_sync_for_release(release=release)
    assert Gate.objects.filter(pk=manual.pk).exists()


# --- policy changes propagate -----------------------------------------------------------------------


def test_a_new_requirement_adds_pending_gates_to_open_releases_only(world, manager, propagate_now):
    open_release = _release(world["payments"])
    in_programme = _release(world["programme"])
    elsewhere = _release(f.PortfolioFactory())
    shipped = _release(world["payments"], released=True)
    for release in (open_release, in_programme, elsewhere):
        gates_sync_for_release(release=release)
    propagate_now(
        gate_requirement_save,
        policy=world["own"],
        by=manager,
        kind="custom",
        name="DORA check",
        signer_group=_group(roles.CHANGE_MANAGER),
        approvals_required=1,
        criteria={},
        due_days_before_target=10,
    )
    for release in (open_release, in_programme):
        gate = _gates(release)["DORA check"]
        wanted = ("pending", f.day(20), roles.CHANGE_MANAGER)
        assert (gate.status, gate.due_date, gate.signer_group.name) == wanted
    assert "DORA check" not in _gates(elsewhere)
    assert not Gate.objects.filter(release=shipped).exists()
    assert propagate_now.runs[0]["portfolio_ids"] == sorted([world["payments"].pk, world["programme"].pk])
    event = AuditEvent.objects.get(action="gaterequirement.create")
    assert (event.actor, event.after["name"]) == (manager, "DORA check")
    assert AuditEvent.objects.filter(action="gate.create", actor=manager).count() == 2


def test_changed_approvals_and_due_days_update_pending_gates(world, manager, propagate_now):
    release = _release(world["payments"])
    gates_sync_for_release(release=release)
    pci = GateRequirement.objects.get(name="PCI review")
    propagate_now(
        gate_requirement_save,
        policy=world["own"],
        requirement=pci,
        by=manager,
        approvals_required=3,
        due_days_before_target=9,
    )
    gate = _gates(release)["PCI review"]
    assert (gate.approvals_required, gate.due_date) == (3, f.day(21))
    event = AuditEvent.objects.get(action="gate.update")
    assert (event.before["approvals_required"], event.after["approvals_required"]) == (2, 3)


def test_changed_criteria_give_the_evidence_a_new_verdict(world, manager, propagate_now):
    release = _release(world["payments"])
    f.TestRunFactory(release=release, passed=97, failed=3, skipped=0)
    gates_sync_for_release(release=release)
    assert (_gates(release)["QA sign-off"].evidence_ok, _gates(release)["QA sign-off"].status) == (
        False,
        "failed",
    )
    qa = world["own"].requirements.get(name="QA sign-off")
    propagate_now(
        gate_requirement_save,
        policy=world["own"],
        requirement=qa,
        by=manager,
        criteria={"min_pass_rate": 0.9, "max_failed": 5},
    )
    gate = _gates(release)["QA sign-off"]
    assert (gate.evidence_ok, gate.status, gate.evidence_summary) == (
        True,
        "passed",
        "97 of 100 tests passed (97%), 3 failed",
    )


@pytest.mark.parametrize("status", ["passed", "failed"])
def test_decided_gates_keep_their_decisions(world, manager, propagate_now, status):
    release = _release(world["payments"])
    gates_sync_for_release(release=release)
    Gate.objects.filter(release=release, name="PCI review").update(status=status, decided_at=f.moment(1))
    pci = GateRequirement.objects.get(name="PCI review")
    propagate_now(
        gate_requirement_save, policy=world["own"], requirement=pci, by=manager, approvals_required=1
    )
    gate = _gates(release)["PCI review"]
    assert (gate.status, gate.approvals_required) == (status, 2)
    propagate_now(gate_requirement_delete, requirement=pci, by=manager)
    gate.refresh_from_db()
    assert (gate.status, gate.requirement) == (status, None)


def test_a_removed_requirement_drops_the_undecided_gates(world, manager, propagate_now):
    release, signed, shipped = (
        _release(world["payments"]),
        _release(world["payments"]),
        _release(world["payments"]),
    )
    for each in (release, signed, shipped):
        gates_sync_for_release(release=each)
    f.SignOffFactory(gate=_gates(signed)["PCI review"])  # half a quorum: a signature is kept
    shipped.status, shipped.actual_date = "released", f.day(30)
    shipped.save()
    propagate_now(
        gate_requirement_delete, requirement=GateRequirement.objects.get(name="PCI review"), by=manager
    )
    assert "PCI review" not in _gates(release)
    assert _gates(signed)["PCI review"].status == "pending"
    assert "PCI review" in _gates(shipped)  # released: untouched
    assert AuditEvent.objects.filter(action="gate.delete").count() == 1
    assert AuditEvent.objects.filter(action="gaterequirement.delete", actor=manager).count() == 1


def test_overriding_a_global_requirement_repoints_pending_gates(world, manager, propagate_now):
    portfolio = f.PortfolioFactory()
    release = _release(portfolio)
    gates_sync_for_release(release=release)
    policy = gate_policy_create(portfolio=portfolio, by=manager)
    propagate_now(
        gate_requirement_save,
        policy=policy,
        by=manager,
        kind="security",
        name="Security review",
        signer_group=_group(roles.ADMIN),
        approvals_required=2,
        criteria={},
        due_days_before_target=6,
    )
    gate = _gates(release)["Security review"]
    assert (gate.requirement.policy, gate.signer_group.name, gate.approvals_required) == (
        policy,
        roles.ADMIN,
        2,
    )
    assert Gate.objects.filter(release=release).count() == 2


def test_a_renamed_requirement_renames_its_pending_gates(world, manager, propagate_now):
    release = _release(world["payments"])
    gates_sync_for_release(release=release)
    pci = GateRequirement.objects.get(name="PCI review")
    propagate_now(
        gate_requirement_save, policy=world["own"], requirement=pci, by=manager, name="PCI DSS review"
    )
    gates = _gates(release)
    assert "PCI review" not in gates and gates["PCI DSS review"].requirement == pci


def test_a_global_change_reaches_every_portfolio_in_batches(world, manager, propagate_now, monkeypatch):
    from releases.gates.services import policies as gate_services

    monkeypatch.setattr(gate_services, "PROPAGATION_BATCH", 2)
    releases = [_release(f.PortfolioFactory()) for _ in range(5)]
    propagate_now(
        gate_requirement_save,
        policy=world["global"],
        by=manager,
        kind="build",
        name="Green build",
        signer_group=None,
        approvals_required=0,
        criteria={},
        due_days_before_target=1,
    )
    assert propagate_now.runs[0]["portfolio_ids"] is None
    assert all("Green build" in _gates(release) for release in releases)


def test_a_propagation_batch_takes_the_same_queries_whatever_it_changes(world):
    from releases.gates.services.policies import gates_propagate

    def queries(n: int) -> int:
        for _ in range(n):
            gates_sync_for_release(release=_release(world["payments"]))
        _requirement(world["own"], "custom", f"Check {n}", approvals=0)
        with CaptureQueriesContext(connection) as captured:
            result = gates_propagate(portfolio_ids=[world["payments"].pk], batch_size=1000)
        assert result.created
        return len(captured)

    assert queries(2) == queries(8)
    assert audit_verify().ok


# --- the services refuse bad input ------------------------------------------------------------------


def test_a_duplicate_requirement_is_refused_and_nothing_changes(world, manager):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        gate_requirement_save(
            policy=world["own"],
            by=manager,
            kind="compliance",
            name="PCI review",
            signer_group=_group(roles.SECURITY_REVIEWER),
            approvals_required=1,
            criteria={},
            due_days_before_target=2,
        )
    assert AuditEvent.objects.count() == events
    assert world["own"].requirements.count() == 2


def test_a_signed_requirement_without_a_group_is_refused(world, manager):
    with pytest.raises(ValidationError):
        gate_requirement_save(
            policy=world["own"],
            by=manager,
            kind="custom",
            name="Anyone",
            signer_group=None,
            approvals_required=1,
            criteria={},
            due_days_before_target=2,
        )


def test_a_second_policy_for_a_portfolio_is_refused(world, manager):
    with pytest.raises(ValidationError):
        gate_policy_create(portfolio=world["payments"], by=manager)
    assert GatePolicy.objects.filter(portfolio=world["payments"]).count() == 1


def test_an_unchanged_save_writes_nothing(world, manager, propagate_now):
    pci = GateRequirement.objects.get(name="PCI review")
    propagate_now(
        gate_requirement_save, policy=world["own"], requirement=pci, by=manager, approvals_required=2
    )
    assert not AuditEvent.objects.exists()
    assert propagate_now.runs == []


# --- the policy pages -------------------------------------------------------------------------------


@pytest.fixture
def manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


def _form(**changes) -> dict:
    data = {
        "kind": "custom",
        "name": "DORA check",
        "signer_group": str(_group(roles.CHANGE_MANAGER).pk),
        "approvals_required": "1",
        "due_days_before_target": "10",
        "min_pass_rate": "",
        "max_failed": "",
        "max_open_blockers": "",
        "result": "",
    } | changes
    return {f"requirement-{name}": value for name, value in data.items()}


def _edit_form(requirement, **changes) -> dict:
    return {
        key.replace("requirement-", f"requirement-{requirement.pk}-"): v
        for key, v in _form(**changes).items()
    }


def test_the_list_shows_each_portfolio_with_what_it_inherits(world, client_for):
    html = client_for(roles.PROJECT_OFFICE).get("/gates/policies/").content.decode()
    payments = html.split(">Payments</a>", 1)[1].split("</li>\n    \n", 1)[0]
    assert 'chip chip-global"' in payments and "Security review" in payments
    assert "own, replaces global" in payments  # its QA sign-off
    programme = html.split(">Instant</a>", 1)[1]
    assert "from Payments" in programme
    assert 'class="policy depth-1"' in html
    assert "Edit</a>" not in html  # the project office reads


def test_the_policy_page_separates_own_and_inherited(world, manager_client):
    html = manager_client.get(f"/gates/policies/{world['programme'].pk}/").content.decode()
    own, inherited = html.split('id="inherited-title"', 1)
    assert "<strong>CAB approval</strong>" in own and "<strong>Security review</strong>" not in own
    assert "From Payments" in inherited and "Global" in inherited
    assert "Add a requirement" in own
    assert f'hx-post="/gates/policies/{world["programme"].pk}/add/"' in own


def test_readers_see_no_forms(world, client_for):
    html = (
        client_for(roles.SECURITY_REVIEWER).get(f"/gates/policies/{world['payments'].pk}/").content.decode()
    )
    assert "PCI review" in html
    assert "hx-post" not in html and "Add a requirement" not in html


def test_an_unknown_portfolio_is_404(world, manager_client):
    assert manager_client.get("/gates/policies/999999/").status_code == 404


def test_change_here_fills_the_add_form_with_the_inherited_requirement(world, manager_client):
    security = GateRequirement.objects.get(name="Security review")
    html = manager_client.get(
        f"/gates/policies/{world['payments'].pk}/?override={security.pk}"
    ).content.decode()
    assert 'name="requirement-name" value="Security review"' in html
    assert 'name="requirement-due_days_before_target" value="5"' in html


def test_adding_a_requirement_stores_it_and_refreshes_the_partial(
    world, manager_client, manager, propagate_now
):
    release = _release(world["payments"])
    url = f"/gates/policies/{world['payments'].pk}/add/"
    response = propagate_now(manager_client.post, url, _form(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('\n<section id="policy-requirements"') or html.lstrip().startswith(
        '<section id="policy-requirements"'
    )
    assert "Saved: the change is in effect." in html and "DORA check" in html
    requirement = world["own"].requirements.get(name="DORA check")
    assert (requirement.signer_group.name, requirement.approvals_required, requirement.criteria) == (
        roles.CHANGE_MANAGER,
        1,
        {},
    )
    assert AuditEvent.objects.get(action="gaterequirement.create").actor == manager
    assert "DORA check" in _gates(release)


def test_overriding_an_inherited_requirement_moves_it_out_of_the_inherited_list(
    world, manager_client, propagate_now
):
    # Two approvals where the global policy asks one: stricter, so it takes effect at once.
    reviewers = str(_group(roles.SECURITY_REVIEWER).pk)
    data = _form(kind="security", name="Security review", signer_group=reviewers, approvals_required="2")
    response = propagate_now(
        manager_client.post, f"/gates/policies/{world['payments'].pk}/add/", data, HTTP_HX_REQUEST="true"
    )
    own, inherited = response.content.decode().split('id="policy-inherited"', 1)
    assert "<strong>Security review</strong>" in own and "replaces global" in own
    assert 'hx-swap-oob="true"' in inherited and "<strong>Security review</strong>" not in inherited
    assert (
        "<strong>CAB approval</strong>" not in inherited and "<strong>QA sign-off</strong>" not in inherited
    )


def test_adding_without_htmx_redirects_back(world, manager_client, propagate_now):
    response = propagate_now(manager_client.post, f"/gates/policies/{world['payments'].pk}/add/", _form())
    assert response.status_code == 302
    assert (
        response["Location"] == f"/gates/policies/{world['payments'].pk}/?saved=applied#policy-requirements"
    )


def test_criteria_fields_become_the_requirements_criteria(world, manager_client, propagate_now):
    data = _form(
        kind="qa",
        name="Regression",
        signer_group="",
        approvals_required="0",
        min_pass_rate="97.5",
        max_failed="2",
    )
    propagate_now(manager_client.post, "/gates/policies/global/add/", data)
    requirement = world["global"].requirements.get(name="Regression")
    assert requirement.criteria == {"min_pass_rate": 0.975, "max_failed": 2}
    html = manager_client.get("/gates/policies/global/").content.decode()
    assert "pass rate ≥ 97.5%, failed ≤ 2" in html


def test_the_first_requirement_of_a_portfolio_creates_its_policy(manager_client, manager, propagate_now):
    f.GatePolicyFactory(portfolio=None)
    portfolio = f.PortfolioFactory(name="Claims")
    response = propagate_now(manager_client.post, f"/gates/policies/{portfolio.pk}/add/", _form())
    assert response.status_code == 302
    policy = GatePolicy.objects.get(portfolio=portfolio)
    assert policy.name == "Claims release policy"
    assert list(policy.requirements.values_list("name", flat=True)) == ["DORA check"]
    assert AuditEvent.objects.filter(action="gatepolicy.create", actor=manager).count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"signer_group": ""}, "signer_group", "needs the group whose members sign it"),
        ({"approvals_required": "0"}, "signer_group", "has no signers"),
        ({"approvals_required": "-1"}, "approvals_required", "greater than or equal to 0"),
        ({"kind": "nonsense"}, "kind", "Select a valid choice"),
        ({"signer_group": "999999"}, "signer_group", "Select a valid choice"),
        ({"kind": "compliance", "name": "PCI review"}, "name", "already has a Compliance gate named"),
        ({"min_pass_rate": "101"}, "min_pass_rate", "less than or equal to 100"),
        ({"max_failed": "3"}, "max_failed", "Only QA gates read this."),
        ({"due_days_before_target": "x"}, "due_days_before_target", "Enter a whole number."),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(world, manager_client, changes, field, message):
    response = manager_client.post(
        f"/gates/policies/{world['payments'].pk}/add/", _form(**changes), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert 'class="field field-error"' in html
    assert world["own"].requirements.count() == 2
    assert not AuditEvent.objects.exists()


def test_editing_a_requirement_updates_it(world, manager_client, propagate_now):
    release = _release(world["payments"])
    gates_sync_for_release(release=release)
    pci = GateRequirement.objects.get(name="PCI review")
    data = _edit_form(
        pci,
        kind="compliance",
        name="PCI review",
        signer_group=str(pci.signer_group_id),
        approvals_required="3",
    )
    response = propagate_now(
        manager_client.post, f"/gates/policies/requirements/{pci.pk}/edit/", data, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "(3 approvals)" in response.content.decode()
    assert _gates(release)["PCI review"].approvals_required == 3


def test_editing_with_bad_input_reopens_that_form(world, manager_client):
    pci = GateRequirement.objects.get(name="PCI review")
    data = _edit_form(pci, kind="compliance", name="QA sign-off", approvals_required="")
    response = manager_client.post(
        f"/gates/policies/requirements/{pci.pk}/edit/", data, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    pci.refresh_from_db()
    assert pci.approvals_required == 2


def test_removing_a_requirement_is_proposed_and_waits(world, manager_client, propagate_now):
    pci = GateRequirement.objects.get(name="PCI review")
    reason = {f"remove-{pci.pk}-reason": "PCI scope moved to the card platform."}
    response = propagate_now(
        manager_client.post, f"/gates/policies/requirements/{pci.pk}/delete/", reason, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "waits for a second person" in html and "A change to it waits for approval" in html
    assert GateRequirement.objects.filter(pk=pci.pk).exists()


def test_removing_without_a_reason_is_a_form_error(world, manager_client):
    pci = GateRequirement.objects.get(name="PCI review")
    response = manager_client.post(f"/gates/policies/requirements/{pci.pk}/delete/", HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "weakens the policy (removes PCI review" in response.content.decode()
    assert GateRequirement.objects.filter(pk=pci.pk).exists() and not AuditEvent.objects.exists()


def test_an_unknown_requirement_is_404(world, manager_client):
    assert manager_client.post("/gates/policies/requirements/999999/delete/").status_code == 404
    assert manager_client.post("/gates/policies/requirements/999999/edit/", {}).status_code == 404


@pytest.mark.parametrize("role", [roles.PROJECT_OFFICE, roles.SECURITY_REVIEWER, roles.AUDITOR])
def test_other_roles_may_not_change_a_policy(world, client_for, role):
    client = client_for(role)
    pci = GateRequirement.objects.get(name="PCI review")
    assert client.post(f"/gates/policies/{world['payments'].pk}/add/", _form()).status_code == 403
    assert client.post("/gates/policies/global/add/", _form()).status_code == 403
    assert client.post(f"/gates/policies/requirements/{pci.pk}/edit/", _edit_form(pci)).status_code == 403
    assert client.post(f"/gates/policies/requirements/{pci.pk}/delete/").status_code == 403
    assert GateRequirement.objects.count() == 5
    denied = AuditEvent.objects.order_by("seq")
    assert {event.action for event in denied} == {"gatepolicy.change.denied"}
    assert [event.after for event in denied] == [
        {"attempt": "requirement_add", "pk": world["payments"].pk},
        {"attempt": "requirement_add"},
        {"attempt": "requirement_edit", "pk": pci.pk},
        {"attempt": "requirement_delete", "pk": pci.pk},
    ]
    assert {event.actor_id for event in denied} == {int(client.session["_auth_user_id"])}


def test_a_post_without_the_csrf_token_is_refused(world, manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    pci = GateRequirement.objects.get(name="PCI review")
    assert client.post(f"/gates/policies/{world['payments'].pk}/add/", _form()).status_code == 403
    assert client.post(f"/gates/policies/requirements/{pci.pk}/edit/", _edit_form(pci)).status_code == 403
    assert client.post(f"/gates/policies/requirements/{pci.pk}/delete/").status_code == 403
    assert GateRequirement.objects.count() == 5


def test_the_pages_only_take_get_for_reading(world, manager_client):
    assert manager_client.post("/gates/policies/").status_code == 405
    assert manager_client.post(f"/gates/policies/{world['payments'].pk}/").status_code == 405
    assert manager_client.get("/gates/policies/global/add/").status_code == 405


def test_names_are_escaped(world, manager_client):
    _requirement(world["own"], "custom", "<script>alert(1)</script>")
    for url in ("/gates/policies/", f"/gates/policies/{world['payments'].pk}/"):
        html = manager_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _more_policies(n: int) -> None:
    """n more portfolios, half of them with an own policy of two requirements, and open releases."""
    for i in range(n):
        portfolio = f.PortfolioFactory()
        if i % 2:
            policy = f.GatePolicyFactory(portfolio=portfolio)
            _requirement(policy, "custom", f"Check {i}")
            _requirement(policy, "qa", "QA sign-off", approvals=0)
        _release(portfolio)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("page", ["list", "portfolio", "global"])
def test_the_policy_pages_query_count_does_not_grow(world, manager_client, page):
    url = {
        "list": "/gates/policies/",
        "portfolio": f"/gates/policies/{world['programme'].pk}/",
        "global": "/gates/policies/global/",
    }[page]
    manager_client.get(url)  # session and permission caches
    _more_policies(2)
    few = _queries(manager_client, url)
    _more_policies(12)
    for n in range(6):
        _requirement(world["child"], "custom", f"Programme check {n}")
        _requirement(world["global"], "custom", f"Global check {n}")
    assert _queries(manager_client, url) == few
    assert few <= 13  # with the header's unread notifications


# --- the admin goes through the same services --------------------------------------------------------


def _inline(rows: list[dict], initial: int = 0) -> dict:
    data = {
        "requirements-TOTAL_FORMS": str(len(rows)),
        "requirements-INITIAL_FORMS": str(initial),
        "requirements-MIN_NUM_FORMS": "0",
        "requirements-MAX_NUM_FORMS": "1000",
    }
    for n, row in enumerate(rows):
        data |= {f"requirements-{n}-{key}": value for key, value in row.items()}
    return data


def _inline_row(requirement=None, **values) -> dict:
    row = {
        "kind": "custom",
        "name": "Admin check",
        "signer_group": str(_group(roles.CHANGE_MANAGER).pk),
        "approvals_required": "1",
        "criteria": "{}",
        "due_days_before_target": "3",
    } | values
    if requirement is not None:
        row |= {"id": str(requirement.pk), "policy": str(requirement.policy_id)}
    return row


def test_the_admin_creates_a_policy_through_the_service(world, superuser_client, superuser):
    portfolio = f.PortfolioFactory()
    data = {"name": "Claims policy", "portfolio": str(portfolio.pk)} | _inline([])
    response = superuser_client.post("/admin/releases/gatepolicy/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = GatePolicy.objects.get(portfolio=portfolio)
    assert AuditEvent.objects.get(action="gatepolicy.create", object_id=str(policy.pk)).actor == superuser


def test_the_admin_shows_requirements_but_does_not_change_them(world, superuser_client):
    """A requirement changed in the admin would skip the second person a weakening needs."""
    pci = world["own"].requirements.get(name="PCI review")
    html = superuser_client.get(f"/admin/releases/gatepolicy/{world['own'].pk}/change/").content.decode()
    assert "PCI review" in html and 'name="requirements-0-approvals_required"' not in html
    rows = [_inline_row(pci, kind="compliance", name="PCI review", approvals_required="0", DELETE="on")]
    data = {"name": world["own"].name} | _inline(rows, initial=1)
    superuser_client.post(f"/admin/releases/gatepolicy/{world['own'].pk}/change/", data)
    pci.refresh_from_db()
    assert pci.approvals_required == 2
    assert not AuditEvent.objects.filter(action__startswith="gaterequirement").exists()


def test_the_admin_does_not_delete_policies(world, superuser_client):
    assert superuser_client.get(f"/admin/releases/gatepolicy/{world['own'].pk}/delete/").status_code == 403


def test_the_queue_links_to_the_policies(client_for):
    assert 'href="/gates/policies/"' in client_for(roles.SECURITY_REVIEWER).get("/gates/").content.decode()


def test_audit_record_many_continues_the_one_chain(manager):
    from django.db import transaction

    from releases.audit import audit_record, audit_record_many

    with transaction.atomic():
        audit_record(actor=manager, action="test.one", object_type="test", object_id="1")
        events = audit_record_many(
            actor=None,
            entries=[{"action": "test.many", "object_type": "test", "object_id": str(n)} for n in range(3)],
        )
        audit_record(actor=manager, action="test.last", object_type="test", object_id="9")
    assert [e.seq for e in events] == [2, 3, 4]
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == [
        "test.one",
        *["test.many"] * 3,
        "test.last",
    ]
    assert audit_verify().as_dict() == {
        "ok": True,
        "checked": 5,
        "bad_seq": None,
        "bad_id": None,
        "problem": "",
    }


@pytest.mark.parametrize(
    "criteria",
    [
        {"min_pass_rate": 95},
        {"min_pass_rate": "high"},
        {"max_failed": -1},
        {"max_open_blockers": 1.5},
        {"result": "running"},
        ["min_pass_rate"],
    ],
)
def test_criteria_the_evidence_cannot_read_are_refused(world, manager, criteria):
    pci = GateRequirement.objects.get(name="PCI review")
    with pytest.raises(ValidationError) as refused:
        gate_requirement_save(policy=world["own"], requirement=pci, by=manager, criteria=criteria)
    assert "criteria" in refused.value.message_dict
    pci.refresh_from_db()
    assert pci.criteria == {} and not AuditEvent.objects.exists()


def test_add_a_requirement_opens_with_valid_defaults(world, manager_client):
    html = manager_client.get(f"/gates/policies/{world['payments'].pk}/").content.decode()
    add = html.split(f'hx-post="/gates/policies/{world["payments"].pk}/add/"', 1)[1].split("</form>", 1)[0]
    reviewers = _group(roles.SECURITY_REVIEWER).pk
    assert re.search(r'<option value="security" selected>', add)
    assert re.search(rf'<option value="{reviewers}" selected>{roles.SECURITY_REVIEWER}</option>', add)
    assert 'name="requirement-approvals_required" value="1"' in add
    assert '<option value="" selected>Nobody' not in add


def test_the_add_form_as_it_opens_only_needs_a_name(world):
    groups = list(Group.objects.order_by("name"))
    opened = GateRequirementForm(policy=world["own"], groups=groups)
    data = {
        f"requirement-{name}": "" if value is None else value
        for name, value in {name: opened[name].value() for name in opened.fields}.items()
    }
    bound = GateRequirementForm(data | {"requirement-name": "Pen test"}, policy=world["own"], groups=groups)
    assert bound.is_valid(), bound.errors
    assert (bound.cleaned_data["signer_group"].name, bound.cleaned_data["approvals_required"]) == (
        roles.SECURITY_REVIEWER,
        1,
    )


def test_with_no_group_to_sign_the_add_form_opens_as_decided_by_evidence(world):
    opened = GateRequirementForm(policy=world["own"], groups=[])
    assert (opened["signer_group"].value(), opened["approvals_required"].value()) == (None, 0)
