"""A release manager opens the gate policies, sees what each portfolio inherits, adds a requirement to
one portfolio's policy without leaving the page, and the open releases of that portfolio get the gate."""

import io

import pytest
from django.core.management import call_command

from releases import tasks
from releases.models import Gate, Portfolio, Release
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(monkeypatch):
    call_command("seed_demo", "--scale", "small", stdout=io.StringIO())
    # The worker's part, done in-process when the policy change commits.
    monkeypatch.setattr(
        tasks.gate_policy_propagate_task,
        "delay",
        lambda **kw: tasks.gate_policy_propagate_task.apply(kwargs=kw),
    )
    monkeypatch.setattr(tasks.gates_announce_task, "delay", lambda **kw: None)
    return Portfolio.objects.get(slug="payments")


def test_a_release_manager_adds_a_requirement_to_a_portfolio_policy(page, screenshot, demo):
    page.goto("/gates/policies/")
    submit_login(page, "rm", "flightdeck-rm")
    assert page.locator("h1").inner_text() == "Gate policies"
    payments = page.locator("li.policy", has=page.locator("h3", has_text="Payments")).first
    assert payments.locator(".chip-own", has_text="PCI DSS review").count() == 1
    assert payments.locator(".chip-global", has_text="Security review").count() == 1
    screenshot("gate-policies")

    payments.locator("h3 a").click()
    page.wait_for_url(f"**/gates/policies/{demo.pk}/")
    page.fill("#id_requirement-name", "DORA resilience check")
    page.select_option("#id_requirement-kind", "compliance")
    page.select_option("#id_requirement-signer_group", label="Change manager")
    page.fill("#id_requirement-approvals_required", "1")
    page.fill("#id_requirement-due_days_before_target", "6")
    page.click("text=Add requirement")
    page.locator("#policy-requirements .saved").wait_for()
    assert page.locator("#policy-requirements strong", has_text="DORA resilience check").count() == 1
    screenshot("gate-policy")

    open_releases = Release.objects.open().filter(application__portfolio__in=[demo, *demo.children.all()])
    assert Gate.objects.filter(release__in=open_releases, name="DORA resilience check").count() == len(
        open_releases
    )

    page.fill("#id_requirement-name", "")
    page.click("text=Add requirement")
    page.locator("#policy-requirements .field-error").first.wait_for()
    assert "This field is required." in page.locator("#policy-requirements").inner_text()
    screenshot("gate-policy-error")
