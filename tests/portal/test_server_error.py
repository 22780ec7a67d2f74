"""What no view handled: the database not answering is a 503 with Retry-After, anything else the 500
page; neither reads the database, and the API answers in JSON."""

import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from portal import roles, views
from portal.api_tokens import api_token_create
from portal.errors import server_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(user_in_role):
    client = Client(raise_request_exception=False)
    client.force_login(user_in_role(roles.PROJECT_OFFICE))
    return client


def _failing(error: Exception):
    def fail(*args, **kwargs):
        raise error

    return fail


def test_the_database_not_answering_is_a_503_to_try_again(client, monkeypatch):
    monkeypatch.setattr(views, "needs_attention", _failing(OperationalError("server closed the connection")))
    response = client.get("/")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    page = response.content.decode()
    assert "Flightdeck is unavailable for a moment" in page and "Nothing was changed" in page
    assert 'href="/">Back to Home</a>' in page and "server closed" not in page


def test_any_other_error_is_the_500_page(client, monkeypatch):
    monkeypatch.setattr(views, "needs_attention", _failing(RuntimeError("boom")))
    response = client.get("/")
    assert response.status_code == 500 and "Retry-After" not in response
    assert "Something went wrong" in response.content.decode() and "boom" not in response.content.decode()


@pytest.mark.parametrize(("error", "status"), [(OperationalError("gone"), 503), (RuntimeError("boom"), 500)])
def test_the_error_pages_read_no_database(error, status):
    request = RequestFactory().get("/")
    with CaptureQueriesContext(connection) as queries:
        try:
            raise error
        except type(error):
            response = server_error(request)
    assert response.status_code == status and len(queries) == 0


def test_the_api_answers_an_outage_in_json(monkeypatch, user_in_role):
    from portal.api.views import ReadList
    from tests.api.conftest import TokenClient

    monkeypatch.setattr(ReadList, "list", _failing(OperationalError("gone")))
    user = user_in_role(roles.PROJECT_OFFICE)
    _, secret = api_token_create(user=user, name="tests")
    client = TokenClient(secret, user)
    client.raise_request_exception = False
    response = client.get("/api/v1/releases/")
    assert response.status_code == 503 and response.json()["detail"].startswith(
        "The database is not answering"
    )
