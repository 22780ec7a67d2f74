"""docs/api.md's curl examples that read, run as written against a seeded demo (as the README's are,
tests/test_readme_api.py): none fails, and the ids they name come from the demo."""

from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from portal.api.urls import LIST_RESOURCES
from portal.api_tokens import api_token_create
from releases.models import Booking, Environment, Gate, Release
from tests import test_readme_api

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.fixture
def demo(db):
    call_command(
        "seed_demo", "--scale", "small", "--seed", "1", "--anchor", date.today().isoformat(), verbosity=0
    )
    admin = get_user_model().objects.get(username="admin")
    _, secret = api_token_create(user=admin, name="docs")
    return secret


def test_the_docs_have_a_curl_example_for_each_resource(monkeypatch):
    monkeypatch.setattr(test_readme_api, "README", DOCS)
    paths = {urlsplit(test_readme_api.request_of(c)["url"]).path for c in test_readme_api.api_curls()}
    for resource in LIST_RESOURCES:
        assert f"/api/v1/{resource}/" in paths, resource


def test_the_docs_read_examples_answer_against_the_demo(demo, client, monkeypatch):
    monkeypatch.setattr(test_readme_api, "README", DOCS)
    gate = Gate.objects.select_related("release").filter(release__application__key="PAY").first()
    variables = {
        "$FLIGHTDECK_TOKEN": demo,
        "$RELEASE": str(gate.release_id if gate else Release.objects.first().pk),
        "$GATE": str(gate.pk if gate else Gate.objects.first().pk),
        "$BOOKING": str(Booking.objects.first().pk),
        "$ENVIRONMENT": str(Environment.objects.filter(kind="prod").first().pk),
    }
    reads = [c for c in test_readme_api.api_curls() if test_readme_api.request_of(c)["method"] == "GET"]
    assert len(reads) >= 20
    for command in reads:
        request = test_readme_api.request_of(command)
        url, headers = request["url"], dict(request["headers"])
        for name, value in variables.items():
            url = url.replace(name, value)
            headers = {n: v.replace(name, value) for n, v in headers.items()}
        assert "$" not in url, url
        parts = urlsplit(url)
        response = client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path, headers=headers)
        assert response.status_code < 400, (url, response.content[:500])
