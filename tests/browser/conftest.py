"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server."""

import contextlib
import os
from pathlib import Path

import pytest
from django.apps import apps as django_apps

from portal.roles import roles_sync

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(
    os.environ.get("FLIGHTDECK_SCREENSHOTS", Path(__file__).resolve().parents[2] / "var" / "screenshots")
)

# Playwright's sync API runs an event loop in this thread; the ORM calls in fixtures are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """Browser tests run against a live server, so their data is committed and flushed after each test,
    role groups included; put the groups a data migration made back before each test."""
    roles_sync(django_apps)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install chromium (or deselect with -m 'not browser')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# Reported by the page itself: the init script runs outside the page's Content-Security-Policy.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""
POLICY_WORDS = ("CSP violation", "Content Security Policy", "Permissions-Policy")


@pytest.fixture
def page(browser, live_server):
    """A page of a new browser context. Whatever the test does, nothing may break the portal's
    Content-Security-Policy (no inline script, no eval, no style element) or its Permissions-Policy:
    such a message on the console fails the test when it ends (portal/security.py)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(10_000)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if any(word in message.text for word in POLICY_WORDS)
            else None
        ),
    )
    yield page
    context.close()
    assert not violations, "the page broke its security policies:\n" + "\n".join(violations)


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot under var/screenshots/ for a person to look at."""

    def take(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# --- a real Celery worker for the live server ---------------------------------------------------------

WORKER_QUEUES = ("default", "sync")  # as dev.py's worker: syncs and what they enqueue (gate evidence)


@pytest.fixture
def live_worker(live_server):
    """A real Celery worker in a thread of this process, consuming an in-memory broker: what the live
    server enqueues runs outside the request, after its commit, while the browser polls.

    The in-memory broker keeps the test apart from var/broker and Redis, where other tests and a
    running demo leave messages. On SQLite the test database lives in memory and only the live
    server's connection sees it, so the worker's tasks use that connection (as the live server's
    request threads do; while a task writes, the browser should only read); on PostgreSQL they open
    their own, as a worker process would. The worker finishes its task and stops (about 4 s: Celery's
    loop waits out two 2-second broker polls) before the test's rows are flushed."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun, task_prerun
    from django.db import connections

    from portal.celery import app

    shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}

    def use_the_live_servers_connections(**_):
        for alias, connection in shared.items():
            connections[alias] = connection

    def close_own_connections(**_):
        if not shared:  # a connection left open would keep PostgreSQL from dropping the test database
            connections.close_all()

    task_prerun.connect(use_the_live_servers_connections, weak=False)
    task_postrun.connect(close_own_connections, weak=False)
    try:
        with (
            memory_broker(app),
            start_worker(
                app, pool="solo", queues=WORKER_QUEUES, perform_ping_check=False, loglevel="WARNING"
            ) as worker,
        ):
            yield worker
    finally:
        task_prerun.disconnect(use_the_live_servers_connections)
        task_postrun.disconnect(close_own_connections)


@contextlib.contextmanager
def memory_broker(app):
    """The app's producers and consumers on kombu's in-process broker, emptied first; restored after.
    broker_read_url/broker_write_url, because the CELERY_BROKER_URL variable outranks broker_url."""
    names = ("broker_read_url", "broker_write_url", "broker_transport_options", "worker_hijack_root_logger")
    saved = {name: app.conf.get(name) for name in names}
    app.conf.update(
        broker_read_url="memory://",
        broker_write_url="memory://",
        broker_transport_options={"polling_interval": 0.05},  # picks up a task at once
        worker_hijack_root_logger=False,  # pytest keeps its logging
    )
    _forget_connections(app)
    with app.connection_for_write() as connection:
        for queue in WORKER_QUEUES:  # messages a test before this one left unconsumed
            connection.default_channel.queue_purge(queue)
    try:
        yield
    finally:
        app.conf.update(saved)
        _forget_connections(app)


def _forget_connections(app) -> None:
    """Forget the app's pools so the next message goes to the broker configured now; kombu keeps one
    pool per broker URL for the process, so they stay open for the next test to take up again."""
    app._pool = None
    app.amqp._producer_pool = None
