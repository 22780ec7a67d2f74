"""Hardening: a Content-Security-Policy with no inline script, which the pages honour; a Permissions-Policy;
"Cache-Control: private, no-store" on signed-in pages, exports and feeds; a session's idle timeout and
absolute lifetime; production refusing to start without FIELD_ENCRYPTION_KEY."""

import re
import secrets
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from portal import security
from tests import factories as f

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


class InlineScriptFinder(HTMLParser):
    """Whatever in a page would run script that is not a file of this origin."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        for name, value in attrs:
            if re.fullmatch(r"on[a-z]+", name) or name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:...>")
            if name in ("hx-vals", "hx-vars") and "js:" in (value or ""):
                self.found.append(f"<{tag} {name}=js:...>")
        if tag == "script":
            kind = (names.get("type") or "text/javascript").lower()
            executable = kind in ("text/javascript", "module", "application/javascript")
            if executable and not names.get("src"):
                self.found.append("<script> without src")
            self._in_script = executable
        if tag == "style":
            self.found.append("<style> element")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"inline script body: {data.strip()[:60]}")


def inline_script(html: str) -> list[str]:
    finder = InlineScriptFinder()
    finder.feed(html)
    return finder.found


def test_the_finder_finds_what_the_policy_forbids():
    """The control case: each kind of inline script is caught."""
    html = (
        '<script>alert(1)</script><script src="/static/x.js"></script><a onclick="x()">'
        '<div hx-on:click="x()"></div><a href="javascript:x()"></a><style>p{}</style>'
        '<script type="application/json">{"data": 1}</script>'
    )
    assert len(inline_script(html)) == 6


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
)
def test_no_template_holds_inline_script(path):
    text = (TEMPLATES / path).read_text()
    if path == "releases/evidence_report.html":
        # Not a page: the self-contained report inside the evidence package (a zip), read offline.
        # It has a <style> element and never any script.
        assert "<script" not in text and not re.search(r"\son[a-z]+=", text)
        return
    assert inline_script(text) == []


@pytest.fixture
def pages():
    """The main pages, with something on each."""
    release = f.ReleaseFactory()
    gate = f.GateFactory(release=release)
    environment = f.EnvironmentFactory()
    return [
        "/",
        "/releases/",
        f"/releases/{release.pk}/",
        f"/releases/trains/{f.ReleaseTrainFactory().pk}/",
        "/calendar/",
        "/gates/",
        f"/gates/{gate.pk}/",
        "/gates/policies/",
        "/audit/",
        "/environments/",
        f"/environments/{environment.pk}/",
        "/environments/board/",
        "/environments/what-runs-where/",
        "/environments/bookings/queue/",
        "/environments/bookings/new/",
        "/metrics/",
        "/integrations/",
        "/notifications/",
        "/profile/",
        "/api/docs/",
        "/admin/",
    ]


def test_the_main_pages_carry_the_policy_and_hold_no_inline_script(superuser_client, pages):
    for path in pages:
        response = superuser_client.get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
        assert "unsafe-eval" not in policy and "'unsafe-inline'" not in directives["style-src"]
        assert "camera=()" in response["Permissions-Policy"], path
        assert inline_script(response.content.decode()) == [], path


def test_a_new_token_is_shown_without_inline_handlers(superuser_client):
    response = superuser_client.post("/profile/tokens/", {"name": "pipeline"}, follow=True)
    html = response.content.decode()
    assert 'data-copy-from="new-token"' in html
    assert inline_script(html) == []


def test_the_swagger_ui_start_up_script_is_a_file_of_its_own(superuser_client):
    html = superuser_client.get("/api/docs/").content.decode()
    script = re.search(r'<script src="([^"]*script=[^"]*)"', html)
    assert script, "the start-up script is loaded by src"
    response = superuser_client.get(script.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()


def test_htmx_is_configured_not_to_evaluate(superuser_client):
    html = superuser_client.get("/").content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'", html).group(1)
    assert '"allowEval": false' in config
    assert '"includeIndicatorStyles": false' in config


def test_the_anonymous_pages_carry_the_policy_too(client):
    response = client.get("/login/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["Permissions-Policy"]
    assert inline_script(response.content.decode()) == []


# --- Cache-Control ----------------------------------------------------------------------------------


def no_store(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= directives


def test_signed_in_pages_partials_and_exports_are_private_and_never_stored(superuser_client, pages):
    for path in [*pages, "/releases/export.csv", "/audit/export.csv", "/metrics/deployments.csv"]:
        response = superuser_client.get(path)
        assert response.status_code == 200, path
        assert no_store(response), (path, response.get("Cache-Control"))
    partial = superuser_client.get("/releases/", headers={"HX-Request": "true", "HX-Target": "release-list"})
    assert no_store(partial)


def test_a_fresh_signed_in_page_says_exactly_private_no_store(superuser_client):
    assert superuser_client.get("/releases/")["Cache-Control"] == "private, no-store"


def test_the_calendar_feeds_are_private_and_never_stored(superuser):
    """An ICS subscription carries its token in the URL: no shared cache may keep the feed."""
    anonymous = Client()
    response = anonymous.get("/calendar.ics", {"token": superuser.feed_token})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert no_store(response)
    environment = f.EnvironmentFactory()
    response = anonymous.get(f"/environments/{environment.pk}/bookings.ics", {"token": superuser.feed_token})
    assert response.status_code == 200
    assert no_store(response)


def test_api_answers_to_a_token_are_private_and_never_stored(client_for):
    from portal.api_tokens import api_token_create

    user = f.UserFactory()
    _token, secret = api_token_create(user=user, name="ci")
    response = Client().get("/api/v1/releases/", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code in (200, 403)
    assert no_store(response)


def test_anonymous_answers_are_left_as_their_views_say(rf):
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse

    request = rf.get("/somewhere")
    request.user = AnonymousUser()
    response = security.SecurityHeadersMiddleware(lambda request: HttpResponse("public"))(request)
    assert "Cache-Control" not in response
    assert response["Content-Security-Policy"]
    request.user = f.UserFactory()  # the control case
    assert security.SecurityHeadersMiddleware(lambda request: HttpResponse("x"))(request)["Cache-Control"]


# --- the session's lifetime ---------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The middleware's clock, moved by hand."""
    now = {"t": int(time.time())}
    monkeypatch.setattr(security.time, "time", lambda: now["t"])

    def advance(minutes: float) -> int:
        now["t"] += int(minutes * 60)
        return now["t"]

    return advance


