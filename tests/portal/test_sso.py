"""Single sign-on against a real OpenID Connect provider on loopback (tests/portal/oidc_provider.py):
sign-in creates the user with the mapped role, roles follow the groups, unmapped groups are refused with a
readable page, state, nonce and PKCE are checked, local passwords can be off except for the break-glass
admin (still locked out by django-axes), a gate's sign-off needs a fresh sign-in at the provider, and no
token reaches the log."""

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group
from django.test import Client

from portal import roles, sso
from portal.models import SsoIdentity
from releases.gates.audit_words import event_sentence
from releases.gates.services.signoffs import gate_state_hash
from releases.models import AuditEvent, Gate, SignOff
from tests import factories as f
from tests.portal.oidc_provider import CLIENT_ID, CLIENT_SECRET, Person, Provider

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def provider():
    with Provider() as running:
        yield running


@pytest.fixture(autouse=True)
def sso_settings(settings, provider):
    provider.person = Person()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_ROLE_MAP = {
        "fd-reviewers": [roles.SECURITY_REVIEWER],
        "fd-release": [roles.RELEASE_MANAGER],
        "fd-audit": [roles.AUDITOR],
    }
    return settings


def _to_provider(client: Client, path: str = "/login/sso/", **post) -> str:
    """The authorization URL Flightdeck redirects to."""
    response = client.post(path, post) if post or "reauth" in path else client.get(path)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def _provider_answer(authorize_url: str, provider: Provider) -> str:
    """The browser at the provider: it signs the person in and redirects back; the callback's path."""
    assert authorize_url.startswith(provider.issuer + "/authorize?")
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def sign_in(client: Client, provider: Provider):
    return client.get(_provider_answer(_to_provider(client), provider))


