"""The API never shows or changes what the pages would refuse: one table over every endpoint of the
schema (/api/schema/: the resolver's API routes, as drf-spectacular describes them) by every role.

ENDPOINTS has a row per operation, naming the permission the page (or the pipeline API) checks for the
same read or change, taken from the page's own constant where it has one. A new endpoint without a
row fails test_the_table_has_a_row_for_every_endpoint_of_the_schema. Each role (and a user with no
role) then calls each endpoint: a role that lacks the permission gets 403 (401 on the token-only
pipeline edges is never the answer here: every client holds a token), and nothing is written but
the refusal's own audit event (*.denied); a role that holds it is not refused (its empty body may be
400 or 422, an object's state 409, but never 403).
"""

import pytest
from django.contrib.auth.models import Group
from drf_spectacular.generators import SchemaGenerator

from integrations import api as integrations_api
from portal import roles
from releases.environments import api as environments_pipeline
from releases.environments.services.bookings import DECIDE_PERMISSION
from releases.environments.views.bookings import REQUEST_PERMISSION
from releases.gates import api as gates_pipeline
from releases.gates.views import audit as audit_page
from releases.models import AuditEvent, Booking, FreezeWindow, ReleaseDependency
from releases.planning.selectors.release_page import ReleasePage
from releases.querysets import SIGN_PERMISSION
from tests import factories as f
from tests.api.test_reads import _one_of_each

pytestmark = pytest.mark.django_db

EDIT_RELEASE = ReleasePage.EDIT_PERMISSION  # the release page's plan, dependencies and dates
SIGNED_IN = None  # any signed-in user: the integrations page's sync runs


def view(model: str) -> str:
    """Reading a kind of row (the pages show it to the domain's readers: roles.ROLE_PERMISSIONS)."""
    return f"releases.view_{model}"


# (path, method) -> the permission the page checks for the same thing. A callable decides per user
# and object where the page's rule is more than a permission (who signs a gate).
ENDPOINTS = {
    ("/api/v1/portfolios/", "get"): view("portfolio"),
    ("/api/v1/portfolios/{id}/", "get"): view("portfolio"),
    ("/api/v1/applications/", "get"): view("application"),
    ("/api/v1/applications/{id}/", "get"): view("application"),
    ("/api/v1/trains/", "get"): view("releasetrain"),
    ("/api/v1/trains/{id}/", "get"): view("releasetrain"),
    ("/api/v1/releases/", "get"): view("release"),
    ("/api/v1/releases/", "post"): "releases.add_release",
    ("/api/v1/releases/{id}/", "get"): view("release"),
    ("/api/v1/releases/{id}/", "patch"): EDIT_RELEASE,
    ("/api/v1/dependencies/", "get"): view("releasedependency"),
    ("/api/v1/dependencies/", "post"): EDIT_RELEASE,
    ("/api/v1/dependencies/{id}/", "get"): view("releasedependency"),
    ("/api/v1/dependencies/{id}/", "delete"): EDIT_RELEASE,
    ("/api/v1/gates/", "get"): gates_pipeline.READ_PERMISSION,
    ("/api/v1/gates/{id}/", "get"): gates_pipeline.READ_PERMISSION,
    ("/api/v1/gates/{id}/sign-off/", "get"): gates_pipeline.READ_PERMISSION,
    # The gate panel: the sign-off permission, and membership of the gate's signer group.
    ("/api/v1/gates/{id}/sign-off/", "post"): lambda role, objects: (
        SIGN_PERMISSION in roles.ROLE_PERMISSIONS.get(role, ()) and role == objects["gate"].signer_group.name
    ),
    ("/api/v1/environments/", "get"): view("environment"),
    ("/api/v1/environments/{id}/", "get"): view("environment"),
    ("/api/v1/freeze-windows/", "get"): view("freezewindow"),
    ("/api/v1/freeze-windows/", "post"): "releases.add_freezewindow",  # the admin's freeze windows
    ("/api/v1/freeze-windows/{id}/", "get"): view("freezewindow"),
    ("/api/v1/freeze-windows/{id}/", "patch"): "releases.change_freezewindow",
    ("/api/v1/freeze-windows/{id}/", "delete"): "releases.delete_freezewindow",
    ("/api/v1/bookings/", "get"): environments_pipeline.LIST_PERMISSION,
    ("/api/v1/bookings/", "post"): REQUEST_PERMISSION,
    ("/api/v1/bookings/{id}/", "get"): environments_pipeline.LIST_PERMISSION,
    ("/api/v1/bookings/{id}/approve/", "post"): DECIDE_PERMISSION,
    ("/api/v1/bookings/{id}/reject/", "post"): DECIDE_PERMISSION,
    # Someone else's booking: only whoever decides bookings may cancel it (bookings.may_change).
    ("/api/v1/bookings/{id}/cancel/", "post"): DECIDE_PERMISSION,
    ("/api/v1/deployments/", "get"): view("deployment"),
    ("/api/v1/work-items/", "get"): view("workitem"),
    ("/api/v1/builds/", "get"): view("build"),
    ("/api/v1/test-runs/", "get"): view("testrun"),
    ("/api/v1/sync-runs/", "get"): SIGNED_IN,
    ("/api/v1/audit-events/", "get"): audit_page.PERMISSION,
    # The pipeline API's kept paths (portal.api.legacy), with the permissions their views check.
    ("/api/can-deploy", "get"): gates_pipeline.READ_PERMISSION,
    ("/api/releases/{id}/gates", "get"): gates_pipeline.READ_PERMISSION,
    ("/api/junit", "post"): integrations_api.UPLOAD_PERMISSION,
    ("/api/environments", "get"): environments_pipeline.LIST_PERMISSION,
    ("/api/bookings", "get"): environments_pipeline.LIST_PERMISSION,
    ("/api/bookings", "post"): environments_pipeline.REQUEST_PERMISSION,
    ("/api/bookings/{id}/cancel", "post"): DECIDE_PERMISSION,
}
METHODS = ("get", "post", "put", "patch", "delete")


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(path, method) for path, item in schema["paths"].items() for method in item if method in METHODS}


