"""Personal API tokens: the services (only a hash stored, audited without the secret, last use noted at
most once a minute) and the profile page's tokens card (create shows the secret once, revoke; HTMX and
plain forms; roles, CSRF, bad input)."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from portal.api_tokens import api_token_create, api_token_revoke, api_token_user
from portal.models import ApiToken
from releases.models import AuditEvent
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(user_in_role):
    return user_in_role(roles.SECURITY_REVIEWER)


@pytest.fixture
def client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the services --------------------------------------------------------------------------------


def test_create_stores_only_the_hash_and_a_prefix(user):
    token, secret = api_token_create(user=user, name=" Jenkins PAY ")
    assert secret.startswith("fdk_") and len(secret) > 40
    token.refresh_from_db()
    assert token.name == "Jenkins PAY"
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:12]
    assert secret not in str(ApiToken.objects.values().get())


def test_create_and_revoke_are_audited_without_the_secret(user):
    token, secret = api_token_create(user=user, name="Jenkins")
    api_token_revoke(token=token, by=user)
    created, revoked = AuditEvent.objects.order_by("seq")
    assert (created.action, created.actor, created.object_id) == ("apitoken.create", user, str(token.pk))
    assert revoked.action == "apitoken.revoke"
    assert revoked.before["revoked_at"] is None and revoked.after["revoked_at"]
    for event in (created, revoked):
        assert secret not in str(event.after) and token.key_hash not in str(event.after)


def test_the_secret_authenticates_its_user_until_revoked(user):
    token, secret = api_token_create(user=user, name="Jenkins")
    assert api_token_user(secret) == user
    api_token_revoke(token=token, by=user)
    assert api_token_user(secret) is None


def test_revoking_twice_changes_nothing(user):
    token, _ = api_token_create(user=user, name="Jenkins")
    first = api_token_revoke(token=token, by=user).revoked_at
    assert api_token_revoke(token=token, by=user).revoked_at == first
    assert AuditEvent.objects.filter(action="apitoken.revoke").count() == 1


@pytest.mark.parametrize("secret", ["", "nope", "fdk_", "fdk_not-a-token", "Bearer x"])
def test_unknown_secrets_name_nobody(user, secret):
    api_token_create(user=user, name="Jenkins")
    assert api_token_user(secret) is None


def test_a_deactivated_users_token_stops_working(user):
    _, secret = api_token_create(user=user, name="Jenkins")
    user.is_active = False
    user.save()
    assert api_token_user(secret) is None


def test_last_use_is_written_at_most_once_a_minute(user, django_assert_num_queries):
    token, secret = api_token_create(user=user, name="Jenkins")
    with django_assert_num_queries(2):  # lookup, stamp
        api_token_user(secret)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # lookup only
        api_token_user(secret)
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    api_token_user(secret)
    token.refresh_from_db()
    assert token.last_used_at > first


# --- the profile page's tokens card ---------------------------------------------------------------


def test_the_profile_lists_my_tokens_only(client, user):
    api_token_create(user=user, name="Jenkins PAY")
    revoked, _ = api_token_create(user=user, name="Old GitHub")
    api_token_revoke(token=revoked, by=user)
    api_token_create(user=f.UserFactory(), name="Someone else's")
    html = client.get("/profile/").content.decode()
    assert "Jenkins PAY" in html and "Old GitHub" in html
    assert "Someone else" not in html
    assert html.count(">Revoke</button>") == 1  # the revoked one has no button
    assert "never" in html  # last used
    assert 'action="/profile/tokens/"' in html


def test_creating_shows_the_secret_once(client, user):
    response = client.post("/profile/tokens/", {"name": "Jenkins PAY"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    html = response.content.decode()
    secret = html.split('id="new-token" readonly value="', 1)[1].split('"', 1)[0]
    assert secret.startswith(token.prefix)
    assert api_token_user(secret) == user
    assert "shown only this once" in html
    assert secret not in client.get("/profile/").content.decode()


def test_creating_with_htmx_returns_the_card(client, user):
    response = client.post("/profile/tokens/", {"name": "Jenkins PAY"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="api-tokens"')
    assert "<h1>" not in html
    assert 'id="new-token"' in html


@pytest.mark.parametrize(("name", "htmx"), [("", False), ("   ", True), ("x" * 101, True)])
def test_a_bad_name_is_a_form_error(client, user, name, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post("/profile/tokens/", {"name": name}, headers=headers)
    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_markup_in_a_token_name_is_escaped(client, user):
    api_token_create(user=user, name="<script>alert(1)</script>")
    html = client.get("/profile/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_user_without_read_access_cannot_create_a_token():
    client = Client()
    client.force_login(f.UserFactory())  # no role
    assert client.post("/profile/tokens/", {"name": "Jenkins"}).status_code == 403
    assert not ApiToken.objects.exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.after) == ("apitoken.create.denied", {"permission": "releases.view_gate"})
    assert 'action="/profile/tokens/"' not in client.get("/profile/").content.decode()


def test_creating_needs_a_post_and_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/profile/tokens/").status_code == 405
    assert client.post("/profile/tokens/", {"name": "Jenkins"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_revoking_my_token(client, user):
    token, secret = api_token_create(user=user, name="Jenkins PAY")
    response = client.post(f"/profile/tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/profile/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_token_user(secret) is None
    assert "revoked" in client.get("/profile/").content.decode()


def test_revoking_with_htmx_returns_the_card(client, user):
    token, _ = api_token_create(user=user, name="Jenkins PAY")
    response = client.post(f"/profile/tokens/{token.pk}/revoke/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="api-tokens"')
    assert "Token “Jenkins PAY” revoked" in html
    assert ">Revoke</button>" not in html


def test_nobody_revokes_someone_elses_token(client):
    token, secret = api_token_create(user=f.UserFactory(), name="Theirs")
    assert client.post(f"/profile/tokens/{token.pk}/revoke/").status_code == 404
    assert client.post("/profile/tokens/999999/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert api_token_user(secret) is not None


def test_revoking_needs_the_csrf_token(user):
    token, _ = api_token_create(user=user, name="Jenkins PAY")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/profile/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def _profile_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/profile/").status_code == 200
    return len(queries)


def test_the_profile_query_count_does_not_grow_with_tokens(client, user):
    api_token_create(user=user, name="First")
    few = _profile_queries(client)
    for i in range(20):
        api_token_create(user=user, name=f"Pipeline {i}")
    assert _profile_queries(client) == few
