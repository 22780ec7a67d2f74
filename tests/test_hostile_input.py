"""No input answers 500: every route of the URL conf, as every role, with hostile values.

The routes come from the URL resolver; path converters are filled with real ids of a small seeded
dataset (whose names and versions hold quotes, CR/LF and "../") and with hostile values the converter
accepts. Each route is asked with GET and POST, hostile query parameters and form fields (every field
of the portal's forms), and, under /api/, hostile JSON bodies. Any 5xx fails the test, and so does
markup echoed unescaped into an HTML page; all failures are reported at once, by role, method, URL and
value. Runs on SQLite, and on PostgreSQL with DATABASE_URL=postgres://... (NUL bytes, long strings
and out-of-range numbers are refused differently there).

A GET's values are at most 5,000 characters long: servers refuse longer request lines before Django
sees them (gunicorn at 4,094 bytes). Form fields and bodies carry the megabyte.
"""

import json
import logging
import re
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from unittest import mock

import pytest
from django import forms
from django.contrib.auth.models import Group
from django.http import HttpResponseNotAllowed, QueryDict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.regex_helper import normalize
from django_filters import FilterSet

from portal import roles
from portal.api_tokens import api_token_create
from tests import factories as f

pytestmark = pytest.mark.django_db

NUL = "a\x00b"
LONG = "x" * 5000
MEGABYTE = "m" * (1024 * 1024)
MARKUP = '<b id="hostile">"\'&amp;'
CRLF = "a\r\nb\"'../"
NASTY_NAME = 'Pay"ments\r\n../../etc'  # stored data the pages, headers, mails and zips must survive

# (label, value) for query parameters. The superuser (who passes every permission check, so reaches the
# deepest code) sends each value to each parameter a route reads, alone, so one refused parameter
# cannot hide another; the other roles send one query in which every name holds a different value.
QUERY_VALUES = [
    ("nul", NUL),
    ("long", LONG),
    ("markup", MARKUP),
    ("superscript-two", "²"),
    ("minus-one", "-1"),
    ("huge", "99999999999999999999"),
    ("year-1", "0001-01-01"),
    ("year-9999", "9999-12-31"),
    ("month-1", "0001-01"),
    ("month-9999", "9999-12"),
    ("week-1", "0001-W01"),
    ("week-9999", "9999-W52"),
    ("moment-1", "0001-01-01T00:00:00+14:00"),
    ("moment-9999", "9999-12-31T23:59:59-14:00"),
    ("nan", "nan"),
    ("1e300", "1e300"),
    ("crlf", CRLF),
]
# Sent to every parameter a route reads at once (its filter fields included); the others go to each
# parameter but the filter fields on its own.
SAME_FOR_ALL = {"nul", "long", "markup", "crlf", "nan", "1e300"}
QUERY_NAMES = [
    *("page", "per_page", "sort", "q", "o", "p", "all", "_changelist_filters"),
    *("month", "week", "view", "day", "start", "days", "from", "to", "since", "until"),
    *("portfolio", "application", "train", "status", "gate_state", "when", "at_risk", "show", "kind"),
    *("environment", "version", "release", "build", "token", "override", "saved", "pull_requests"),
    *("starts_at", "ends_at", "purpose", "next"),
]
# Form fields: one value for all of them at once. A megabyte in each would pass the upload limit
# (DATA_UPLOAD_MAX_MEMORY_SIZE refuses it with 400), so the megabyte goes into one field at a time.
FORM_VALUES = [
    ("nul", NUL),
    ("long", "y" * 20_000),
    ("markup", MARKUP),
    ("huge", "99999999999999999999"),
    ("year-9999", "9999-12-31"),
    ("crlf", CRLF),
]
MEGABYTE_FIELDS = ("username", "reason")  # two megabytes: the most one request may upload is 2.5


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