def test_the_table_has_a_row_for_every_endpoint_of_the_schema():
    operations = schema_operations()
    assert operations - set(ENDPOINTS) == set(), "an endpoint without a row in ENDPOINTS"
    assert set(ENDPOINTS) - operations == set(), "a row for an endpoint the schema no longer has"


def _objects() -> dict:
    """A row of every resource, and one object for each endpoint that changes one (another user's)."""
    release = _one_of_each()
    gate = f.GateFactory(
        release=f.ReleaseFactory(status="in_progress"),
        signer_group=Group.objects.get(name=roles.SECURITY_REVIEWER),
    )
    env = f.EnvironmentFactory()
    booking = lambda: f.BookingFactory(environment=env, application=release.application).pk  # noqa: E731
    return {
        "release": release,
        "gate": gate,
        "ids": {
            "/api/v1/portfolios/{id}/": release.application.portfolio_id,
            "/api/v1/applications/{id}/": release.application_id,
            "/api/v1/trains/{id}/": f.ReleaseTrainFactory().pk,
            "/api/v1/releases/{id}/": release.pk,
            "/api/v1/dependencies/{id}/": ReleaseDependency.objects.first().pk,
            "/api/v1/gates/{id}/": gate.pk,
            "/api/v1/gates/{id}/sign-off/": gate.pk,
            "/api/v1/environments/{id}/": env.pk,
            "/api/v1/freeze-windows/{id}/": FreezeWindow.objects.first().pk,
            "/api/v1/bookings/{id}/": booking(),
            "/api/v1/bookings/{id}/approve/": booking(),
            "/api/v1/bookings/{id}/reject/": booking(),
            "/api/v1/bookings/{id}/cancel/": booking(),
            "/api/bookings/{id}/cancel": booking(),
            "/api/releases/{id}/gates": release.pk,
        },
    }


def _call(client, path: str, method: str, objects: dict):
    url = path.replace("{id}", str(objects["ids"].get(path, 0)))
    if method == "get":
        query = {"/api/can-deploy": f"?release={objects['release'].pk}"}.get(path, "")
        return client.get(url + query)
    if path == "/api/junit":
        return client.post(url, b"<testsuite/>", content_type="application/xml")
    return client.generic(method.upper(), url, "{}", content_type="application/json")


def _allowed(needs, role: str | None, objects: dict) -> bool:
    if callable(needs):
        return needs(role, objects)
    return needs is SIGNED_IN or needs in roles.ROLE_PERMISSIONS.get(role, ())


def _writes() -> int:
    """What was changed: audit events other than refusals' (api.denied, gate.sign.denied), decisions."""
    return (
        AuditEvent.objects.exclude(action__endswith=".denied").count()
        + Booking.objects.exclude(status=Booking.Status.REQUESTED).count()
    )


@pytest.mark.parametrize("role", [*roles.ROLES, None])
def test_every_endpoint_answers_each_role_as_the_pages_would(api_client_for, role):
    client = api_client_for(role)
    objects = _objects()
    wrong = []
    for (path, method), needs in ENDPOINTS.items():
        allowed = _allowed(needs, role, objects)
        before = _writes()
        response = _call(client, path, method, objects)
        if allowed and response.status_code in (401, 403):
            wrong.append(f"{method.upper()} {path}: {response.status_code}, the page allows it")
        if not allowed and response.status_code != 403:
            wrong.append(f"{method.upper()} {path}: {response.status_code}, the page refuses it (403)")
        if not allowed and _writes() != before:
            wrong.append(f"{method.upper()} {path}: refused, yet something was written")
    assert wrong == []
