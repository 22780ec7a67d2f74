"""/integrations/: runs history and live progress for everyone signed in; "Sync now" and "Test
connection" for admins only, checked on the server, CSRF-protected, never a 500."""

import re
from datetime import timedelta

import pytest
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.models import SyncRun
from integrations.runner import connection_sync
from integrations.selectors import Progress, duration_text
from integrations.tasks import sync_run_queue
from portal import roles
from releases.models import AuditEvent
from tests.factories import ApplicationMappingFactory, ConnectionFactory, SyncRunFactory

pytestmark = pytest.mark.django_db

PAGE = reverse("integrations:index")
HTMX = {"HX-Request": "true"}


def sync_url(connection):
    return reverse("integrations:sync-now", args=[connection.pk])


def connection_test_url(connection):
    return reverse("integrations:test-connection", args=[connection.pk])


@pytest.fixture
def admin_client(client_for):
    return client_for(roles.ADMIN)


def test_everyone_reads_the_runs_with_counts_duration_requests_and_readable_errors(client_for):
    connection = ConnectionFactory(name="Payments Jira")
    ApplicationMappingFactory(connection=connection, external_key="PAY", application__key="PAYAPP")
    start = timezone.now() - timedelta(hours=1)
    SyncRunFactory(
        connection=connection,
        started_at=start,
        finished_at=start + timedelta(seconds=42),
        items_fetched=1234,
        items_created=1200,
        items_unchanged=34,
        requests=17,
        pages=13,
    )
    SyncRunFactory(
        connection=connection,
        status=SyncRun.Status.FAILED,
        error="Jira refused the credentials <script>x</script>",
    )
    response = client_for(roles.PROJECT_OFFICE).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<h2 id="connection-{connection.pk}-title">Payments Jira</h2>' in html
    assert "PAY → PAYAPP" in html
    assert ">42 s<" in html and ">1,234<" in html and ">1,200<" in html and ">17<" in html
    # The error in words with the next step; the raw message (escaped) only for admins.
    assert "The tool refused the connection&#x27;s credentials (user or API token)." in html
    assert "renews the user and API token" in html
    assert "Jira refused the credentials" not in html and "<script>x" not in html
    assert "Sync now" not in html and "Test connection" not in html  # not an admin
    assert 'aria-current="page">Integrations</a>' in html


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            "Jira dropped the connection on /rest/api/3/myself: [Errno 111] Connection refused",
            "could not reach",
        ),
        ("Jenkins did not answer /api/json in time (ReadTimeout).", "did not answer in time"),
        (
            "Jira refused the credentials (403) on /rest/api/3/search: check the user and API token.",
            "refused",
        ),
        ("GitHub answered 404 on /repos/acme/pay/pulls: Not Found", "address or a project key is wrong"),
        ("Waiting to retry: GitHub rate-limited /repos; retrying after 60 s.", "limiting how fast"),
        ("Unexpected KeyError: 'fields'", "unexpected error"),
    ],
)
def test_a_failed_run_reads_as_what_happened_and_what_to_do(admin_client, client_for, error, words):
    run = SyncRunFactory(status=SyncRun.Status.FAILED, error=error)
    html = _progress_html(admin_client, run)
    assert words in html
    assert '<details class="raw-error"><summary>The tool\'s message</summary>' in html
    assert "raw-error" not in _progress_html(client_for(roles.PROJECT_OFFICE), run)


def test_an_unexpected_error_sends_staff_to_the_sync_log(admin_client, user_in_role):
    run = SyncRunFactory(status=SyncRun.Status.FAILED, error="Unexpected KeyError: 'fields'")
    staff = user_in_role(roles.ADMIN, is_staff=True)
    client = Client()
    client.force_login(staff)
    html = _progress_html(client, run)
    assert "See the sync log." in html
    assert f'href="/admin/integrations/syncrun/{run.pk}/change/">Open the sync log</a>' in html
    assert "Unexpected KeyError: &#x27;fields&#x27;</code></details>" in html


def test_the_runs_say_records_fetched_and_rows_written(client_for):
    SyncRunFactory(items_fetched=24, items_created=40)
    html = client_for(roles.PROJECT_OFFICE).get(PAGE).content.decode()
    assert ">Records fetched</th>" in html and ">Rows written in Flightdeck</th>" in html
    assert ">New</th>" in html and "Created" not in html
    assert 'title="Fetched 24 records, wrote 40 rows: one record can write several' in html


