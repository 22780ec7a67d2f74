"""A release manager imports releases from a spreadsheet: the preview names a row's problem and
offers no import; the file fixed, the preview offers it, and the releases and their dependency land."""

import pytest
from django.contrib.auth.models import Group

from portal.models import User
from portal.roles import RELEASE_MANAGER
from releases.models import AuditEvent, Release
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"
HEADER = "Application,Version,Target date,Summary,Depends on\n"


def test_a_release_manager_previews_a_spreadsheet_fixes_it_and_imports_it(page, screenshot, tmp_path):
    user = User.objects.create_user("rita", password=PASSWORD, first_name="Rita")
    user.groups.add(Group.objects.get(name=RELEASE_MANAGER))
    f.ApplicationFactory(key="PAY")
    f.ApplicationFactory(key="CLM")
    page.goto("/login/")
    submit_login(page, "rita", PASSWORD)
    page.wait_for_url("**/")

    page.goto("/releases/")
    page.click("text=Import releases")
    page.wait_for_url("**/releases/import/")
    broken = tmp_path / "plan.csv"
    broken.write_text(HEADER + "PAY,4.3,2030-03-02,Fees,CLM 2.0\nCLM,2.0,2030-02-30,API,\n")
    page.set_input_files("#id_file", str(broken))
    page.click("text=Preview the import")
    page.wait_for_selector("#preview-heading")
    problem = page.locator("tr.import-problem").inner_text()
    assert "2030-02-30" in problem and "is not a date" in problem
    assert page.locator("text=Import 2 releases").count() == 0
    screenshot("release-import-problems")

    fixed = tmp_path / "plan.csv"
    fixed.write_text(HEADER + "PAY,4.3,2030-03-02,Fees,CLM 2.0\nCLM,2.0,2030-02-20,API,\n")
    page.set_input_files("#id_file", str(fixed))
    page.click("text=Preview the import")
    page.wait_for_selector("text=Import 2 releases")
    screenshot("release-import-preview")
    assert Release.objects.count() == 0
    page.click("text=Import 2 releases")
    page.wait_for_url("**/releases/")
    assert "Imported 2 releases from plan.csv." in page.locator(".messages").inner_text()
    pay = Release.objects.get(application__key="PAY", version="4.3")
    assert pay.upstream_links.get().upstream.version == "2.0"
    assert AuditEvent.objects.filter(action="release.import").count() == 1