def signed_in(response) -> bool:
    return response.status_code == 200 and response.wsgi_request.user.is_authenticated


def test_a_session_idle_for_more_than_30_minutes_is_signed_out(superuser_client, clock):
    assert signed_in(superuser_client.get("/releases/"))
    clock(29)
    assert signed_in(superuser_client.get("/releases/"))
    clock(29)  # 58 minutes since sign-in, never 30 idle
    assert signed_in(superuser_client.get("/releases/"))
    clock(31)
    response = superuser_client.get("/releases/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not superuser_client.get("/").wsgi_request.user.is_authenticated  # signed out for good


def test_a_busy_session_ends_12_hours_after_it_began(superuser_client, clock):
    assert signed_in(superuser_client.get("/releases/"))
    for _ in range(35):  # every 20 minutes for 11 h 40 min
        clock(20)
        assert signed_in(superuser_client.get("/releases/"))
    clock(20)  # 12 h
    assert signed_in(superuser_client.get("/releases/"))
    clock(1)
    assert superuser_client.get("/releases/").status_code == 302


def test_the_timeouts_come_from_the_environment(settings, superuser_client, clock):
    settings.SESSION_IDLE_TIMEOUT = 5 * 60
    assert signed_in(superuser_client.get("/releases/"))
    clock(6)
    assert superuser_client.get("/releases/").status_code == 302


PRINT_SESSION = (
    "from django.conf import settings; "
    "print(settings.SESSION_IDLE_TIMEOUT, settings.SESSION_ABSOLUTE_LIFETIME, settings.SESSION_COOKIE_AGE)"
)


def test_the_session_settings_default_to_30_minutes_and_12_hours_and_are_configurable(manage_py):
    default = manage_py("shell", "--no-imports", "-c", PRINT_SESSION)
    assert default.stdout.split() == ["1800", "43200", "1860"], default.stderr
    configured = manage_py(
        "shell",
        "--no-imports",
        "-c",
        PRINT_SESSION,
        FLIGHTDECK_SESSION_IDLE_MINUTES="10",
        FLIGHTDECK_SESSION_MAX_HOURS="8",
    )
    assert configured.stdout.split() == ["600", "28800", "660"], configured.stderr
    for value in ("0", "half an hour"):
        wrong = manage_py("check", FLIGHTDECK_SESSION_IDLE_MINUTES=value)
        assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
        last_line = wrong.stderr.strip().splitlines()[-1]
        assert "FLIGHTDECK_SESSION_IDLE_MINUTES must be a positive whole number" in last_line


def test_the_mark_of_activity_is_written_at_most_once_a_minute(superuser_client, clock):
    superuser_client.get("/releases/")
    seen = superuser_client.session[security.SESSION_SEEN]
    clock(0.5)
    superuser_client.get("/releases/")
    assert superuser_client.session[security.SESSION_SEEN] == seen
    now = clock(0.6)
    superuser_client.get("/releases/")
    assert superuser_client.session[security.SESSION_SEEN] == now


def test_a_sign_in_starts_the_clocks_and_the_next_request_writes_nothing(client, superuser, clock):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = clock(0)
    client.force_login(superuser)
    assert client.session[security.SESSION_STARTED] == client.session[security.SESSION_SEEN] == now
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/releases/").status_code == 200
    assert not [q for q in queries.captured_queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]


def test_a_session_signed_in_before_the_marks_existed_gets_them(superuser_client, clock):
    session = superuser_client.session
    del session[security.SESSION_STARTED], session[security.SESSION_SEEN]
    session.save()
    now = clock(0)
    assert signed_in(superuser_client.get("/releases/"))
    assert superuser_client.session[security.SESSION_STARTED] == now


# --- production refuses to start without FIELD_ENCRYPTION_KEY --------------------------------------------


def production(**variables) -> dict:
    return {
        "FLIGHTDECK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "flightdeck.example.com",
        "FLIGHTDECK_AUDIT_KEY": secrets.token_urlsafe(40),
        **variables,
    }


def test_production_without_a_field_encryption_key_refuses_to_start_in_one_line(manage_py):
    result = manage_py("check", **production())
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("flightdeck: configuration error:")
    assert "FIELD_ENCRYPTION_KEY is not set" in last_line


def test_a_field_encryption_key_that_is_not_a_fernet_key_is_refused_by_position(manage_py):
    good = Fernet.generate_key().decode()
    result = manage_py("check", **production(FIELD_ENCRYPTION_KEY=f"{good},not-a-key"))
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "key 2 of 2 is not a Fernet key" in last_line
    assert "not-a-key" not in result.stderr  # a key is never echoed


def test_production_starts_with_a_list_of_field_encryption_keys(manage_py):
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    result = manage_py("check", **production(FIELD_ENCRYPTION_KEY=keys))
    assert result.returncode == 0, result.stderr


def test_with_single_sign_on_forms_may_also_go_to_the_identity_provider(client, settings):
    """The sign-off's re-authentication form posts here and is redirected to the provider: form-action
    must allow its origin, or the browser blocks the redirect."""
    assert "form-action 'self';" in client.get("/login/")["Content-Security-Policy"]
    settings.OIDC_ISSUER = "https://idp.example.com/realms/corp"
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "form-action 'self' https://idp.example.com;" in policy