JSON_BODIES = [
    ("malformed", b'{"environment": '),
    ("deep", _deep(100_000)),
    ("deep-object", b'{"a":' * 5000 + b"1" + b"}" * 5000),
    ("not-an-object", b"[1, 2, 3]"),
    ("nul", json.dumps(dict.fromkeys(("environment", "application", "version", "purpose"), NUL)).encode()),
    ("megabyte", json.dumps({"environment": MEGABYTE, "application": "APP", "purpose": MEGABYTE}).encode()),
    ("numbers", b'{"environment": 1e999, "application": -1, "starts_at": 5, "ends_at": null}'),
    (
        "extreme-moments",
        b'{"environment": "1", "application": "APP1", "starts_at": "0001-01-01T00:00:00+14:00", '
        b'"ends_at": "9999-12-31T23:59:59-14:00", "purpose": "x"}',
    ),
]

INT_PATH_VALUES = ["0", "99999999999999999999"]
ADMIN_PATH_VALUES = [NUL, "99999999999999999999"]
TEXT_PATH_VALUES = [NUL, LONG, MARKUP, "²", "0001-01-01", "9999-12-31", "..", CRLF]

ROLES = [
    "anonymous",
    roles.PROJECT_OFFICE,
    roles.RELEASE_MANAGER,
    roles.SECURITY_REVIEWER,
    roles.ENVIRONMENT_ADMIN,
    roles.AUDITOR,
    "superuser",
]
# Ending the session mid-walk would walk the rest as anonymous (that role is walked on its own).
SKIP_POST = {"/logout/", "/admin/logout/"}


def form_field_names() -> list[str]:
    """Every field of the portal's own forms (the admin's are Django's), with the release plan's prefix."""
    names = {"username", "password", "rotate", "token", "csrfmiddlewaretoken"}
    pending = list(forms.BaseForm.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in {"releases", "portal", "integrations"} and "admin" not in (
            cls.__module__
        ):
            names.update(getattr(cls, "base_fields", {}))
    names.discard("csrfmiddlewaretoken")
    return sorted(names | {f"plan-{name}" for name in names})


@dataclass
class Route:
    regex: str
    name: str
    params: list[str]
    converters: dict = field(default_factory=dict)


def _walk(patterns, prefix="", namespace="", converters=None):
    for pattern in patterns:
        regex = pattern.pattern.regex.pattern
        full = prefix + (regex[1:] if prefix and regex.startswith("^") else regex)
        found = {**(converters or {}), **getattr(pattern.pattern, "converters", {})}
        if isinstance(pattern, URLResolver):
            space = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, full, space, found)
        elif isinstance(pattern, URLPattern):
            yield Route(full, f"{namespace}{pattern.name or ''}", normalize(full)[0][1], found)


def routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def _fill(route: Route, values: dict[str, str]) -> str | None:
    template = normalize(route.regex)[0][0]
    path = template % values
    return "/" + path if re.fullmatch(route.regex.rstrip("$").lstrip("^") + "$", path) else None


# --- the seeded data ---------------------------------------------------------------------------


def seed() -> dict[str, str]:
    """A small dataset in which every model a route names exists; names and versions are hostile."""
    portfolio = f.PortfolioFactory(name=NASTY_NAME, parent=f.PortfolioFactory())
    application = f.ApplicationFactory(portfolio=portfolio, name=NASTY_NAME, key="APP1")
    train = f.ReleaseTrainFactory(portfolio=portfolio, name=NASTY_NAME)
    release = f.ReleaseFactory(
        application=application, train=train, version='4.2"\r\n../../x', summary=MARKUP
    )
    upstream = f.ReleaseFactory(application=application)
    dependency = f.ReleaseDependencyFactory(downstream=release, upstream=upstream)
    reviewers = Group.objects.get(name=roles.SECURITY_REVIEWER)
    gate = f.GateFactory(release=release, kind="security", name=NASTY_NAME, signer_group=reviewers)
    f.SignOffFactory(gate=f.GateFactory(release=release, signer_group=reviewers))
    policy = f.GatePolicyFactory(portfolio=portfolio)
    requirement = f.GateRequirementFactory(policy=policy, signer_group=reviewers)
    environment = f.EnvironmentFactory(name=f"uat {NASTY_NAME}")
    booking = f.BookingFactory(environment=environment, application=application, release=release)
    f.FreezeWindowFactory(reason=NASTY_NAME, rrule="FREQ=MONTHLY;BYDAY=1MO")
    f.DeploymentFactory(environment=environment, application=application, version=release.version)
    f.TestRunFactory(release=release, name=NASTY_NAME)
    f.BuildFactory(application=application)
    f.WorkItemFactory(application=application).fix_releases.add(release)
    connection = f.ConnectionFactory()
    run = f.SyncRunFactory(connection=connection)
    user = f.UserFactory()
    token, _ = api_token_create(user=user, name="walk")
    return {
        "release": release.pk,
        "train": train.pk,
        "gate": gate.pk,
        "policy": policy.pk,
        "requirement": requirement.pk,
        "environment": environment.pk,
        "booking": booking.pk,
        "dependency": dependency.pk,
        "connection": connection.pk,
        "run": run.pk,
        "token": token.pk,
        "user": user.pk,
        "portfolio": portfolio.pk,
        "application": application.pk,
        "day": release.target_date.isoformat(),
    }