def test_admins_get_the_actions(admin_client):
    ConnectionFactory()
    html = admin_client.get(PAGE).content.decode()
    assert "Sync now" in html and "Test connection" in html
    assert 'name="csrfmiddlewaretoken"' in html


def _page_queries(client) -> int:
    with CaptureQueriesContext(db) as queries:
        assert client.get(PAGE).status_code == 200
    return len(queries)


def _make(connections: int, runs: int) -> None:
    for _ in range(connections):
        connection = ConnectionFactory()
        ApplicationMappingFactory.create_batch(2, connection=connection)
        SyncRunFactory.create_batch(runs, connection=connection)
        SyncRunFactory(
            connection=connection, status=SyncRun.Status.RUNNING, finished_at=None, items_expected=500
        )


def test_the_page_query_count_does_not_grow_with_connections_or_runs(admin_client):
    admin_client.get(PAGE)
    _make(2, 3)
    few = _page_queries(admin_client)
    _make(6, 25)
    many = _page_queries(admin_client)
    assert few == many <= 11  # with the header's unread notifications


def test_only_the_latest_runs_are_shown(client_for):
    connection = ConnectionFactory()
    runs = SyncRunFactory.create_batch(12, connection=connection)
    html = client_for(roles.AUDITOR).get(PAGE).content.decode()
    assert f'id="run-{runs[-1].pk}"' in html
    assert f'id="run-{runs[1].pk}"' not in html  # the eleventh newest and older


# --- live progress -----------------------------------------------------------------------------------


def test_a_running_sync_shows_pages_items_rate_and_eta_and_asks_to_be_polled(client_for, monkeypatch):
    now = timezone.now()
    # The page reads the clock once per figure: pinned, a slow render cannot move the rate or the ETA.
    monkeypatch.setattr("integrations.selectors.timezone.now", lambda: now)
    run = SyncRunFactory(
        status=SyncRun.Status.RUNNING,
        started_at=now - timedelta(seconds=10),
        finished_at=None,
        pages=4,
        items_fetched=400,
        items_expected=1000,
    )
    response = client_for(roles.PROJECT_OFFICE).get(
        reverse("integrations:run-progress", args=[run.pk]), headers=HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tbody id="run-{run.pk}"')
    assert 'hx-trigger="every 1s"' in html
    assert "4 pages · 400 of 1,000 items · 40 items/s · about 15 s left" in html
    assert '<progress max="100" value="40"' in html and "40 %" in html


def _progress_html(client, run) -> str:
    response = client.get(reverse("integrations:run-progress", args=[run.pk]), headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def test_a_running_sync_without_an_expected_count_shows_no_bar_and_no_eta(client_for):
    run = SyncRunFactory(
        status=SyncRun.Status.RUNNING,
        started_at=timezone.now() - timedelta(seconds=4),
        finished_at=None,
        pages=1,
        items_fetched=12_000,
    )
    html = _progress_html(client_for(roles.PROJECT_OFFICE), run)
    rate = re.search(r"1 page · 12,000 items · ([\d,]+) items/s</span>", html)
    assert rate, html
    assert 1_500 <= int(rate[1].replace(",", "")) <= 3_000  # 12,000 in 4 s and however long the render took
    assert "<progress" not in html and " left" not in html


def test_a_running_sync_silent_for_a_while_says_since_when_and_which_attempt(client_for):
    now = timezone.now()
    silent = SyncRunFactory(
        status=SyncRun.Status.RUNNING, finished_at=None, heartbeat_at=now - timedelta(minutes=12), attempts=3
    )
    lively = SyncRunFactory(status=SyncRun.Status.RUNNING, finished_at=None, heartbeat_at=now, attempts=1)
    client = client_for(roles.PROJECT_OFFICE)
    assert re.search(r"last sign of life 12 min \d+ s ago · attempt 3", _progress_html(client, silent))
    assert "last sign of life" not in _progress_html(client, lively)


def test_a_sync_waiting_to_retry_says_so_while_it_runs(client_for):
    run = SyncRunFactory(
        status=SyncRun.Status.RUNNING,
        finished_at=None,
        error="Waiting to retry: Jira rate-limited /rest/api/3/search/jql; retrying after 30 s.",
    )
    html = _progress_html(client_for(roles.PROJECT_OFFICE), run)
    assert 'hx-trigger="every 1s"' in html
    assert '<span class="run-waiting">Waiting to retry. The tool is limiting how fast' in html


def test_a_failed_run_shows_its_error_across_the_table_and_what_was_kept(client_for):
    client = client_for(roles.PROJECT_OFFICE)
    run = SyncRunFactory(status=SyncRun.Status.FAILED, pages=12, error="Jira sent invalid JSON <cut>")
    html = _progress_html(client, run)
    assert '<td colspan="11" class="run-detail">' in html
    assert "<strong>Failed:</strong> The tool&#x27;s answer could not be read" in html
    assert "Jira sent invalid JSON" not in html  # the raw message is for admins
    assert "The 12 pages stored before the failure are kept" in html
    assert "hx-trigger" not in html
    refused = SyncRunFactory(status=SyncRun.Status.FAILED, error="Jira refused the credentials (401).")
    assert "stored before the failure" not in _progress_html(client, refused)  # nothing was


def test_a_queued_run_waits_for_a_worker_and_is_polled(client_for):
    run = SyncRunFactory(status=SyncRun.Status.QUEUED, started_at=None, finished_at=None)
    html = _progress_html(client_for(roles.PROJECT_OFFICE), run)
    assert "Waiting for a worker…" in html and 'hx-trigger="every 1s"' in html
    assert '<td class="num nowrap">—</td>' in html  # no duration before it starts


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.04, "0.0 s"), (1.74, "1.7 s"), (42.4, "42 s"), (192, "3 min 12 s"), (7500, "2 h 05 min")],
)
def test_durations_read_as_seconds_minutes_or_hours(seconds, text):
    assert duration_text(seconds) == text


