"""An admin shapes the structure (a portfolio and an application in it); its release manager plans a
train there; then writes a release's notes from its facts and publishes them."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import RELEASE_MANAGER
from releases.models import Application, Portfolio, ReleaseNotes, ReleaseTrain, WorkItem
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


def _sign_in(page, username: str) -> None:
    page.context.clear_cookies()  # signs the last person out
    page.goto("/login/")
    submit_login(page, username, PASSWORD)
    page.wait_for_url("**/")


def test_an_admin_shapes_the_structure_and_a_release_manager_plans_a_train_and_notes(page, screenshot):
    User.objects.create_superuser("ada", password=PASSWORD, first_name="Ada")
    rita = User.objects.create_user("rita", password=PASSWORD, first_name="Rita")
    rita.groups.add(Group.objects.get(name=RELEASE_MANAGER))

    _sign_in(page, "ada")
    page.goto("/releases/portfolios/")
    page.click("text=New portfolio")
    page.fill("#id_name", "Payments")
    page.fill("#id_slug", "payments")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/releases/portfolios/")
    payments = Portfolio.objects.get(slug="payments")
    payments.owners.add(rita)
    page.click("text=+ application")
    page.fill("#id_key", "pay")
    page.fill("#id_name", "Payments Hub")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/releases/portfolios/")
    assert Application.objects.get(key="PAY").portfolio == payments
    screenshot("structure-portfolios")

    _sign_in(page, "rita")
    page.goto("/releases/trains/")
    page.click("text=New train")
    page.select_option("#id_portfolio", label="Payments")
    page.fill("#id_name", "PI 27.1")
    page.fill("#id_starts_on", (date.today() + timedelta(days=7)).isoformat())
    page.fill("#id_last_day", (date.today() + timedelta(days=20)).isoformat())
    page.click("button:has-text('Save')")
    train = ReleaseTrain.objects.get(name="PI 27.1")
    page.wait_for_url(f"**/releases/trains/{train.pk}/")
    assert train.ends_on == date.today() + timedelta(days=21)

    release = f.ReleaseFactory(application=Application.objects.get(key="PAY"), version="4.3", train=train)
    bug = f.WorkItemFactory(application=release.application, key="PAY-7", title="Fee rounding", type="bug")
    bug.fix_releases.add(release)
    assert bug.type == WorkItem.Type.BUG
    page.goto(f"/releases/{release.pk}/")
    page.click("text=Release notes")
    page.wait_for_url(f"**/releases/{release.pk}/notes/")
    assert "Fee rounding" in page.locator("textarea").input_value()
    page.fill("textarea", page.locator("textarea").input_value() + "\nThanks to the cards team.")
    page.click("button:has-text('Publish')")
    page.wait_for_url(f"**/releases/{release.pk}/notes/")
    assert "Published" in page.locator(".page-header").inner_text()
    assert "Thanks to the cards team." in page.locator(".notes-body").inner_text()
    assert ReleaseNotes.objects.get(release=release).published_by == rita
    screenshot("release-notes")
