"""POST /api/junit: a pipeline's token uploads a JUnit report to a release (build, environment);
stored once, audited, gate evidence refreshed after the commit; every refusal stores nothing."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from integrations import api as junit_api
from portal import roles
from portal.api_tokens import api_token_create
from releases import tasks
from releases.models import AuditEvent, TestRun
from tests import factories as f
from tests.integrations.payloads import PAYLOADS
from tests.integrations.test_junit_parse import BILLION_LAUGHS, EXPECTED

pytestmark = pytest.mark.django_db

URL = "/api/junit"
PYTEST_REPORT = (PAYLOADS / "junit" / "pytest_failure.xml").read_bytes()


def token_client(user, **client_options) -> Client:
    _, secret = api_token_create(user=user, name="Jenkins")
    return Client(headers={"Authorization": f"Bearer {secret}"}, **client_options)


@pytest.fixture
def pipeline_user():
    """A service account an admin gave the upload permission to (no role holds it)."""
    user = f.UserFactory(username="jenkins-bot")
    user.user_permissions.add(Permission.objects.get(codename="add_testrun"))
    return user


@pytest.fixture
def api(pipeline_user):
    return token_client(pipeline_user)


@pytest.fixture
def release():
    return f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), version="4.2")


@pytest.fixture
def refreshed(monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.gate_evidence_refresh_task, "delay", lambda **kwargs: queued.append(kwargs))
    return queued


def post_xml(api, body: bytes, **params):
    return api.post(URL + "?" + "&".join(f"{k}={v}" for k, v in params.items()), body, "application/xml")


def test_upload_stores_an_audited_test_run_and_refreshes_evidence_after_commit(
    api, release, refreshed, django_capture_on_commit_callbacks
):
    build = f.BuildFactory(application=release.application, number=1234)
    uat = f.EnvironmentFactory(name="uat")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_xml(api, PYTEST_REPORT, release=release.pk, build=build.pk, environment="uat")
    assert response.status_code == 201
    data = response.json()
    run = TestRun.objects.get()
    assert data == {
        "id": run.pk,
        "release": release.pk,
        "build": build.pk,
        "environment": uat.pk,
        "name": "pytest",
        "passed": 0,
        "failed": 1,
        "skipped": 0,
        "errors": 0,
        "flaky": 0,
        "duration_ms": 52,
        "pass_rate": 0.0,
        "created": True,
    }
    assert (run.release, run.build, run.environment, run.source) == (release, build, uat, "junit-upload")
    event = AuditEvent.objects.get(action="testrun.record")
    assert (event.actor.username, event.object_id) == ("jenkins-bot", str(run.pk))
    assert refreshed == [{"release_ids": [release.pk]}]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_dialect_uploads_as_a_multipart_file(api, release, refreshed, name):
    report = (PAYLOADS / "junit" / name).open("rb")
    response = api.post(f"{URL}?release={release.pk}", {"file": report})
    assert response.status_code == 201, response.json()
    passed, failed, skipped, errors, flaky, duration_ms, _ = EXPECTED[name]
    run = TestRun.objects.get()
    assert (run.passed, run.failed, run.skipped, run.errors, run.duration_ms) == (
        passed,
        failed,
        skipped,
        errors,
        duration_ms,
    )
    assert run.build is None and run.environment is None
    assert response.json()["flaky"] == flaky


def test_the_same_report_sent_twice_is_stored_once(api, release, refreshed):
    assert post_xml(api, PYTEST_REPORT, release=release.pk).status_code == 201
    again = post_xml(api, PYTEST_REPORT, release=release.pk)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert TestRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="testrun.record").count() == 1
    uat = f.EnvironmentFactory(name="uat")  # the same report from another environment is another run
    assert post_xml(api, PYTEST_REPORT, release=release.pk, environment=uat.name).status_code == 201
    assert TestRun.objects.count() == 2


def test_a_role_without_the_permission_gets_403_audited(user_in_role, release):
    api = token_client(user_in_role(roles.PROJECT_OFFICE))
    response = post_xml(api, PYTEST_REPORT, release=release.pk)
    assert response.status_code == 403
    assert response.json() == {"detail": "Your account lacks the permission releases.add_testrun."}
    assert not TestRun.objects.exists()
    denied = AuditEvent.objects.get(action="api.denied")
    assert denied.after["permission"] == "releases.add_testrun"


def test_a_browser_session_is_not_a_token_and_a_token_needs_no_csrf(pipeline_user, release, refreshed):
    """The CSRF risk is a page riding the session cookie: under /api/ a session alone gets 401."""
    session = Client(enforce_csrf_checks=True)
    session.force_login(pipeline_user)
    assert post_xml(session, PYTEST_REPORT, release=release.pk).status_code == 401
    assert Client().post(f"{URL}?release={release.pk}", PYTEST_REPORT, "application/xml").status_code == 401
    assert not TestRun.objects.exists()
    with_token = token_client(pipeline_user, enforce_csrf_checks=True)
    assert post_xml(with_token, PYTEST_REPORT, release=release.pk).status_code == 201


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<testsuite><testcase>", "Not a readable JUnit report: Not well-formed XML: no element found"),
        (b"", "Not well-formed XML"),
        (b"<html>502 Bad Gateway</html>", "the root element is <html>"),
        (BILLION_LAUGHS, "Refused: the XML declares a DTD or entities"),
    ],
    ids=["truncated", "empty", "html", "billion-laughs"],
)
def test_bad_xml_is_400_with_the_parsers_message_and_stores_nothing(api, release, body, message):
    response = post_xml(api, body, release=release.pk)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not TestRun.objects.exists()
    assert not AuditEvent.objects.filter(action="testrun.record").exists()


def test_bad_targets_are_refused_and_store_nothing(api, release):
    other_build = f.BuildFactory()  # a build of another application
    cases = [
        ({}, 400, "Missing query parameter: release"),
        ({"release": "abc"}, 400, "must be a number, not 'abc'"),
        ({"release": 999999}, 404, "No release with id 999999."),
        ({"release": release.pk, "build": 999999}, 404, "No build with id 999999."),
        ({"release": release.pk, "environment": "nowhere"}, 404, "No environment named 'nowhere'."),
        ({"release": release.pk, "build": other_build.pk}, 400, "is not a build of PAY."),
    ]
    for params, status, message in cases:
        response = post_xml(api, PYTEST_REPORT, **params)
        assert (response.status_code, message in response.json()["detail"]) == (status, True), params
    assert not TestRun.objects.exists()


def test_a_multipart_form_without_the_file_field_is_400(api, release):
    response = api.post(f"{URL}?release={release.pk}", {"report": "x"})
    assert response.status_code == 400
    assert response.json() == {"detail": "The multipart form has no field named file."}


def test_reports_over_the_size_limit_are_413(api, release, monkeypatch):
    monkeypatch.setattr(junit_api, "MAX_REPORT_BYTES", len(PYTEST_REPORT) - 1)
    response = post_xml(api, PYTEST_REPORT, release=release.pk)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert not TestRun.objects.exists()


def test_only_post(api):
    response = api.get(URL)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
