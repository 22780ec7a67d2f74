"""One way from a refusal to an HTTP answer (releases/errors.py, portal/errors.py), the request parsers
(releases/params.py), and the hostile values found by a probe, each answered 4xx."""

import io
import zipfile
from datetime import date

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage

from integrations.parse import ParseError
from integrations.parse.junit import parse_junit
from portal import roles
from releases import params
from releases.environments.services.bookings import BookingConflict, BookingFrozen
from releases.errors import Conflict, DomainError, NotFound, Refused, form_add_errors
from releases.gates.evidence_package import evidence_package_build
from releases.gates.services.signoffs import BadPassword, SignOffRefused
from releases.mail import mail_send_each
from releases.planning.services.dependencies import DependencyCycle, DependencyRefused
from tests import factories as f

pytestmark = pytest.mark.django_db


# --- the error base and its statuses ---------------------------------------------------------------


def test_the_services_refusals_carry_their_status():
    assert DomainError("x").status == 400
    assert NotFound("x").status == 404
    assert Refused("x").status == 403
    assert Conflict("x").status == 409
    assert issubclass(BookingConflict, Conflict)
    assert BookingFrozen({"starts_at": "Frozen."}).status == 422
    assert issubclass(BookingFrozen, ValidationError)
    assert issubclass(DependencyCycle, Conflict) and issubclass(DependencyRefused, DomainError)
    assert SignOffRefused(["no"]).status == 403
    assert SignOffRefused(["moved on"], conflict=True).status == 409
    assert isinstance(BadPassword(), Refused)
    assert issubclass(ParseError, DomainError)


class _Form(forms.Form):
    name = forms.CharField()


@pytest.mark.parametrize(
    ("error", "field_errors", "form_errors"),
    [
        (ValidationError({"name": "Taken."}), ["Taken."], []),
        (ValidationError({"other": "Elsewhere."}), [], ["Elsewhere."]),
        (ValidationError("No field at all."), [], ["No field at all."]),  # crashed three of four copies
        (ValidationError(["One.", "Two."]), [], ["One.", "Two."]),
        (Conflict("That would make a cycle."), [], ["That would make a cycle."]),
        (DomainError("Bad name.", field="name"), ["Bad name."], []),
    ],
)
def test_form_add_errors_puts_each_message_on_its_field_or_the_form(error, field_errors, form_errors):
    form = _Form({"name": "x"})
    assert form.is_valid()
    form_add_errors(form, error)
    assert form.errors.get("name", []) == field_errors
    assert list(form.non_field_errors()) == form_errors


# --- one mapping for pages, HTMX and the API --------------------------------------------------------