def test_an_eta_has_no_tenths_and_is_never_zero():
    run = SyncRunFactory.build(
        status=SyncRun.Status.RUNNING,
        started_at=timezone.now() - timedelta(seconds=100),
        finished_at=None,
        items_fetched=999,
        items_expected=1000,
    )
    assert Progress(run).eta == "1 s"


def _progress_queries(client, run) -> int:
    with CaptureQueriesContext(db) as queries:
        _progress_html(client, run)
    return len(queries)


def test_the_progress_query_count_does_not_grow_with_connections_or_runs(client_for):
    client = client_for(roles.PROJECT_OFFICE)
    _make(1, 2)
    few = _progress_queries(client, SyncRun.objects.filter(status=SyncRun.Status.RUNNING).first())
    _make(6, 25)
    run = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).last()
    SyncRun.objects.filter(pk=run.pk).update(pages=900, items_fetched=90_000, error="Waiting to retry: x")
    many = _progress_queries(client, run)
    assert few == many <= 4  # the session, the user, the run, the user's groups (navigation)


def test_a_finished_run_stops_the_polling(client_for):
    run = SyncRunFactory(items_fetched=1000)
    html = (
        client_for(roles.PROJECT_OFFICE)
        .get(reverse("integrations:run-progress", args=[run.pk]))
        .content.decode()
    )
    assert "hx-trigger" not in html
    assert "Succeeded" in html


def test_progress_of_an_unknown_run_is_404(client_for):
    assert (
        client_for(roles.PROJECT_OFFICE).get(reverse("integrations:run-progress", args=[999])).status_code
        == 404
    )


# --- Sync now ----------------------------------------------------------------------------------------


def test_sync_now_queues_a_run_audited_and_enqueues_the_task_after_commit(
    admin_client, django_capture_on_commit_callbacks, monkeypatch
):
    connection = ConnectionFactory()
    sent = []
    monkeypatch.setattr("integrations.tasks.connection_sync_task.delay", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(sync_url(connection), headers=HTMX)
    assert response.status_code == 200
    run = SyncRun.objects.get(connection=connection)
    assert run.status == SyncRun.Status.QUEUED
    assert sent == [{"connection_id": connection.pk, "run_id": run.pk, "mode": "incremental"}]
    assert f'id="connection-{connection.pk}"' in response.content.decode()
    assert "Waiting for a worker" in response.content.decode()
    event = AuditEvent.objects.get(action="syncrun.queue")
    assert event.object_id == str(run.pk) and event.actor.groups.filter(name=roles.ADMIN).exists()


def test_sync_now_without_htmx_redirects_to_the_card(admin_client):
    connection = ConnectionFactory()
    response = admin_client.post(sync_url(connection))
    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}#connection-{connection.pk}"


