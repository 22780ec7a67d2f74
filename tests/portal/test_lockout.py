"""The password lockout: it warns how many tries are left, it counts against (username, client address)
with the address read through trusted proxies only, and so a stranger cannot lock a colleague out."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory

from portal import roles
from portal.client_ip import client_ip
from releases.gates.services.signoffs import gate_state_hash
from releases.models import Gate
from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
PROXY = "10.0.0.1"
ALICE_HOME, STRANGER = "198.51.100.7", "203.0.113.9"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice():
    return f.UserFactory(username="alice", password=PASSWORD)


@pytest.fixture
def behind_proxy(settings):
    settings.FLIGHTDECK_TRUSTED_PROXIES = (PROXY,)
    settings.FLIGHTDECK_TRUSTED_PROXY_COUNT = 0


def _ip(**meta) -> str:
    return client_ip(RequestFactory().get("/", **meta))


def login(username: str, password: str, *, peer: str = PROXY, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": peer} | ({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})
    return Client().post("/login/", {"username": username, "password": password}, **meta)


# --- the client's address -----------------------------------------------------------------------------


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(settings):
    settings.FLIGHTDECK_TRUSTED_PROXIES, settings.FLIGHTDECK_TRUSTED_PROXY_COUNT = (), 0
    assert _ip(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=STRANGER) == PROXY


def test_through_a_trusted_proxy_the_client_is_the_forwarded_address(behind_proxy, settings):
    assert _ip(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ALICE_HOME) == ALICE_HOME
    # A client's own X-Forwarded-For stands left of what the proxy appended: never read.
    assert _ip(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{STRANGER}, {ALICE_HOME}") == ALICE_HOME
    # Two proxies of ours (a network): both skipped.
    settings.FLIGHTDECK_TRUSTED_PROXIES = ("10.0.0.0/24",)
    assert _ip(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{STRANGER}, {ALICE_HOME}, 10.0.0.2") == ALICE_HOME
    assert _ip(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="not-an-address") == PROXY


def test_from_an_untrusted_peer_x_forwarded_for_is_ignored_even_with_a_proxy_configured(behind_proxy):
    assert _ip(REMOTE_ADDR="192.0.2.50", HTTP_X_FORWARDED_FOR=ALICE_HOME) == "192.0.2.50"


def test_a_proxy_count_reads_that_many_hops_left_of_the_peer(settings):
    settings.FLIGHTDECK_TRUSTED_PROXIES, settings.FLIGHTDECK_TRUSTED_PROXY_COUNT = (), 2
    assert _ip(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{STRANGER}, {ALICE_HOME}, 10.0.0.2") == ALICE_HOME
    assert _ip(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ALICE_HOME) == ALICE_HOME


# --- the lockout key ----------------------------------------------------------------------------------


def test_a_strangers_guesses_through_the_proxy_do_not_lock_the_named_user_out(alice, behind_proxy, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login("alice", "guess", forwarded=STRANGER)
    assert login("alice", PASSWORD, forwarded=STRANGER).status_code == 429, "the stranger is paused"
    assert login("alice", PASSWORD, forwarded=ALICE_HOME).status_code == 302, "alice is not"
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {STRANGER}


def test_control_without_the_trusted_proxy_the_stranger_would_lock_alice_out(alice, settings):
    settings.FLIGHTDECK_TRUSTED_PROXIES, settings.FLIGHTDECK_TRUSTED_PROXY_COUNT = (), 0
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login("alice", "guess", forwarded=STRANGER)
    assert login("alice", PASSWORD, forwarded=ALICE_HOME).status_code == 429  # why the setting matters


def test_guesses_from_an_untrusted_peer_count_against_its_own_address_whatever_it_forwards(
    alice, behind_proxy, settings
):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login("alice", "guess", peer="192.0.2.50", forwarded=f"192.0.2.{100 + n}")  # rotating: no escape
    assert login("alice", PASSWORD, peer="192.0.2.50", forwarded="192.0.2.200").status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.50"}


# --- tries left ---------------------------------------------------------------------------------------


def test_the_login_page_says_how_many_tries_are_left(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    first = login("alice", "guess").content.decode()
    assert "Please enter a correct username and password" in first
    assert "2 tries left before sign-in is locked for 15 minutes." in first
    assert "1 try left before sign-in is locked for 15 minutes." in login("alice", "guess").content.decode()
    locked = login("alice", "guess")
    assert locked.status_code == 429 and "Too many wrong passwords" in locked.content.decode()


def test_an_unknown_username_is_told_the_same(settings):
    html = login("nobody", "guess").content.decode()
    assert f"{settings.AXES_FAILURE_LIMIT - 1} tries left before sign-in is locked" in html


@pytest.fixture
def gate():
    reviewers = Group.objects.get(name=roles.SECURITY_REVIEWER)
    release = f.ReleaseFactory(
        application=f.ApplicationFactory(key="PAY"), version="4.2", status="in_progress"
    )
    return f.GateFactory(release=release, kind="security", name="Security", signer_group=reviewers)


def _sign(client, gate, password: str, **meta):
    gate = Gate.objects.select_related("release__application").get(pk=gate.pk)
    data = {
        "decision": "approve",
        "agree": "on",
        "comment": "",
        "password": password,
        "state_hash": gate_state_hash(gate),
    }
    headers = {"HX-Request": "true", "HX-Target": f"gate-{gate.pk}"}
    return client.post(f"/gates/{gate.pk}/sign/", data, headers=headers, **meta)


def test_the_sign_panel_says_how_many_tries_are_left(gate, settings):
    settings.AXES_FAILURE_LIMIT = 3
    sofia = f.UserFactory(username="sofia", password=PASSWORD)
    sofia.groups.add(Group.objects.get(name=roles.SECURITY_REVIEWER))
    client = Client()
    client.force_login(sofia)
    wrong = _sign(client, gate, "guess")
    assert wrong.status_code == 422
    assert "2 tries left before sign-in is locked for 15 minutes." in wrong.content.decode()
    _sign(client, gate, "guess")
    last = _sign(client, gate, "guess").content.decode()
    assert "now paused for 15 minutes" in last


def test_sign_off_guesses_count_against_the_session_user_and_address_only(gate, behind_proxy, settings):
    sofia = f.UserFactory(username="sofia", password=PASSWORD)
    sofia.groups.add(Group.objects.get(name=roles.SECURITY_REVIEWER))
    client = Client()
    client.force_login(sofia)
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": STRANGER}  # a stolen session, say
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign(client, gate, "guess", **meta)
    assert _sign(client, gate, PASSWORD, **meta).status_code == 429
    assert login("sofia", PASSWORD, forwarded=STRANGER).status_code == 429, "the same pair, at sign-in too"
    assert login("sofia", PASSWORD, forwarded=ALICE_HOME).status_code == 302, "from elsewhere: not locked"
