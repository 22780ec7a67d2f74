"""Everyone logs in: every route of the URL conf, admin included, refuses an anonymous visitor, except a
short allow-list. Also the shell every signed-in page shares (navigation, role, CSRF header, htmx)."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import URLResolver, get_resolver, path, resolve
from django.utils import timezone
from django.utils.regex_helper import normalize

from portal import roles
from portal import urls as portal_urls
from portal.api_tokens import api_token_create
from tests import factories as f

pytestmark = pytest.mark.django_db

# The only URLs an anonymous visitor may open. Adding to this list is a security decision.
PUBLIC = {"/healthz", "/login/", "/login/break-glass/", "/admin/login/"}

# The pipeline API is token-gated (pipelines cannot log in): without a token every route under it
# answers 401 in JSON, whatever the method (see test_the_api_is_only_open_with_a_token below).
TOKEN_GATED_PREFIX = "/api/"

# Tools cannot log in either: webhooks are public but signed, so an unsigned POST is refused and
# stores nothing (401, or 404 for no such connection; see tests/integrations/test_webhooks.py).
SIGNED_WEBHOOK_PREFIX = "/webhooks/"

SAMPLE_VALUES = ["1", "x", "releases"]


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        regex = pattern.pattern.regex.pattern
        full = prefix + (regex[1:] if prefix and regex.startswith("^") else regex)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, full)
        else:
            yield full, pattern


def _sample_url(regex: str) -> str:
    """A URL the pattern matches: its named groups filled with the first sample value each accepts."""
    template, params = normalize(regex)[0]
    values = dict.fromkeys(params, SAMPLE_VALUES[0])
    for param in params:
        for candidate in SAMPLE_VALUES:
            values[param] = candidate
            if re.match(regex, template % values):
                break
    path = template % values
    assert re.match(regex, path), f"no sample URL for {regex!r}"
    return "/" + path


def all_routes() -> list:
    return [
        pytest.param(_sample_url(regex), pattern, id=_sample_url(regex))
        for regex, pattern in _walk(get_resolver().url_patterns)
    ]


ROUTES = all_routes()


def test_the_walk_covers_the_whole_url_conf_and_the_allow_list_is_current():
    urls = {param.values[0] for param in ROUTES}
    assert len(ROUTES) > 100  # the admin alone has more than a hundred
    assert {"/", "/releases/", "/calendar/", "/admin/", "/admin/releases/release/1/change/"} <= urls
    assert urls >= PUBLIC, "an allow-listed URL no longer exists: remove it from PUBLIC"


def _is_login_redirect(response, url: str) -> bool:
    if response.status_code != 302:
        return False
    location = urlsplit(response["Location"])
    logins = {"/login/", "/admin/login/"} if url.startswith("/admin/") else {"/login/"}
    return location.path in logins and location.query.startswith("next=")


def _exposed(client, url: str) -> str:
    """Why an anonymous visitor gets more than a login page at `url` ("" when they do not)."""
    response = client.get(url)
    if _is_login_redirect(response, url):
        return ""
    if response.status_code not in {404, 405}:
        return f"anonymous GET {url} answered {response.status_code}"
    posted = client.post(url)  # a view that only takes POST must not take an anonymous one either
    if 200 <= posted.status_code < 300:
        return f"anonymous POST {url} answered {posted.status_code}"
    return ""


@pytest.mark.parametrize(("url", "pattern"), ROUTES)
def test_anonymous_visitors_are_sent_to_log_in(client, url, pattern):
    assert resolve(url).func is pattern.callback, f"{url} does not reach the pattern it was built from"
    if url in PUBLIC:
        assert client.get(url).status_code in {200, 503}
    elif url.startswith(TOKEN_GATED_PREFIX):
        for response in (client.get(url), client.post(url)):
            assert response.status_code == 401
            assert response["Content-Type"] == "application/json"
    elif url.startswith(SIGNED_WEBHOOK_PREFIX):
        assert client.get(url).status_code == 405
        assert client.post(url).status_code in {401, 404}
    else:
        assert _exposed(client, url) == ""


# /calendar.ics is public but token-gated (calendar apps cannot log in): the walk above sees its 404.
def test_the_ics_feed_is_only_open_with_a_feed_token(client, user_in_role):
    assert client.get("/calendar.ics").status_code == 404
    assert client.get("/calendar.ics?token=nope").status_code == 404
    token = user_in_role(roles.PROJECT_OFFICE).feed_token
    assert client.get(f"/calendar.ics?token={token}").status_code == 200


def test_the_api_is_only_open_with_a_token(client, superuser):
    client.force_login(superuser)  # a browser session is not a token
    assert client.get("/api/can-deploy").status_code == 401
    _, secret = api_token_create(user=superuser, name="CI")
    response = client.get("/api/can-deploy", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400  # in, and told what is missing
    assert client.get("/api/nothing-here", headers={"Authorization": f"Bearer {secret}"}).json() == {
        "detail": "Not Found"
    }


@login_not_required
def leaky_view(request, pk):
    return HttpResponse("everything about every release")


urlpatterns = [*portal_urls.urlpatterns, path("leak/<int:pk>/", leaky_view)]


@pytest.mark.urls(__name__)
def test_a_new_public_view_would_be_caught(client):
    """The walk and the check above, run on a URL conf with one public view added, name that view."""
    exposed = [
        problem
        for regex, _ in _walk(get_resolver().url_patterns)
        if (url := _sample_url(regex)) not in PUBLIC
        and not url.startswith(TOKEN_GATED_PREFIX)
        and (problem := _exposed(client, url))
    ]
    assert exposed == ["anonymous GET /leak/1/ answered 200"]


# --- the login page and the shell of signed-in pages ---------------------------------------------


def test_login_page_renders_styled(client):
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'rel="stylesheet" href="/static/css/flightdeck.css"' in html
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert "csrfmiddlewaretoken" in html
    assert 'class="mainnav"' not in html


def test_logging_in_with_a_password_lands_on_the_page_asked_for(client):
    f.UserFactory(username="pat", password="correct horse battery staple")
    response = client.post(
        "/login/", {"username": "pat", "password": "correct horse battery staple", "next": "/gates/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/gates/"
    assert client.get("/gates/").status_code == 200


def test_a_wrong_password_shows_an_error(client):
    f.UserFactory(username="pat", password="correct horse battery staple")
    response = client.post("/login/", {"username": "pat", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


NAV = ["Home", "Calendar", "Releases", "Trains", "Gates", "Environments", "Integrations", "Metrics"]


def _nav_labels(html: str) -> list[str]:
    nav = html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


def test_signed_in_pages_share_the_shell(client_for):
    client = client_for(roles.SECURITY_REVIEWER, first_name="Sam", last_name="Reviewer")
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _nav_labels(html) == NAV
    assert "Sam Reviewer" in html
    assert '<span class="badge badge-role">Security reviewer</span>' in html
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[A-Za-z0-9]+\"\}'>", html)
    assert re.search(r'<script src="/static/django_htmx/htmx-2\.min\.js"[^>]*></script>', html)
    assert 'aria-current="page">Home</a>' in html


def test_the_htmx_script_is_served_locally(client_for):
    client = client_for(roles.PROJECT_OFFICE)
    response = client.get("/static/django_htmx/htmx-2.min.js")
    assert response.status_code == 200
    assert b"htmx" in b"".join(response.streaming_content)


def test_staff_also_see_the_admin(superuser_client):
    html = superuser_client.get("/calendar/").content.decode()
    assert _nav_labels(html) == [*NAV, "Audit trail", "Admin"]  # a superuser may read the audit trail
    assert 'aria-current="page">Calendar</a>' in html
    assert '<span class="badge badge-role">Admin</span>' in html
    assert "Rita Root" in html


def test_a_user_without_a_role_still_gets_the_shell(client):
    user = f.UserFactory(first_name="", last_name="")
    client.force_login(user)
    html = client.get("/").content.decode()
    assert user.username in html
    assert "No role" in html


def test_the_metrics_page_is_built_and_marks_its_section(client_for):
    html = client_for(roles.PROJECT_OFFICE).get("/metrics/").content.decode()
    assert "<h1>Metrics</h1>" in html and "Not built yet" not in html
    assert re.findall(r'aria-current="page">([^<]+)</a>', html) == ["Metrics"]


def test_logout_by_post_ends_the_session(client_for):
    client = client_for(roles.AUDITOR)
    assert client.get("/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/")["Location"] == "/login/?next=/"


def test_logout_by_get_is_refused(client_for):
    client = client_for(roles.AUDITOR)
    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200


# --- the home page does not grow its query count with the data -----------------------------------


def _make_data(n: int) -> None:
    environment = f.EnvironmentFactory()
    for i in range(n):
        release = f.ReleaseFactory(target_date=f.day(i % 10))
        f.GateFactory(release=release, due_date=f.day(-5))
        f.BookingFactory(environment=environment)


def _home_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    return len(queries)


def test_home_page_query_count_does_not_grow_with_data(client_for):
    client = client_for(roles.PROJECT_OFFICE)
    client.get("/")  # first request: session and permission caches
    _make_data(2)
    few = _home_queries(client)
    _make_data(40)
    many = _home_queries(client)
    assert few == many
    assert (
        many <= 30
    )  # the tiles, eight attention rules, my queue, what one follows (tests/portal/test_home.py)


def test_home_page_shows_the_live_numbers(client_for):
    client = client_for(roles.PROJECT_OFFICE)
    today = timezone.localdate()
    for _ in range(3):
        release = f.ReleaseFactory(target_date=today)
        f.GateFactory(release=release, due_date=today - timedelta(days=1))
        f.BookingFactory()
    f.ReleaseFactory(target_date=today, released=True)  # shipped: not "due"
    f.GateFactory(due_date=today, status="pending")  # due today: not overdue yet
    f.BookingFactory(approved=True)
    html = client.get("/").content.decode()
    tiles = re.findall(r'<span class="tile-number">([^<]+)</span>', html)
    assert tiles == ["3", "3", "0", "0", "3", "Down"]  # due, gates overdue, blocked, at risk, bookings
