"""Nobody bends a policy alone: a release manager proposes removing a requirement and sees it wait, a
governance officer approves it, and an auditor finds the change on the audit trail and exports it."""

import csv
import io

import pytest
from django.core.management import call_command

from releases import tasks
from releases.models import GateRequirement, PolicyChange
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(monkeypatch):
    call_command("seed_demo", "--scale", "small", stdout=io.StringIO())
    monkeypatch.setattr(
        tasks.gate_policy_propagate_task,
        "delay",
        lambda **kw: tasks.gate_policy_propagate_task.apply(kwargs=kw),
    )
    monkeypatch.setattr(tasks.gates_announce_task, "delay", lambda **kw: None)


@pytest.fixture
def sign_in(browser, live_server):
    contexts = []

    def open_as(username: str, password: str, path: str):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(path)
        submit_login(page, username, password)
        return page

    yield open_as
    for context in contexts:
        context.close()


def _shot(page, name: str, screenshot_dir) -> None:
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)


def test_a_weakening_waits_for_a_second_person_and_the_auditor_exports_it(demo, sign_in, tmp_path):
    from tests.browser.conftest import SCREENSHOTS

    # The release manager proposes removing the global CAB requirement.
    rm = sign_in("rm", "flightdeck-rm", "/gates/policies/global/")
    rm.on("dialog", lambda dialog: dialog.accept())
    cab = rm.locator("li.requirement", has=rm.locator("strong", has_text="CAB approval"))
    cab.locator("summary", has_text="Change CAB approval").click()
    cab.get_by_label("Why remove CAB approval?").fill("The change board reviews in Jira now.")
    cab.get_by_role("button", name="Propose removing CAB approval").click()
    rm.locator("#policy-requirements .saved.pending").wait_for()
    waiting = rm.locator("#policy-changes li.change-pending", has_text="Remove CAB approval")
    waiting.wait_for()
    assert "Proposed by Tom Becker" in waiting.inner_text()
    assert waiting.get_by_role("button", name="Withdraw").count() == 1
    assert waiting.get_by_role("button", name="Approve remove CAB approval (CAB)").count() == 0
    _shot(rm, "governance-proposed", SCREENSHOTS)
    assert GateRequirement.objects.filter(name="CAB approval").exists()

    # A governance officer approves it.
    gov = sign_in("gov", "flightdeck-gov", "/gates/policies/")
    pending = gov.locator("#policy-changes li.change", has_text="Remove CAB approval")
    pending.get_by_label("Comment").fill("Agreed with the CAB chair.")
    pending.get_by_role("button", name="Approve remove CAB approval (CAB)").click()
    gov.wait_for_url("**/gates/policies/global/?decided=approve#policy-changes")
    assert "Approved: the change is in effect." in gov.locator("#policy-changes").inner_text()
    assert "approved by Oliver Grant" in gov.locator("#policy-changes").inner_text()
    _shot(gov, "governance-approved", SCREENSHOTS)
    assert not GateRequirement.objects.filter(name="CAB approval").exists()
    change = PolicyChange.objects.get(subject="CAB approval (CAB)", action="remove")
    assert (change.proposed_by.username, change.decided_by.username) == ("rm", "gov")

    # The auditor finds it on the audit trail and exports it.
    auditor = sign_in("auditor", "flightdeck-auditor", "/audit/")
    auditor.fill("#audit-action", "policychange.")
    auditor.get_by_role("button", name="Apply").click()
    auditor.locator("#audit-table", has_text="Oliver Grant approved the policy change").wait_for()
    table = auditor.locator("#audit-table").inner_text()
    assert "Tom Becker proposed: Remove CAB approval (CAB)" in table
    _shot(auditor, "governance-audit-trail", SCREENSHOTS)
    with auditor.expect_download() as download:
        auditor.locator("#audit-export").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    actions = [row["Action"] for row in rows]
    assert "policychange.approve" in actions and "policychange.propose" in actions
    assert all(action.startswith("policychange.") for action in actions)
