"""A security reviewer opens the queue, opens a release, reads the evidence and signs with the password,
and sees the gate passed; signs a second gate from the queue and sees its row leave in place. Then the
release's owner opens a gate of their release and cannot sign it, and is told why."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import RELEASE_MANAGER, SECURITY_REVIEWER
from releases.models import Gate, SignOff
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def _in_days(n: int) -> date:
    return date.today() + timedelta(days=n)


def _user(username: str, first: str, last: str, *roles_: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD, first_name=first, last_name=last)
    user.groups.add(*Group.objects.filter(name__in=roles_))
    return user


@pytest.fixture
def people():
    sofia = _user("sofia", "Sofia", "Martins", SECURITY_REVIEWER)
    # The owner is a reviewer too: only segregation of duties stops her signing her own release.
    rita = _user("rita", "Rita", "Owner", RELEASE_MANAGER, SECURITY_REVIEWER)
    return sofia, rita


@pytest.fixture
def gates(people):
    _, rita = people
    reviewers = Group.objects.get(name=SECURITY_REVIEWER)
    payments = f.PortfolioFactory(name="Payments")
    app = f.ApplicationFactory(key="PAY", name="Payments Hub", portfolio=payments)
    pay = f.ReleaseFactory(
        application=app, version="4.2", owner=rita, status="in_progress", target_date=_in_days(10)
    )
    security = f.GateFactory(
        release=pay,
        kind="security",
        name="Security",
        signer_group=reviewers,
        due_date=_in_days(-1),
        evidence_ok=True,
        evidence_summary="0 critical, 2 low findings",
        evidence_source="Dependency scan pay-release #88",
        evidence_at=f.moment(0),
    )
    pentest = f.GateFactory(
        release=pay, kind="custom", name="Pen test", signer_group=reviewers, due_date=_in_days(5)
    )
    f.GateFactory(release=pay, kind="cab", name="Change board", signer_group=reviewers, due_date=_in_days(8))
    return pay, security, pentest


def _log_in(page, username: str, then: str) -> None:
    page.goto(f"/login/?next={then}")
    submit_login(page, username, PASSWORD)
    page.wait_for_url(f"**{then}")


def test_a_reviewer_signs_and_the_owner_cannot(page, people, gates, screenshot):
    pay, security, pentest = gates
    _log_in(page, "sofia", "/gates/")
    rows = page.locator("#gate-queue tbody tr")
    assert rows.count() == 3
    assert "Overdue" in rows.nth(0).inner_text() and "Security" in rows.nth(0).inner_text()
    screenshot("gate-queue")

    rows.nth(0).locator("a", has_text="PAY 4.2").click()
    page.wait_for_url(f"**/releases/{pay.pk}/")
    card = page.locator(f"#gate-{security.pk}")
    assert "0 critical, 2 low findings" in card.inner_text()
    assert "Dependency scan pay-release #88" in card.inner_text()
    card.locator("summary", has_text="Sign this gate").click()
    assert "I have reviewed the evidence for PAY 4.2 and approve the Security gate." in card.inner_text()
    card.locator("input[name=agree]").check()
    card.locator("input[name=password]").fill("not my password")
    card.locator("button[value=approve]").click()
    page.locator(f"#gate-{security.pk} .error", has_text="The password is not correct").wait_for()
    assert not SignOff.objects.exists()

    card.locator("input[name=agree]").check()
    card.locator("input[name=password]").fill(PASSWORD)
    screenshot("gate-panel-signing")
    card.locator("button[value=approve]").click()
    page.locator(f"#gate-{security.pk} .saved").wait_for()
    assert card.locator(".badge.gate-passed").inner_text() == "Passed"
    signature = card.locator(".signature")
    assert "Sofia Martins" in signature.inner_text() and "Approved" in signature.inner_text()
    assert Gate.objects.get(pk=security.pk).status == "passed"
    # The timeline refreshes on gatesChanged, and reads the signature with the signer's name.
    page.locator("#audit-timeline", has_text=f"Sofia Martins approved {security.name}").wait_for()
    screenshot("gate-panel-signed")

    page.goto("/gates/")
    assert page.locator("#gate-queue tbody tr").count() == 2
    page.locator(f"#queue-gate-{pentest.pk}").get_by_role("link", name="Review").click()
    review = page.locator(f"#gate-review #gate-{pentest.pk}")
    review.wait_for()
    review.locator("button[value=reject]").click()
    review.locator(".error", has_text="Tick “I agree” to sign").wait_for()
    page.locator(f"#gate-review #gate-{pentest.pk} .error", has_text="Say why you reject").wait_for()
    review.locator("input[name=agree]").check()
    review.locator("textarea[name=comment]").fill("The report lists an open SQL injection.")
    review.locator("input[name=password]").fill(PASSWORD)
    review.locator("button[value=reject]").click()
    page.locator(f"#gate-review #gate-{pentest.pk} .badge.gate-failed").wait_for()
    page.wait_for_function("() => document.querySelectorAll('#gate-queue tbody tr').length === 1")
    assert "Change board" in page.locator("#gate-queue tbody").inner_text()
    assert page.url.endswith("/gates/"), "signed in place"
    screenshot("gate-queue-after-signing")

    page.click("text=Sign out")
    _log_in(page, "rita", f"/releases/{pay.pk}/")
    mine = page.locator("#gates .gate-card", has_text="Change board")
    assert "You cannot sign this gate." in mine.inner_text()
    assert "You own this release: segregation of duties means its owner cannot sign its gates." in (
        mine.inner_text()
    )
    assert mine.locator("input[name=password]").count() == 0
    screenshot("gate-panel-owner")