def _roles(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


# --- sign-in --------------------------------------------------------------------------------------


def test_sign_in_creates_the_user_with_the_mapped_role(provider):
    client = Client()
    response = sign_in(client, provider)
    assert response.status_code == 302 and response["Location"] == "/"
    ada = SsoIdentity.objects.get(issuer=provider.issuer, subject="sub-ada").user
    assert (ada.username, ada.first_name, ada.email) == ("ada", "Ada", "ada@example.test")
    assert _roles(ada) == {roles.SECURITY_REVIEWER}
    assert not ada.has_usable_password()
    assert int(client.session["_auth_user_id"]) == ada.pk
    assert client.get("/").status_code == 200
    request = provider.authorize_requests[-1]
    assert request["code_challenge_method"] == "S256" and request["code_challenge"]
    assert request["nonce"] and request["state"] and "prompt" not in request
    event = AuditEvent.objects.get(action="user.sso_sign_in")
    assert event.object_id == str(ada.pk)
    words = event_sentence(action=event.action, actor="Ada Lovelace", after=event.after)
    assert (
        words
        == "Ada Lovelace signed in through the identity provider for the first time; roles: Security reviewer"
    )


def test_roles_follow_the_groups_at_every_sign_in(provider):
    sign_in(Client(), provider)
    provider.person = Person(groups=["fd-release", "fd-audit", "someone-elses-group"])
    sign_in(Client(), provider)
    ada = SsoIdentity.objects.get(subject="sub-ada").user
    assert _roles(ada) == {roles.RELEASE_MANAGER, roles.AUDITOR}
    assert SsoIdentity.objects.count() == 1


def test_groups_that_map_to_no_role_are_refused_with_a_readable_page(provider):
    provider.person = Person(groups=["marketing"])
    client = Client()
    response = sign_in(client, provider)
    assert response.status_code == 403
    page = response.content.decode()
    assert "Not signed in" in page and "no group that gives a Flightdeck role" in page and "marketing" in page
    assert "_auth_user_id" not in client.session
    assert not SsoIdentity.objects.exists()


def test_a_local_user_of_the_same_name_is_linked_but_never_the_break_glass_admin(provider, settings):
    settings.BREAK_GLASS_USERNAME = "ada"
    keeper = f.UserFactory(username="ada", password=PASSWORD)
    sign_in(Client(), provider)
    linked = SsoIdentity.objects.get(subject="sub-ada").user
    assert linked != keeper and linked.username == "ada-2"
    assert not keeper.groups.exists()


def test_a_tampered_state_is_refused(provider):
    client = Client()
    callback = _provider_answer(_to_provider(client), provider)
    tampered = callback.replace("state=", "state=x")
    response = client.get(tampered)
    assert (
        response.status_code == 400
        and "does not belong to a sign-in started here" in response.content.decode()
    )
    assert "_auth_user_id" not in client.session
    assert client.get(callback).status_code == 302, "the real answer still works once"
    assert client.get(callback).status_code == 400, "and only once"


def _authlib_state(client: Client) -> tuple[str, dict]:
    session = client.session
    key = next(k for k in list(session.keys()) if k.startswith("_state_flightdeck_"))
    return key, session[key]


@pytest.mark.parametrize("field", ["code_verifier", "nonce"])
def test_the_pkce_verifier_and_the_nonce_are_checked(provider, field):
    """A verifier the provider's challenge does not match, or an ID token for another nonce: refused."""
    client = Client()
    callback = _provider_answer(_to_provider(client), provider)
    session = client.session
    key, stored = _authlib_state(client)
    stored["data"][field] = "not-the-one-sent"
    session[key] = stored
    session.save()
    response = client.get(callback)
    assert response.status_code == 400 and "could not be completed" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_tokens_are_never_logged(provider, caplog):
    caplog.set_level(logging.DEBUG)
    sign_in(Client(), provider)
    assert provider.issued_tokens
    for token in provider.issued_tokens:
        assert token not in caplog.text


# --- local passwords ------------------------------------------------------------------------------


@pytest.fixture
def passwords_off(settings):
    settings.LOCAL_PASSWORDS = False
    settings.BREAK_GLASS_USERNAME = "keeper"
    return (
        f.UserFactory(username="keeper", password=PASSWORD, is_superuser=True, is_staff=True),
        f.UserFactory(username="bob", password=PASSWORD),
    )


def test_with_local_passwords_off_only_the_break_glass_admin_signs_in_with_one(passwords_off):
    page = Client().get("/login/").content.decode()
    assert "Sign in with Test IdP" in page and 'type="password"' not in page
    assert 'type="password"' in Client().get("/login/break-glass/").content.decode()
    for path in ("/login/", "/login/break-glass/"):
        bob = Client()
        bob.post(path, {"username": "bob", "password": PASSWORD})
        assert "_auth_user_id" not in bob.session, path
    keeper = Client()
    assert keeper.post("/login/break-glass/", {"username": "keeper", "password": PASSWORD}).status_code == 302
    assert keeper.get("/").status_code == 200


def test_with_local_passwords_on_the_page_offers_both(settings):
    page = Client().get("/login/").content.decode()
    assert "Sign in with Test IdP" in page and 'type="password"' in page


def test_the_break_glass_admin_is_still_locked_out_after_wrong_passwords(passwords_off, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post("/login/break-glass/", {"username": "keeper", "password": "guess"})
    locked = Client().post("/login/break-glass/", {"username": "keeper", "password": PASSWORD})
    assert locked.status_code == 429


def test_a_password_session_ends_when_local_passwords_are_turned_off(settings):
    bob = Client()
    bob.force_login(
        f.UserFactory(username="bob", password=PASSWORD), backend="portal.sso.LocalPasswordBackend"
    )
    assert bob.get("/").status_code == 200
    settings.LOCAL_PASSWORDS, settings.BREAK_GLASS_USERNAME = False, "keeper"
    assert bob.get("/").status_code == 302


# --- a gate's sign-off ----------------------------------------------------------------------------


@pytest.fixture
def gate():
    owner = f.UserFactory(username="olga")
    release = f.ReleaseFactory(
        application=f.ApplicationFactory(key="PAY"), version="4.2", owner=owner, status="in_progress"
    )
    return f.GateFactory(
        release=release,
        kind="security",
        name="Security",
        signer_group=Group.objects.get(name=roles.SECURITY_REVIEWER),
        evidence_summary="No critical findings",
        evidence_source="Scanner",
        evidence_at=f.moment(1),
    )


def _sign(client: Client, gate) -> object:
    gate = Gate.objects.select_related("release__application").get(pk=gate.pk)
    data = {"decision": "approve", "agree": "on", "comment": "", "state_hash": gate_state_hash(gate)}
    return client.post(f"/gates/{gate.pk}/sign/", data)


def _reauth(client: Client, gate, provider: Provider):
    authorize_url = _to_provider(client, f"/login/sso/reauth/{gate.pk}/")
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    assert (query["prompt"], query["max_age"]) == ("login", "0")
    return client.get(_provider_answer(authorize_url, provider), follow=True)


def test_the_sign_panel_asks_for_the_provider_not_a_password(provider, gate):
    client = Client()
    sign_in(client, provider)
    page = client.get(f"/gates/{gate.pk}/").content.decode()
    assert "Sign in again with Test IdP" in page and 'type="password"' not in page


def test_signing_after_a_fresh_sign_in_at_the_provider_goes_through(provider, gate):
    client = Client()
    sign_in(client, provider)
    page = _reauth(client, gate, provider).content.decode()
    assert "You signed in again with Test IdP" in page
    assert "approve or reject now" in page and "Sign in again with Test IdP</button>" not in page
    response = _sign(client, gate)
    assert response.status_code == 302, response.content.decode()[:2000]
    signoff = SignOff.objects.get(gate=gate)
    assert signoff.signer.username == "ada" and signoff.reauthenticated
    gate.refresh_from_db()
    assert gate.status == "passed"


def test_the_grant_is_used_once_and_for_its_gate_only(provider, gate):
    other = f.GateFactory(
        release=gate.release, kind="qa", name="QA", signer_group=gate.signer_group, evidence_at=f.moment(1)
    )
    client = Client()
    sign_in(client, provider)
    _reauth(client, gate, provider)
    assert _sign(client, other).status_code == 403, "granted for the other gate"
    assert _sign(client, gate).status_code == 302
    _reauth(client, other, provider)
    assert _sign(client, other).status_code == 302
    assert _sign(client, other).status_code in (403, 409), "used up"


@pytest.mark.parametrize(
    "person",
    [Person(auth_time_offset=-600), Person(send_auth_time=False)],
    ids=["stale auth_time", "no auth_time"],
)
def test_signing_without_a_fresh_auth_time_is_refused(provider, gate, person):
    client = Client()
    sign_in(client, provider)
    provider.person = person
    page = _reauth(client, gate, provider).content.decode()
    assert "did not sign you in again just now" in page
    response = _sign(client, gate)
    assert response.status_code == 403
    assert "Signing needs a fresh sign-in with Test IdP" in response.content.decode()
    assert not SignOff.objects.exists()
    assert AuditEvent.objects.filter(action="gate.sign.denied").exists()


def test_signing_without_any_sign_in_again_is_refused(provider, gate):
    client = Client()
    sign_in(client, provider)
    assert _sign(client, gate).status_code == 403
    assert not SignOff.objects.exists()


def test_segregation_of_duties_still_refuses_an_sso_signer(provider, gate):
    client = Client()
    sign_in(client, provider)
    gate.release.owner = SsoIdentity.objects.get().user
    gate.release.save()
    _reauth(client, gate, provider)
    assert _sign(client, gate).status_code == 403
    assert not SignOff.objects.exists()


def test_the_client_is_built_from_discovery(provider):
    metadata = sso.client().load_server_metadata()
    assert metadata["token_endpoint"] == f"{provider.issuer}/token"
