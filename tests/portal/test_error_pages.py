"""The 400, 403, 404 and 500 pages (portal.errors, handler400/403/404/500 in portal.urls): the portal's
layout, a sentence about what happened, and a way back; the API answers in JSON, HTMX with the sentence
alone; the 400 and 500 pages read no database. The test client runs with DEBUG=False, as production."""

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from portal import roles
from portal.errors import bad_request, server_error
from tests import factories as f

pytestmark = pytest.mark.django_db


def _has_the_layout(page: str) -> None:
    assert '<header class="topbar">' in page and 'class="footer"' in page
    assert "flightdeck.css" in page
    assert 'href="/">Back to Home</a>' in page or "Back to Home</a>" in page


def test_the_404_page_has_the_navigation_and_a_way_back(client_for, settings):
    assert settings.DEBUG is False
    response = client_for(roles.PROJECT_OFFICE).get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    _has_the_layout(page)
    assert '<nav class="mainnav"' in page and ">Releases</a>" in page
    assert "Page not found" in page and "There is no page at this address" in page
    assert "<code>/no/such/page/</code>" in page
    assert 'class="button button-primary" href="/">Back to Home</a>' in page


def test_a_missing_object_is_the_same_404_page(client_for):
    response = client_for(roles.PROJECT_OFFICE).get("/releases/987654/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_the_404_page_escapes_the_address(client_for):
    response = client_for(roles.PROJECT_OFFICE).get("/<script>alert(1)</script>/")
    assert response.status_code == 404
    assert "<script>alert(1)" not in response.content.decode()


def test_an_anonymous_404_is_the_page_without_the_navigation(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    _has_the_layout(page)
    assert "mainnav" not in page


def test_the_403_page_says_what_the_view_said_and_the_role(client_for):
    release = f.ReleaseFactory()
    response = client_for(roles.PROJECT_OFFICE).get(f"/releases/{release.pk}/evidence.zip")
    assert response.status_code == 403
    page = response.content.decode()
    _has_the_layout(page)
    assert '<nav class="mainnav"' in page
    assert "You cannot open this page" in page
    assert "Only auditors and administrators export evidence packages." in page
    assert "You are signed in as Project office" in page


def test_a_403_without_words_says_the_role_does_not_allow_it(client_for):
    response = client_for(roles.PROJECT_OFFICE).get("/releases/new/")  # permission_required, no message
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your role does not allow this page" in page and "Back to Home</a>" in page


def test_a_missing_csrf_token_is_the_403_page_too(user_in_role):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_in_role(roles.RELEASE_MANAGER))
    response = client.post("/releases/new/", {})
    assert response.status_code == 403
    page = response.content.decode()
    _has_the_layout(page)
    assert "without a valid security token" in page and "CSRF cookie not set" not in page


def test_htmx_and_the_api_get_the_sentence_not_the_page(client_for, superuser):
    client = client_for(roles.PROJECT_OFFICE)
    htmx = client.get("/no/such/page/", headers={"HX-Request": "true"})
    assert htmx.status_code == 404 and htmx.content == b""  # static/js/flightdeck.js says what 404 means
    release = f.ReleaseFactory()
    said = client.get(f"/releases/{release.pk}/evidence.zip", headers={"HX-Request": "true"})
    assert said.status_code == 403 and said["Content-Type"].startswith("text/plain")
    assert said.content.decode() == "Only auditors and administrators export evidence packages."
    rest = client.get("/api/v1/no-such-endpoint/")
    assert rest.status_code == 404 and (rest.json()["status"], rest.json()["detail"]) == (404, "Not Found")
    from portal.api_tokens import api_token_create

    _, secret = api_token_create(user=superuser, name="CI")
    legacy = Client().get("/api/no-such-endpoint", headers={"Authorization": f"Bearer {secret}"})
    assert legacy.status_code == 404 and legacy.json() == {"detail": "Not Found"}  # as it always said


def test_the_400_page_has_the_layout_and_reads_no_database(client):
    response = client.get("/", headers={"Host": "evil.example"})  # not in ALLOWED_HOSTS
    assert response.status_code == 400
    page = response.content.decode()
    _has_the_layout(page)
    assert "The request could not be read" in page and "evil.example" not in page
    request = RequestFactory().get("/")
    with CaptureQueriesContext(connection) as queries:
        assert bad_request(request, None).status_code == 400
    assert len(queries) == 0


def test_the_500_page_has_the_layout_without_the_database():
    request = RequestFactory().get("/releases/")
    with CaptureQueriesContext(connection) as queries:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            response = server_error(request)
    assert response.status_code == 500 and len(queries) == 0
    page = response.content.decode()
    _has_the_layout(page)
    assert "Something went wrong" in page and "boom" not in page