# Which seeded row a route's id names, by URL name (first match wins); anything else gets the release.
ID_OF = [
    ("releases:train", "train"),
    ("gates:requirement", "requirement"),
    ("gates:", "gate"),
    ("environments:booking", "booking"),
    ("environments:", "environment"),
    ("api:booking", "booking"),
    ("integrations:run", "run"),
    ("integrations:", "connection"),
    ("webhooks:", "connection"),
    ("api-token", "token"),
]
ID_OF_POLICY = ("gates:policy", "gates:requirement-add")


def real_values(route: Route, data: dict) -> dict[str, str]:
    values = {}
    for param in route.params:
        if param == "day":
            values[param] = data["day"]
        elif param == "dependency_pk":
            values[param] = data["dependency"]
        elif route.name.startswith("admin:"):
            model = route.name.split(":")[1].rsplit("_", 1)[0].split("_", 1)[-1]
            values[param] = data.get(model, data["release"])
        elif route.name in ID_OF_POLICY:
            values[param] = data["policy"]
        else:
            values[param] = next((data[key] for prefix, key in ID_OF if route.name.startswith(prefix)), None)
            values[param] = values[param] or data["release"]
        values[param] = str(values[param])
    return values


def hostile_paths(route: Route, real: dict[str, str], values=None) -> list[tuple[str, str]]:
    """(label, URL) with each parameter in turn replaced by each hostile value its converter accepts."""
    urls = []
    for param in route.params:
        for value in values or INT_PATH_VALUES + TEXT_PATH_VALUES:
            url = _fill(route, {**real, param: value})
            if url is not None:
                urls.append((f"{param}={value[:20]!r}", url))
    return urls


# --- the walk ------------------------------------------------------------------------------------


@dataclass
class Walk:
    client: Client
    role: str
    headers: dict
    failures: list = field(default_factory=list)
    requests: int = 0

    def check(self, method: str, url: str, label: str, response) -> None:
        self.requests += 1
        where = f"{self.role} {method} {url[:80]!r} [{label}]"
        if response.status_code >= 500:
            self.failures.append(f"{where}: {response.status_code}")
        elif response.get("Content-Type", "").startswith("text/html") and b'<b id="hostile">' in (
            response.content if not response.streaming else b""
        ):
            self.failures.append(f"{where}: markup echoed unescaped")

    def get(self, url: str, query: dict, label: str):
        response = self.client.get(url, query, headers=self.headers)
        self.check("GET", url, label, response)
        return response

    def post(self, url: str, data, label: str, **extra):
        if url in SKIP_POST:
            return HttpResponseNotAllowed(["GET"])
        response = self.client.post(url, data, headers=self.headers, **extra)
        self.check("POST", url, label, response)
        return response


def _client_for(role: str) -> tuple[Client, dict]:
    client = Client(raise_request_exception=False)
    if role == "anonymous":
        return client, {}
    if role == "superuser":
        user = f.UserFactory(is_staff=True, is_superuser=True)
    else:
        user = f.UserFactory()
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    _, secret = api_token_create(user=user, name="hostile walk")
    return client, {"Authorization": f"Bearer {secret}"}


def _rotation(values: list[tuple[str, str]], names: list[str]):
    """len(values) queries in which every name meets every value once."""
    for k in range(len(values)):
        yield f"rotation {k}", {name: values[(k + i) % len(values)][1] for i, name in enumerate(names)}


