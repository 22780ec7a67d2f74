"""The Django admin writes through the services the pages use: a refusal there is the service's
refusal (shown on the form, nothing saved, never a 500), a release added there gets its gates, and
gates, sign-offs and audit events are only read there."""

from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from releases import tasks
from releases.admin import ServiceAdmin
from releases.audit import audit_record
from releases.models import (
    AuditEvent,
    Environment,
    FreezeWindow,
    Gate,
    Portfolio,
    Release,
    ReleaseDependency,
    SignOff,
)
from releases.planning.services.releases import release_update
from tests import factories as f

pytestmark = pytest.mark.django_db

FREEZE_MESSAGE = (
    "2030-01-18 to 2030-01-18 is frozen (“Quarter close”): an admin must override the freeze for this "
    "release first."
)


@pytest.fixture(autouse=True)
def no_forecast(monkeypatch):
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: None)


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:releases_{model._meta.model_name}_{view}", args=args)


def _inline(total: int = 0, initial: int = 0) -> dict:
    return {
        "upstream_links-TOTAL_FORMS": str(total),
        "upstream_links-INITIAL_FORMS": str(initial),
        "upstream_links-MIN_NUM_FORMS": "0",
        "upstream_links-MAX_NUM_FORMS": "1000",
    }


def _release_form(release: Release | None = None, **changes) -> dict:
    data = {
        "application": release.application_id if release else "",
        "train": (release.train_id or "") if release else "",
        "version": release.version if release else "",
        "summary": release.summary if release else "",
        "status": release.status if release else "planned",
        "target_date": release.target_date.isoformat() if release else "",
        "code_freeze_date": "",
        "actual_date": "",
        "owner": "",
    }
    return data | _inline() | changes


@pytest.fixture
def chain():
    """PAY 2.0 depends on CORE 1.0."""
    core = f.ReleaseFactory(application=f.ApplicationFactory(key="CORE"), version="1.0")
    pay = f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), version="2.0")
    f.ReleaseDependencyFactory(downstream=pay, upstream=core)
    return core, pay


# --- dependencies -----------------------------------------------------------------------------------