def test_a_refusal_leaving_a_view_is_a_readable_page_its_htmx_message_or_json(client_for, superuser):
    client = client_for(roles.RELEASE_MANAGER)
    page = client.get("/releases/", {"per_page": "-1"})
    assert page.status_code == 400
    assert "The per_page must be from 1 to 500." in page.content.decode()
    assert "Nothing was changed." in page.content.decode()
    htmx = client.get("/releases/", {"per_page": "100000"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 400
    assert htmx["Content-Type"].startswith("text/plain")
    assert htmx.content.decode() == "The per_page must be from 1 to 500."


def test_a_nul_anywhere_is_refused_before_any_view(client_for):
    client = client_for(roles.ENVIRONMENT_ADMIN)
    assert client.get("/calendar/", {"month": "2030-01\x00"}).status_code == 400
    assert client.get("/calendar.ics", {"token": "a\x00b"}).status_code == 400  # anonymous feed
    release = f.ReleaseFactory()
    response = client.post(f"/releases/{release.pk}/freeze-override/", {"reason": "ship\x00it"})
    assert response.status_code == 400


def test_the_api_answers_refusals_in_json(superuser):
    from portal.api_tokens import api_token_create

    _, secret = api_token_create(user=superuser, name="CI")
    auth = {"Authorization": f"Bearer {secret}"}
    from django.test import Client

    client = Client()
    nul = client.get(
        "/api/can-deploy", {"application": "A\x00", "version": "1", "environment": "e"}, headers=auth
    )
    assert nul.status_code == 400 and "NUL" in nul.json()["detail"]
    deep = client.post("/api/bookings", b"[" * 100_000 + b"]" * 100_000, "application/json", headers=auth)
    assert deep.status_code == 400 and deep.json()["detail"].startswith("Send a JSON object")
    extreme = client.get("/api/bookings", {"from": "0001-01-01T00:00:00+14:00"}, headers=auth)
    assert extreme.status_code == 400 and "from" in extreme.json()["errors"]
    superscript = client.get("/api/bookings", {"environment": "²"}, headers=auth)
    assert superscript.status_code == 404  # a name nothing has, not int("²")
    junit = client.post("/api/junit?release=²", b"<testsuite/>", "application/xml", headers=auth)
    assert junit.status_code == 400 and "must be a number" in junit.json()["detail"]
    too_far = client.get("/api/releases/99999999999999999999/gates", headers=auth)
    assert too_far.status_code == 404


def test_a_megabyte_username_is_an_ordinary_failed_login(client):
    response = client.post("/login/", {"username": "u" * (1024 * 1024), "password": "x"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_years_at_the_ends_of_the_calendar_are_refused(client_for):
    client = client_for(roles.PROJECT_OFFICE)
    for query in ({"month": "0001-01"}, {"month": "9999-12"}, {"week": "0001-W01"}, {"week": "9999-W52"}):
        assert client.get("/calendar/", query).status_code == 400
    assert client.get("/calendar/day/0001-01-01/").status_code == 400
    assert client.get("/calendar/day/9999-12-31/").status_code == 400
    for start in ("0001-01-01", "9999-12-31", "9999-W52"):
        assert client.get("/environments/board/", {"start": start}).status_code == 400
    assert client.get("/calendar/", {"month": "2030-01"}).status_code == 200


# --- the parsers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "١٢", "1.5", "1e3", "x", "9" * 25, "-3"])
def test_ids_are_ascii_digits_in_range(value):
    with pytest.raises(DomainError):
        params.object_id(value, name="id")


def test_parsers_give_typed_values():
    assert params.object_id(" 42 ", name="id") == 42
    assert params.object_id("", name="id") is None
    assert params.integer("7", name="n", minimum=1, maximum=10) == 7
    assert params.day("2030-01-07", name="d") == date(2030, 1, 7)
    assert params.moment("2030-01-07T10:00:00+01:00", name="t").isoformat() == "2030-01-07T09:00:00+00:00"
    assert params.text("  ok ", name="t") == "ok"
    assert params.json_object(b"", empty={}) == {}
    for bad in (lambda: params.day("0001-01-01", name="d"), lambda: params.text("a" * 300, name="t")):
        with pytest.raises(DomainError):
            bad()
    with pytest.raises(DomainError):
        params.moment("2030-01-07T10:00:00", name="t")  # no offset: a guess
    with pytest.raises(DomainError):
        params.json_object(b'{"a":' * 100 + b"1" + b"}" * 100)


# --- JUnit times, mail subjects, evidence names -----------------------------------------------------


@pytest.mark.parametrize("time", ["inf", "nan", "1e300", "-5", "-inf"])
def test_a_junit_time_no_run_can_take_is_refused(time):
    body = f'<testsuite name="s" time="{time}"><testcase name="a"/></testsuite>'.encode()
    with pytest.raises(ParseError, match="a duration is a number of seconds"):
        parse_junit(body)


def test_a_junit_time_that_is_a_plain_number_still_counts():
    report = parse_junit(b'<testsuite name="s" time="1.5"><testcase name="a" time="0.5"/></testsuite>')
    assert report.duration_ms == 1500


def test_one_bad_subject_does_not_lose_the_rest_of_the_batch(mailoutbox):
    sent = mail_send_each(
        [
            ("PAY 4.2\r\nBcc: everyone@example.com", "body", None, ["a@example.com"]),
            ("fine", "body", None, ["bad\r\naddress@example.com"]),
            ("also fine", "body", None, ["c@example.com"]),
        ]
    )
    assert sent == 2
    assert [m.subject for m in mailoutbox] == ["PAY 4.2 Bcc: everyone@example.com", "also fine"]
    assert all(isinstance(m, EmailMessage) and "\n" not in m.subject for m in mailoutbox)


def test_the_evidence_names_are_safe_in_the_header_and_inside_the_zip(client_for):
    release = f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), version='4.2"\r\n../../../etc/x')
    package = evidence_package_build(release=release, by=f.UserFactory())
    assert "/" not in package.filename and "\n" not in package.filename and '"' not in package.filename
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        names = archive.namelist()
    assert all(".." not in name and not name.startswith("/") and "\r" not in name for name in names)
    assert all(name.startswith("evidence-PAY-4.2_etc_x-") for name in names)
    response = client_for(roles.AUDITOR).get(f"/releases/{release.pk}/evidence.zip")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="evidence-PAY-4.2_etc_x-')