def test_sync_now_while_a_run_is_active_is_409_and_queues_nothing(admin_client):
    connection = ConnectionFactory()
    active = SyncRunFactory(connection=connection, status=SyncRun.Status.RUNNING, finished_at=None)
    response = admin_client.post(sync_url(connection), headers=HTMX)
    assert response.status_code == 409
    assert f"is already syncing (run {active.pk}, running)" in response.content.decode()
    assert SyncRun.objects.filter(connection=connection).count() == 1


def test_sync_now_of_a_disabled_connection_is_409(admin_client):
    connection = ConnectionFactory(enabled=False)
    response = admin_client.post(sync_url(connection), headers=HTMX)
    assert response.status_code == 409
    assert "is paused: resume it first" in response.content.decode()
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("role", [roles.PROJECT_OFFICE, roles.RELEASE_MANAGER, roles.AUDITOR])
def test_sync_now_and_test_need_the_admin_role(client_for, role):
    connection = ConnectionFactory()
    client = client_for(role)
    assert client.post(sync_url(connection), headers=HTMX).status_code == 403
    assert client.post(connection_test_url(connection), headers=HTMX).status_code == 403
    assert not SyncRun.objects.exists()


def test_sync_now_and_test_need_a_csrf_token(user_in_role):
    connection = ConnectionFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_in_role(roles.ADMIN))
    assert client.post(sync_url(connection)).status_code == 403
    assert client.post(connection_test_url(connection)).status_code == 403
    assert not SyncRun.objects.exists()


def test_actions_on_an_unknown_connection_are_404_and_get_is_405(admin_client):
    assert admin_client.post(reverse("integrations:sync-now", args=[999])).status_code == 404
    assert admin_client.post(reverse("integrations:test-connection", args=[999])).status_code == 404
    assert admin_client.get(sync_url(ConnectionFactory())).status_code == 405


# --- Test connection ---------------------------------------------------------------------------------


def test_test_connection_says_what_works(admin_client, jira_sandbox, jira_connection):
    server = jira_sandbox(issues=5, projects=("PAY",), time_zone="Europe/Berlin")
    connection = jira_connection(server)
    response = admin_client.post(connection_test_url(connection), headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="test-result-{connection.pk}"' in html
    assert "Connection works." in html
    assert "(user time zone Europe/Berlin); readable: PAY (6 versions)." in html
    assert not SyncRun.objects.exists()


def test_test_connection_with_a_revoked_token_says_so(admin_client, jira_sandbox, jira_connection):
    connection = jira_connection(jira_sandbox(issues=5, projects=("PAY",)))
    connection.credentials = {"username": "sync-bot@example.com", "token": "revoked"}
    connection.save()
    html = admin_client.post(connection_test_url(connection)).content.decode()  # without htmx: the whole page
    assert "<h1>Integrations</h1>" in html
    assert "Connection failed." in html
    assert "Jira refused the credentials (401) on /rest/api/3/myself" in html
    assert "revoked" not in html


def test_a_cloud_sync_knows_how_many_issues_to_expect(jira_sandbox, jira_connection):
    """Cloud's search has no total: one approximate count gives the progress its end (and the ETA)."""
    server = jira_sandbox(issues=250, projects=("PAY",))
    connection = jira_connection(server)
    run = sync_run_queue(connection=connection, by=None)
    connection_sync(run_id=run.pk)
    run.refresh_from_db()
    assert run.items_expected == run.items_fetched == 6 + 250
    assert len(server.requests_to("/search/approximate-count")) == 1


def test_a_running_sync_is_at_100_percent_only_when_done():
    from integrations.models import SyncRun
    from integrations.selectors import Progress

    run = SyncRun(items_fetched=9_996, items_expected=10_000)
    assert Progress(run).percent == 99  # not a rounded 100 while 4 items are still to come
    run.items_fetched = 10_000
    assert Progress(run).percent == 100
