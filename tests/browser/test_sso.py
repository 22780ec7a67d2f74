"""A reviewer signs in with the identity provider (a real OpenID provider on loopback), opens a gate,
signs in again there to sign, and approves it; the gate passes with their signature."""

import pytest
from django.contrib.auth.models import Group

from portal.roles import SECURITY_REVIEWER
from releases.models import Gate, SignOff
from tests import factories as f
from tests.portal.oidc_provider import CLIENT_ID, CLIENT_SECRET, Person, Provider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def provider(settings):
    with Provider() as running:
        running.person = Person(given_name="Sofia", family_name="Martins", groups=["fd-reviewers"])
        settings.OIDC_ISSUER = running.issuer
        settings.OIDC_CLIENT_ID = CLIENT_ID
        settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
        settings.OIDC_PROVIDER_NAME = "Test IdP"
        settings.OIDC_ROLE_MAP = {"fd-reviewers": [SECURITY_REVIEWER]}
        yield running


@pytest.fixture
def gate():
    release = f.ReleaseFactory(
        application=f.ApplicationFactory(key="PAY", name="Payments Hub"),
        version="4.2",
        owner=f.UserFactory(username="rita"),
        status="in_progress",
    )
    return f.GateFactory(
        release=release,
        kind="security",
        name="Security",
        signer_group=Group.objects.get(name=SECURITY_REVIEWER),
        evidence_ok=True,
        evidence_summary="0 critical findings",
        evidence_at=f.moment(0),
    )


def test_a_reviewer_signs_in_and_signs_a_gate_through_the_provider(page, provider, gate, screenshot):
    page.goto(f"/login/?next=/gates/{gate.pk}/")
    screenshot("sso-login")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.wait_for_url(f"**/gates/{gate.pk}/")

    card = page.locator(f"#gate-{gate.pk}")
    assert card.locator("input[name=password]").count() == 0
    card.get_by_role("button", name="Sign in again with Test IdP").click()
    page.locator(".alert, .messages", has_text="You signed in again with Test IdP").first.wait_for()
    assert provider.authorize_requests[-1]["prompt"] == "login"

    card = page.locator(f"#gate-{gate.pk}")
    card.locator("input[name=agree]").check()
    screenshot("sso-gate-signing")
    card.locator("button[value=approve]").click()
    page.locator(f"#gate-{gate.pk} .saved").wait_for()
    assert Gate.objects.get(pk=gate.pk).status == "passed"
    assert SignOff.objects.get().signer_name == "Sofia Martins"
