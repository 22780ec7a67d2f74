"""A reviewer makes an API token for a pipeline on the profile page, the pipeline asks can-deploy with
it, the reviewer revokes it and the pipeline is refused; an auditor downloads a release's evidence."""

import io
import zipfile

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import AUDITOR, SECURITY_REVIEWER
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def person(username: str, role: str) -> User:
    user = User.objects.create_user(
        username, password=PASSWORD, first_name=username.title(), last_name="Tester"
    )
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def release():
    release = f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), version="4.2")
    f.GateFactory(release=release, kind="security", name="Security review")
    f.EnvironmentFactory(name="prod", kind="prod")
    return release


def test_a_pipeline_token_is_made_used_and_revoked(page, release, screenshot):
    person("sam", SECURITY_REVIEWER)
    page.goto("/profile/")
    submit_login(page, "sam", PASSWORD)
    page.wait_for_url("**/profile/")
    assert page.locator("#api-tokens").get_by_text("You have no API tokens.").is_visible()

    page.fill("#id_name", "Jenkins PAY")
    page.click("text=Create token")
    secret = page.locator("#new-token").input_value()
    assert page.get_by_text("shown only this once").is_visible()
    assert page.url.endswith("/profile/")  # swapped in place by HTMX
    screenshot("profile-api-token-created")

    ask = "/api/can-deploy?application=PAY&version=4.2&environment=prod"
    answer = page.request.get(ask, headers={"Authorization": f"Bearer {secret}"})
    assert answer.status == 200
    assert answer.json()["allowed"] is False
    assert answer.json()["reasons"] == ["Gate “Security review” (Security) is pending."]

    page.reload()
    assert page.locator("#new-token").count() == 0  # shown once, never again
    row = page.locator("#api-tokens tbody tr")
    assert "Jenkins PAY" in row.inner_text() and secret[:12] in row.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    page.get_by_text("Token “Jenkins PAY” revoked").wait_for()
    screenshot("profile-api-token-revoked")

    refused = page.request.get(ask, headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401


def test_an_auditor_downloads_the_evidence_package(page, release):
    person("audrey", AUDITOR)
    page.goto(f"/releases/{release.pk}/")
    submit_login(page, "audrey", PASSWORD)
    page.wait_for_url(f"**/releases/{release.pk}/")
    with page.expect_download() as download:
        page.click("text=Export evidence package")
    path = download.value.path()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        names = sorted(name.split("/", 1)[1] for name in archive.namelist())
    assert names == ["evidence.json", "report.html"]
    assert download.value.suggested_filename.startswith("evidence-PAY-4.2-")
