"""The Content-Security-Policy in a real browser: the main pages, their htmx and the behaviour moved out of
inline handlers work under it with no violation reported (the `page` fixture fails a test on any), and
the control case shows the policy does block an inline script and that its violation is seen."""

import pytest

from portal.models import User
from tests import factories as f
from tests.browser.helpers import submit_login

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def signed_in(page):
    User.objects.create_superuser("sam", password=PASSWORD, first_name="Sam")
    page.goto("/login/")
    submit_login(page, "sam", PASSWORD)
    page.wait_for_url("**/")
    return page


def test_the_main_pages_run_under_the_policy_without_a_violation(signed_in):
    page = signed_in
    release = f.ReleaseFactory()
    f.GateFactory(release=release)
    for path in (
        "/",
        "/releases/",
        f"/releases/{release.pk}/",
        "/calendar/",
        "/gates/",
        "/audit/",
        "/environments/board/",
        "/environments/bookings/new/",
        "/metrics/",
        "/integrations/",
        "/profile/",
        "/admin/",
        "/api/docs/",
    ):
        response = page.goto(path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
    page.wait_for_selector("#swagger-ui .info")  # Swagger UI started from its own script file

    page.goto("/releases/")  # htmx still filters in place, without eval
    with page.expect_response(lambda r: "q=zzz-nothing" in r.url and r.request.headers.get("hx-request")):
        page.fill("input[type=search]", "zzz-nothing")
    page.wait_for_url("**q=zzz-nothing**")  # swapped in place, the address pushed


def test_a_new_token_is_copied_and_selected_without_inline_handlers(signed_in):
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/profile/")
    page.fill("#id_name", "pipeline")
    page.locator("form[action$='/profile/tokens/'] button[type=submit]").click()
    token = page.locator("#new-token")
    secret = token.input_value()
    assert secret
    page.click("[data-copy-from=new-token]")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    token.focus()
    assert page.evaluate(
        "document.activeElement.selectionEnd - document.activeElement.selectionStart"
    ) == len(secret)


def test_the_policy_blocks_an_inline_script_and_the_violation_is_reported(browser, live_server):
    """The control case, on a page of its own so the fixture's check does not fail this test."""
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error('CSP violation: ' + "
        "e.violatedDirective))"
    )
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto("/login/")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
        " document.body.append(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.injected") is None
    assert any("CSP violation: script-src" in text for text in messages), messages
    context.close()
