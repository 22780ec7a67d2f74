"""The admin: every registered model opens, list pages keep a constant query count, autocomplete works."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal import roles
from releases.audit import audit_record
from releases.models import AuditEvent, FreezeWindow, SignOff
from tests import factories as f

pytestmark = pytest.mark.django_db

REGISTERED = [
    pytest.param(model, model_admin, id=model._meta.label)
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
]


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def a_few_of_everything(superuser):
    for factory in (
        f.ReleaseDependencyFactory,
        f.GateRequirementFactory,
        f.PolicyChangeFactory,
        f.SignOffFactory,
        f.EnvironmentComponentFactory,
        f.FreezeWindowFactory,
        f.DeploymentFactory,
        f.WorkItemLinkFactory,
        f.ScopeChangeFactory,
        f.BuildFactory,
        f.TestRunFactory,
        f.PullRequestFactory,
        f.ApplicationMappingFactory,
        f.SyncCursorFactory,
        f.SyncRunFactory,
        f.ChatWebhookFactory,
    ):
        factory.create_batch(2)
    f.BookingFactory(approved=True)
    f.BookingFactory(release=f.ReleaseFactory(), application=None)
    f.FreezeWindowFactory(for_portfolio=True)
    f.FreezeWindowFactory(for_environment=True)
    f.ReleaseTrainFactory()
    f.WorkItemFactory().fix_releases.add(f.ReleaseFactory())
    audit_record(actor=superuser, action="test.event", object_type="test", object_id="1")
    guess = {"username": "pat", "ip_address": "192.0.2.7", "user_agent": "test", "path_info": "/login/"}
    AccessAttempt.objects.create(**guess, http_accept="*/*", failures_since_start=5)  # django-axes
    AccessFailureLog.objects.create(**guess, http_accept="*/*", locked_out=True)


def test_every_model_of_the_domain_is_registered():
    registered = {param.id for param in REGISTERED}
    assert {"releases.Release", "releases.Booking", "releases.AuditEvent", "integrations.Connection"} <= (
        registered
    )
    assert "portal.User" in registered


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED)
def test_changelist_add_and_change_pages_open(
    superuser_client, superuser, a_few_of_everything, model, model_admin
):
    changelist = superuser_client.get(_admin_url(model, "changelist"))
    assert changelist.status_code == 200
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {model.__name__} row to show"
    assert str(obj.pk) in changelist.content.decode()

    add = superuser_client.get(_admin_url(model, "add"))
    request = RequestFactory().get("/admin/")
    request.user = superuser
    can_add = model_admin.has_add_permission(request)
    assert add.status_code == (200 if can_add else 403)

    change = superuser_client.get(_admin_url(model, "change", obj.pk))
    assert change.status_code == 200


def test_append_only_records_cannot_be_edited_in_the_admin(superuser_client, a_few_of_everything):
    for model in (SignOff, AuditEvent):
        obj = model.objects.first()
        assert superuser_client.get(_admin_url(model, "add")).status_code == 403
        assert superuser_client.get(_admin_url(model, "delete", obj.pk)).status_code == 403
        page = superuser_client.get(_admin_url(model, "change", obj.pk)).content.decode()
        assert 'name="_save"' not in page


CHANGELIST_FACTORIES = {
    "release": lambda: f.ReleaseFactory(owner=f.UserFactory(), train=f.ReleaseTrainFactory()),
    "booking": lambda: f.BookingFactory(release=f.ReleaseFactory()),
    "gate": lambda: f.GateFactory(evidence_pass_rate=0.9),
    "workitem": f.WorkItemFactory,
}


def _changelist_queries(client, model_name: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(f"admin:releases_{model_name}_changelist"))
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("model_name", CHANGELIST_FACTORIES)
def test_changelist_query_count_does_not_grow_with_rows(superuser_client, model_name):
    make = CHANGELIST_FACTORIES[model_name]
    for _ in range(3):
        make()
    superuser_client.get(reverse(f"admin:releases_{model_name}_changelist"))  # warm the session
    few = _changelist_queries(superuser_client, model_name)
    for _ in range(27):
        make()
    many = _changelist_queries(superuser_client, model_name)
    assert few == many


def test_application_autocomplete_finds_by_key_and_name(superuser_client):
    payments = f.ApplicationFactory(key="PAY", name="Payments")
    f.ApplicationFactory(key="CLM", name="Claims")
    params = {"app_label": "releases", "model_name": "release", "field_name": "application"}
    response = superuser_client.get(reverse("admin:autocomplete"), params | {"term": "pay"})
    assert response.status_code == 200
    assert response.json()["results"] == [{"id": str(payments.pk), "text": "Payments (PAY)"}]
    by_name = superuser_client.get(reverse("admin:autocomplete"), params | {"term": "clai"}).json()
    assert [result["text"] for result in by_name["results"]] == ["Claims (CLM)"]


def test_autocomplete_needs_view_permission(client_for):
    client = client_for(roles.SECURITY_REVIEWER, is_staff=True)
    params = {"app_label": "releases", "model_name": "release", "field_name": "application", "term": "a"}
    assert client.get(reverse("admin:autocomplete"), params).status_code == 200
    nobody = client_for(roles.SECURITY_REVIEWER)
    assert nobody.get(reverse("admin:autocomplete"), params).status_code == 302


def test_a_freeze_window_with_a_malformed_rrule_is_refused_with_a_message(superuser_client):
    data = {
        "scope": "global",
        "starts_at_0": "2030-01-04",
        "starts_at_1": "18:00:00",
        "ends_at_0": "2030-01-07",
        "ends_at_1": "06:00:00",
        "reason": "Weekend",
        "rrule": "FREQ=SOMETIMES",
    }
    response = superuser_client.post(_admin_url(FreezeWindow, "add"), data)
    assert response.status_code == 200
    assert "is not an RFC 5545 RRULE" in response.content.decode()
    assert not FreezeWindow.objects.exists()
    response = superuser_client.post(
        _admin_url(FreezeWindow, "add"), data | {"rrule": "FREQ=WEEKLY;BYDAY=FR"}
    )
    assert response.status_code == 302 and FreezeWindow.objects.get().rrule == "FREQ=WEEKLY;BYDAY=FR"