@pytest.fixture
def quiet_request_log():
    """Each refusal would log a warning with its traceback: thousands of them are slow and tell nothing."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@contextmanager
def names_read():
    """The query parameter names a request reads (the views, their filtersets and forms)."""
    seen: set[str] = set()

    def recording(method):
        def read(self, key, *args, **kwargs):
            seen.add(key)
            return method(self, key, *args, **kwargs)

        return read

    methods = ("__getitem__", "get", "getlist", "__contains__")
    with ExitStack() as stack:
        for name in methods:
            stack.enter_context(mock.patch.object(QueryDict, name, recording(getattr(QueryDict, name))))
        yield seen


def _url(route: Route, data: dict) -> str:
    real = real_values(route, data)
    for candidate in (real, *(dict.fromkeys(route.params, v) for v in ("releases", "x", "1"))):
        if (url := _fill(route, candidate)) is not None:
            return url, candidate
    raise AssertionError(f"no URL for {route.regex!r}")


def walk_admin(walk: Walk, route: Route, url: str, real: dict) -> None:
    """Django's own admin: hostile ids in the path, and a hostile search on the lists."""
    for label, path in hostile_paths(route, real, values=ADMIN_PATH_VALUES):
        walk.get(path, {}, label)
    if route.name.endswith("_changelist"):
        walk.get(url, {"q": MARKUP, "o": MARKUP, "p": MARKUP}, "markup")


def filter_names() -> set[str]:
    """The fields of the filter sets: django-filter validates them (an unknown value is ignored)."""
    names, pending = set(), list(FilterSet.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        names.update(cls.base_filters)
    return names


def walk_route(walk: Walk, route: Route, url: str, real: dict, full: bool) -> None:
    fields = form_field_names()
    if not full:  # a hostile id, then one GET and one POST with every name holding another value
        for label, path in hostile_paths(route, real, values=INT_PATH_VALUES[1:]):
            walk.get(path, {}, label)
        for label, query in list(_rotation(QUERY_VALUES, QUERY_NAMES))[:1]:
            walk.get(url, query, label)
        for label, form in list(_rotation(FORM_VALUES, fields))[:1]:
            walk.post(url, form, label)
        return
    for label, path in hostile_paths(route, real):
        walk.get(path, {}, label)
        walk.post(path, {}, label)
    with names_read() as names:
        walk.get(url, {}, "plain")
    for label, value in QUERY_VALUES:
        if label in SAME_FOR_ALL:
            walk.get(url, dict.fromkeys(names | {"page", "per_page"}, value), label)
    for name in sorted(names - filter_names()):
        for label, value in QUERY_VALUES:
            if label not in SAME_FOR_ALL:
                walk.get(url, {name: value}, f"{name}={label}")
    posted = walk.post(url, {}, "empty")
    if posted.status_code == 405:
        return  # GET only: the method is refused before anything is read
    for label, value in FORM_VALUES:
        walk.post(url, dict.fromkeys(fields, value), label)
    walk.post(url, dict.fromkeys(MEGABYTE_FIELDS, MEGABYTE), "megabyte")
    if url.startswith("/api/"):
        for label, body in JSON_BODIES:
            walk.post(url, body, f"json {label}", content_type="application/json")


@pytest.mark.parametrize("role", ROLES)
def test_hostile_input_never_answers_500(role, quiet_request_log):
    data = seed()
    client, headers = _client_for(role)
    walk = Walk(client, role, headers)
    full = role == "superuser"
    started = time.monotonic()
    for route in routes():
        url, real = _url(route, data)
        if route.name.startswith("admin:"):
            if full:
                walk_admin(walk, route, url, real)
            continue  # the others are sent to the admin's login by every admin URL
        walk_route(walk, route, url, real, full)
    seconds = time.monotonic() - started
    assert walk.requests > 100
    assert walk.failures == [], f"{len(walk.failures)} of {walk.requests} requests failed:\n" + "\n".join(
        walk.failures
    )
    print(f"{role}: {walk.requests} requests in {seconds:.1f} s")


def test_the_walk_covers_every_route():
    names = {route.name for route in routes()}
    assert {"releases:detail", "calendar:day", "api:bookings", "environments:board", "login"} <= names
    assert len(names) > 100
