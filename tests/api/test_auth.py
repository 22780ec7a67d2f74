"""Who may call the REST API: a personal token (hash only, revocable) or the browser's session with
CSRF; nobody else. The schema and the docs page, served from vendored files."""

import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from portal import roles
from portal.api_tokens import api_token_revoke
from portal.models import ApiToken
from tests import factories as f
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db


def test_a_token_reads_and_its_use_is_noted(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    release = f.ReleaseFactory()
    response = client.get("/api/v1/releases/")
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [release.pk]
    assert ApiToken.objects.get(user=client.user).last_used_at is not None


def test_no_credentials_is_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/releases/", headers={"Accept": "application/problem+json"})
    body = assert_problem(response, 401)
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="flightdeck"'
    assert body["instance"] == "/api/v1/releases/"


@pytest.mark.parametrize("header", ["Bearer fdk_not-a-token", "Bearer nonsense", "Bearer "])
def test_an_unknown_token_is_401(client, header):
    assert_problem(client.get("/api/v1/releases/", headers={"Authorization": header}), 401)


def test_a_revoked_token_is_refused_at_once(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    assert client.get("/api/v1/portfolios/").status_code == 200
    api_token_revoke(token=ApiToken.objects.get(user=client.user), by=client.user)
    body = assert_problem(client.get("/api/v1/portfolios/"), 401)
    assert "revoked" in body["detail"]


def test_an_inactive_users_token_is_refused(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    client.user.is_active = False
    client.user.save()
    assert_problem(client.get("/api/v1/portfolios/"), 401)


def test_the_session_reads_for_the_browser(client_for):
    client = client_for(roles.PROJECT_OFFICE)
    f.PortfolioFactory()
    assert client.get("/api/v1/portfolios/").json()["count"] == 1


def test_a_session_write_needs_the_csrf_token(user_in_role):
    user = user_in_role(roles.ENVIRONMENT_ADMIN)
    booking = f.BookingFactory(requester=user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    url = f"/api/v1/bookings/{booking.pk}/cancel/"
    body = assert_problem(client.post(url, {}, content_type="application/json"), 403)
    assert "CSRF" in body["detail"]
    assert booking.__class__.objects.get(pk=booking.pk).status == "requested"

    client.get("/api/v1/bookings/")  # any page sets the CSRF cookie; the docs page does for the browser
    client.get("/profile/")
    token = client.cookies["csrftoken"].value
    response = client.post(url, {}, content_type="application/json", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_a_token_write_needs_no_csrf_token(api_client_for):
    client = api_client_for(roles.ENVIRONMENT_ADMIN)
    client.enforce_csrf_checks = True
    booking = f.BookingFactory(requester=client.user)
    response = client.post_json(f"/api/v1/bookings/{booking.pk}/cancel/")
    assert response.status_code == 200


def test_the_schema_is_openapi_3_and_describes_every_resource(api_client_for):
    response = api_client_for(roles.PROJECT_OFFICE).get(
        "/api/schema/", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for resource in ("portfolios", "applications", "trains", "releases", "dependencies", "gates"):
        assert f"/api/v1/{resource}/" in paths
    for resource in ("environments", "bookings", "deployments", "work-items", "builds", "test-runs"):
        assert f"/api/v1/{resource}/" in paths
    assert {"/api/v1/sync-runs/", "/api/v1/audit-events/", "/api/v1/gates/{id}/sign-off/"} <= paths
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token (fdk_...).",
    }


def test_the_schema_needs_a_login(client):
    assert_problem(client.get("/api/schema/"), 401)


def test_the_schema_generates_without_warnings():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "openapi: 3" in out.getvalue()


def test_the_docs_page_loads_nothing_from_a_cdn(client_for):
    response = client_for(roles.PROJECT_OFFICE).get("/api/docs/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html


def test_unknown_routes_under_the_api_are_problems(api_client_for):
    body = assert_problem(api_client_for(roles.PROJECT_OFFICE).get("/api/v1/nothing-here/"), 404)
    assert body["title"] == "Not Found"


def test_tokens_last_use_is_not_written_on_every_request(api_client_for):
    client = api_client_for(roles.PROJECT_OFFICE)
    client.get("/api/v1/portfolios/")
    first = ApiToken.objects.get(user=client.user).last_used_at
    client.get("/api/v1/portfolios/")
    assert ApiToken.objects.get(user=client.user).last_used_at == first <= timezone.now()


def test_the_kept_pipeline_paths_are_described_and_answer_as_before(api_client_for):
    client = api_client_for(roles.PIPELINE)
    paths = client.get("/api/schema/?format=json").json()["paths"]
    kept = {
        "/api/can-deploy",
        "/api/junit",
        "/api/bookings",
        "/api/bookings/{id}/cancel",
        "/api/environments",
    }
    assert kept | {"/api/releases/{id}/gates"} <= set(paths)
    assert set(paths["/api/bookings"]) == {"get", "post"}
    # Still the pipeline API: token only, {"detail": ...} errors.
    release = f.ReleaseFactory()
    assert client.get(f"/api/releases/{release.pk}/gates").json()["release"]["id"] == release.pk
    assert client.get("/api/can-deploy").json() == {
        "detail": "Missing query parameter: application, version, environment."
    }