def test_an_admin_dependency_that_makes_a_cycle_is_refused_naming_it(superuser_client, chain):
    core, pay = chain
    data = {"downstream": core.pk, "upstream": pay.pk, "kind": "ships_before", "note": ""}
    response = superuser_client.post(_url(ReleaseDependency, "add"), data)
    assert response.status_code == 200  # the form again, with the refusal on it
    assert "That would make a cycle: CORE 1.0 → PAY 2.0 → CORE 1.0." in response.content.decode()
    assert ReleaseDependency.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_a_cycle_through_the_release_inline_is_refused_and_nothing_of_the_save_is_kept(
    superuser_client, chain
):
    core, pay = chain
    summary = core.summary
    data = _release_form(core, summary="Changed in the same save") | _inline(total=1)
    data |= {"upstream_links-0-upstream": pay.pk, "upstream_links-0-kind": "ships_with"}
    data |= {"upstream_links-0-note": "", "upstream_links-0-downstream": core.pk}
    response = superuser_client.post(_url(Release, "change", core.pk), data)
    assert response.status_code == 200
    assert "That would make a cycle: CORE 1.0 → PAY 2.0 → CORE 1.0." in response.content.decode()
    core.refresh_from_db()
    assert core.summary == summary
    assert ReleaseDependency.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_admin_dependency_add_and_remove_are_the_services_audited_on_the_release(superuser_client, chain):
    core, pay = chain
    other = f.ReleaseFactory(application=core.application, version="1.1")
    data = {"downstream": pay.pk, "upstream": other.pk, "kind": "ships_with", "note": "together"}
    assert superuser_client.post(_url(ReleaseDependency, "add"), data).status_code == 302
    added = ReleaseDependency.objects.get(upstream=other)
    assert (added.downstream, added.kind, added.note) == (pay, "ships_with", "together")
    event = AuditEvent.objects.get()
    assert (event.action, event.object_type, event.object_id) == (
        "release.dependency_add",
        "releases.release",
        str(pay.pk),
    )
    response = superuser_client.post(_url(ReleaseDependency, "delete", added.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not ReleaseDependency.objects.filter(pk=added.pk).exists()
    assert AuditEvent.objects.filter(action="release.dependency_remove", object_id=str(pay.pk)).count() == 1


def test_a_stored_dependency_is_not_changed_in_place(superuser_client, chain):
    core, pay = chain
    dependency = ReleaseDependency.objects.get()
    data = {"downstream": core.pk, "upstream": pay.pk, "kind": "ships_with", "note": "swapped"}
    response = superuser_client.post(_url(ReleaseDependency, "change", dependency.pk), data)
    assert response.status_code == 403
    dependency.refresh_from_db()
    assert (dependency.downstream, dependency.upstream, dependency.note) == (pay, core, "")


# --- releases ---------------------------------------------------------------------------------------


def test_a_release_added_in_the_admin_gets_its_gates(superuser_client, superuser):
    application = f.ApplicationFactory()
    policy = f.GatePolicyFactory(portfolio=application.portfolio)
    f.GateRequirementFactory(policy=policy, kind="security", name="Pen test", due_days_before_target=5)
    f.GateRequirementFactory(policy=policy, kind="cab", name="CAB")
    response = superuser_client.post(
        _url(Release, "add"),
        _release_form(application=application.pk, version="7.0", target_date=f.day(40).isoformat()),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    release = Release.objects.get(application=application, version="7.0")
    gates = {(gate.kind, gate.name, gate.status) for gate in release.gates.all()}
    assert gates == {("security", "Pen test", "pending"), ("cab", "CAB", "pending")}
    assert release.gates.get(name="Pen test").due_date == f.day(35)
    created = AuditEvent.objects.get(action="release.create")
    assert (created.actor, created.object_id) == (superuser, str(release.pk))


def test_the_application_of_a_stored_release_is_not_changed_in_the_admin(superuser_client):
    release = f.ReleaseFactory()
    application, other = release.application, f.ApplicationFactory()
    response = superuser_client.post(
        _url(Release, "change", release.pk), _release_form(release, application=other.pk, summary="x")
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.application, release.summary) == (application, "x")


# --- a target inside a freeze -----------------------------------------------------------------------


@pytest.fixture
def frozen():
    """A release targeted on 2030-01-10 and a global freeze over 2030-01-18."""
    f.FreezeWindowFactory(
        starts_at=datetime(2030, 1, 18, 8, tzinfo=UTC),
        ends_at=datetime(2030, 1, 18, 20, tzinfo=UTC),
        reason="Quarter close",
    )
    return f.ReleaseFactory(target_date=f.day(3))


def test_release_update_refuses_a_target_inside_a_freeze_without_an_override(frozen):
    with pytest.raises(ValidationError) as refused:
        release_update(release=frozen, by=f.UserFactory(), target_date=f.day(11))
    assert refused.value.message_dict == {"target_date": [FREEZE_MESSAGE]}
    frozen.refresh_from_db()
    assert frozen.target_date == f.day(3)
    assert not AuditEvent.objects.exists()

    release_update(release=frozen, by=f.UserFactory(), target_date=f.day(12))  # the day after is free
    frozen.refresh_from_db()
    assert frozen.target_date == f.day(12)


def test_release_update_lets_an_overridden_release_into_the_freeze(frozen):
    frozen.freeze_override_by, frozen.freeze_override_reason = f.UserFactory(), "Regulatory deadline"
    frozen.save()
    release_update(release=frozen, by=f.UserFactory(), target_date=f.day(11))
    frozen.refresh_from_db()
    assert frozen.target_date == f.day(11)


def test_a_target_already_inside_a_freeze_may_stay_while_other_fields_change(frozen):
    Release.objects.filter(pk=frozen.pk).update(target_date=f.day(11))  # frozen after it was planned
    frozen.refresh_from_db()
    release_update(release=frozen, by=f.UserFactory(), target_date=f.day(11), summary="Kept")
    frozen.refresh_from_db()
    assert (frozen.target_date, frozen.summary) == (f.day(11), "Kept")


def test_the_admin_shows_the_freeze_refusal_on_the_target_date(superuser_client, frozen):
    response = superuser_client.post(
        _url(Release, "change", frozen.pk), _release_form(frozen, target_date=f.day(11).isoformat())
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert FREEZE_MESSAGE in html
    assert 'class="errorlist' in html
    frozen.refresh_from_db()
    assert frozen.target_date == f.day(3)
    assert not AuditEvent.objects.exists()


def test_the_release_page_shows_the_same_freeze_refusal(frozen, user_in_role, client):
    from portal import roles

    client.force_login(user_in_role(roles.RELEASE_MANAGER))
    data = {
        "plan-status": frozen.status,
        "plan-target_date": f.day(11).isoformat(),
        "plan-code_freeze_date": "",
        "plan-actual_date": "",
    }
    response = client.post(f"/releases/{frozen.pk}/edit/", data)
    assert response.status_code == 422
    assert FREEZE_MESSAGE in response.content.decode()
    frozen.refresh_from_db()
    assert frozen.target_date == f.day(3)


# --- read only: gates, sign-offs, the audit trail, the tools' facts ---------------------------------


def test_a_gate_status_is_not_editable_in_the_admin(superuser_client):
    gate = f.GateFactory()
    page = superuser_client.get(_url(Gate, "change", gate.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="status"' not in html and 'name="_save"' not in html
    response = superuser_client.post(
        _url(Gate, "change", gate.pk), {"status": "passed", "release": gate.release_id, "name": gate.name}
    )
    assert response.status_code == 403
    gate.refresh_from_db()
    assert gate.status == "pending"
    assert superuser_client.get(_url(Gate, "add")).status_code == 403
    assert superuser_client.get(_url(Gate, "delete", gate.pk)).status_code == 403
    assert not AuditEvent.objects.exists()


@pytest.fixture
def audit_event(superuser):
    with transaction.atomic():
        return audit_record(actor=superuser, action="test.event", object_type="test", object_id="1")


def test_sign_offs_and_audit_events_have_no_add_change_or_delete(superuser_client, audit_event):
    signoff = f.SignOffFactory()
    for model, obj in ((SignOff, signoff), (AuditEvent, audit_event), (Gate, signoff.gate)):
        assert superuser_client.get(_url(model, "add")).status_code == 403
        assert superuser_client.post(_url(model, "add"), {}).status_code == 403
        assert superuser_client.post(_url(model, "change", obj.pk), {}).status_code == 403
        assert superuser_client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        changelist = superuser_client.get(_url(model, "changelist"))
        assert changelist.status_code == 200
        assert 'name="action"' not in changelist.content.decode()  # no bulk action, delete included
        bulk = {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        superuser_client.post(_url(model, "changelist"), bulk)
    assert SignOff.objects.get() == signoff
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"test.event", "signoff.create"}
    assert AuditEvent.objects.get(pk=audit_event.pk) == audit_event
    assert Gate.objects.get() == signoff.gate


def test_facts_synced_from_the_tools_are_read_only_in_the_admin(superuser_client):
    item = f.WorkItemFactory(title="Synced title")
    for obj in (item, f.BuildFactory(), f.DeploymentFactory()):
        model = type(obj)
        assert superuser_client.get(_url(model, "change", obj.pk)).status_code == 200
        assert superuser_client.get(_url(model, "add")).status_code == 403
        assert superuser_client.post(_url(model, "change", obj.pk), {"title": "typed"}).status_code == 403
        assert superuser_client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    item.refresh_from_db()
    assert item.title == "Synced title"


# --- every admin of the domain writes through services, or not at all --------------------------------


def test_every_domain_admin_saves_through_services_or_is_read_only(rf, superuser):
    """Django's own save_model/delete_model write the row with no rule and no audit event: no admin
    of the domain that may add, change or delete keeps them."""
    request = rf.get("/admin/")
    request.user = superuser
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("releases", "integrations"):
            continue
        saves = model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
        if saves:
            assert type(model_admin).save_model is not admin.ModelAdmin.save_model, model._meta.label
        if model_admin.has_delete_permission(request):
            assert type(model_admin).delete_model is not admin.ModelAdmin.delete_model, model._meta.label
            assert type(model_admin).delete_queryset is not admin.ModelAdmin.delete_queryset
        if saves or model_admin.has_delete_permission(request):
            assert isinstance(model_admin, ServiceAdmin), model._meta.label  # refusals become form errors


def test_a_freeze_window_saved_in_the_admin_is_audited_and_refreshes_the_forecasts(
    superuser_client, monkeypatch, django_capture_on_commit_callbacks
):
    refreshed = []
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: refreshed.append(True))
    data = {
        "scope": "global",
        "starts_at_0": "2030-01-04",
        "starts_at_1": "18:00:00",
        "ends_at_0": "2030-01-07",
        "ends_at_1": "06:00:00",
        "reason": "Weekend",
        "rrule": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(_url(FreezeWindow, "add"), data)
    assert response.status_code == 302
    window = FreezeWindow.objects.get()
    assert AuditEvent.objects.get(action="freezewindow.create").object_id == str(window.pk)
    assert refreshed == [True]
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(_url(FreezeWindow, "delete", window.pk), {"post": "yes"})
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="freezewindow.delete").before["reason"] == "Weekend"
    assert refreshed == [True, True]


def test_environment_components_changed_in_the_admin_are_audited_one_by_one(superuser_client):
    composite, part = f.EnvironmentFactory(name="E2E"), f.EnvironmentFactory(name="SIT-DB")
    data = {
        "name": "E2E",
        "kind": composite.kind,
        "capacity": "1",
        "bookable": "on",
        "owner_group": "",
        "description": "",
        "work_starts": "08:00",
        "work_ends": "18:00",
        "work_days": ["0", "1", "2", "3", "4"],
        "component_links-TOTAL_FORMS": "1",
        "component_links-INITIAL_FORMS": "0",
        "component_links-MIN_NUM_FORMS": "0",
        "component_links-MAX_NUM_FORMS": "1000",
        "component_links-0-component": str(part.pk),
        "component_links-0-composite": str(composite.pk),
    }
    response = superuser_client.post(_url(Environment, "change", composite.pk), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(composite.components.all()) == [part]
    assert AuditEvent.objects.get(action="environmentcomponent.create").after["component_id"] == part.pk


def _portfolio_form(portfolio, **changes) -> dict:
    return {"name": portfolio.name, "slug": portfolio.slug, "parent": portfolio.parent_id or ""} | changes


def test_a_portfolio_parent_loop_is_refused_in_the_admin_and_nothing_is_saved(superuser_client):
    top = f.PortfolioFactory()
    programme = f.PortfolioFactory(parent=top)
    response = superuser_client.post(
        _url(Portfolio, "change", top.pk), _portfolio_form(top, parent=programme.pk)
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["parent"]
    top.refresh_from_db()
    assert top.parent_id is None
    assert not AuditEvent.objects.filter(action="portfolio.update").exists()


def test_a_portfolio_moved_in_the_admin_goes_through_the_service_audited(
    superuser_client, monkeypatch, django_capture_on_commit_callbacks
):
    moved = []
    monkeypatch.setattr(tasks.gate_policy_propagate_task, "delay", lambda **kw: moved.append(kw))
    top, other = f.PortfolioFactory(), f.PortfolioFactory()
    with_parent = _portfolio_form(other, parent=top.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(_url(Portfolio, "change", other.pk), with_parent)
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.parent_id == top.pk
    assert AuditEvent.objects.filter(action="portfolio.update", object_id=str(other.pk)).exists()
    assert moved and other.pk in moved[0]["portfolio_ids"]
