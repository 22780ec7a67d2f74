"""The REST API's fixtures: a client holding a personal API token for a user in a role."""

import pytest
from django.test import Client

from portal.api_tokens import api_token_create

PASSWORD = "correct horse battery staple"


class TokenClient(Client):
    """A test client that sends its token on every request, as a pipeline or a script would."""

    def __init__(self, secret: str, user, **defaults):
        super().__init__(HTTP_AUTHORIZATION=f"Bearer {secret}", **defaults)
        self.user, self.secret = user, secret

    def post_json(self, path, data=None, **extra):
        return self.post(path, data or {}, content_type="application/json", **extra)

    def patch_json(self, path, data=None, **extra):
        return self.patch(path, data or {}, content_type="application/json", **extra)


@pytest.fixture
def api_client_for(user_in_role):
    """api_client_for("Auditor") -> a TokenClient for a new user in that role (None: no role)."""

    def make(role: str | None, **fields) -> TokenClient:
        if role is None:
            from tests.factories import UserFactory

            user = UserFactory(**fields)
        else:
            user = user_in_role(role, **fields)
        _, secret = api_token_create(user=user, name="tests")
        return TokenClient(secret, user)

    return make


def assert_problem(response, status: int) -> dict:
    """The answer is RFC 9457 problem details with `status` (application/json unless the client asked
    for application/problem+json)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] in ("application/json", "application/problem+json")
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"] and body["instance"]
    return body
