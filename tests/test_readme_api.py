"""The README's curl examples, run as written against a seeded demo (the small scale, and the release
demo_api_examples adds, as `dev.py run` does): none answers 404, and each answers what it says."""

import re
import shlex
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from portal.api_tokens import api_token_create

README = Path(__file__).resolve().parents[1] / "README.md"
JUNIT = b"""<testsuite name="contract" tests="2" failures="0"><testcase classname="a" name="b" time="0.1"/>
<testcase classname="a" name="c" time="0.2"/></testsuite>"""


def readme_curls() -> list[list[str]]:
    """Every curl command in the README's sh blocks, split as the shell would (continuation lines and
    quoted line breaks joined; variables not expanded)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        pending = ""
        for line in re.sub(r"\\\n", " ", block).splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the command goes on
                continue
            if words and words[0] == "curl":
                commands.append(words)
            pending = ""
    return commands


def api_curls() -> list[list[str]]:
    return [c for c in readme_curls() if any("/api/" in arg for arg in c)]


def request_of(command: list[str]) -> dict:
    """The method, URL, headers and body a curl command sends."""
    request = {"method": None, "headers": {}, "body": None, "url": None}
    args = iter(command[1:])
    for arg in args:
        if arg == "-H":
            name, _, value = next(args).partition(": ")
            request["headers"][name] = value
        elif arg in ("-d", "--data-binary"):
            request["body"] = next(args)
        elif arg == "-X":
            request["method"] = next(args)
        elif arg.startswith("http"):
            request["url"] = arg
    request["method"] = request["method"] or ("POST" if request["body"] is not None else "GET")
    return request


def test_the_readme_has_the_api_examples_this_test_runs():
    paths = [urlsplit(request_of(c)["url"]).path for c in api_curls()]
    assert "/api/can-deploy" in paths and "/api/junit" in paths and "/api/bookings" in paths
    can_deploy = next(request_of(c)["url"] for c in api_curls() if "/api/can-deploy" in c[-1])
    assert "application=PAY&version=4.2.0&environment=PROD-EU" in can_deploy
    # No example names a release id of its own: ids differ from one database to the next.
    assert all(re.search(r"/releases/\d|release=\d", " ".join(c)) is None for c in api_curls())


@pytest.fixture
def demo(db):
    call_command(
        "seed_demo", "--scale", "small", "--seed", "1", "--anchor", date.today().isoformat(), verbosity=0
    )
    call_command("demo_api_examples", verbosity=0)
    admin = get_user_model().objects.get(username="admin")
    _, secret = api_token_create(user=admin, name="README")
    return secret


def test_the_readme_api_examples_answer_as_they_say_against_the_demo(demo, client):
    variables = {"$FLIGHTDECK_TOKEN": demo}
    answers = []
    for command in api_curls():
        request = request_of(command)
        url = request["url"]
        headers = dict(request["headers"])
        for name, value in variables.items():
            url = url.replace(name, value)
            headers = {n: v.replace(name, value) for n, v in headers.items()}
        assert "$" not in url, f"{url}: the README uses a variable before it sets it"
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) == ("127.0.0.1", 8000)
        body = request["body"]
        if body and body.startswith("@"):  # --data-binary @target/TEST-report.xml: a report
            body = JUNIT
        response = client.generic(
            request["method"],
            f"{parts.path}?{parts.query}" if parts.query else parts.path,
            body or "",
            content_type=headers.pop("Content-Type", "application/x-www-form-urlencoded"),
            headers=headers,
        )
        answer = response.json()
        answers.append((parts.path, response.status_code, answer))
        # The README's next line sets RELEASE or BOOKING to the id this answer gave.
        if parts.path == "/api/can-deploy":
            variables["$RELEASE"] = str(answer.get("release"))
        if parts.path == "/api/bookings" and request["method"] == "POST":
            variables["$BOOKING"] = str(answer.get("booking", {}).get("id"))

    statuses = {path: status for path, status, _ in answers}
    assert all(status < 400 for _, status, _ in answers), answers
    assert statuses["/api/junit"] == 201
    can_deploy = next(answer for path, _, answer in answers if path == "/api/can-deploy")
    assert can_deploy["allowed"] is False and any("is pending" in reason for reason in can_deploy["reasons"])
    cancelled = next(answer for path, _, answer in answers if path.endswith("/cancel"))
    assert cancelled["booking"]["status"] == "cancelled"
