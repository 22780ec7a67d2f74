"""Recovering from real mistakes: a second connection on one Jira project adopts what the first
stored and takes it over when an admin says so; a re-pointed connection waits for an admin's answer;
an admin resets a stream's cursor, runs a full resync that converges, pauses and resumes."""

import pytest
from django.urls import reverse

from integrations import connections as admin_tools
from integrations.models import ApplicationMapping, Connection, SyncCursor, SyncRun
from integrations.runner import connection_sync
from integrations.sync.base import SyncRefused
from integrations.tasks import connections_sync_due_task
from portal import roles
from releases.facts.services.upserts import WorkItemFact, work_items_upsert
from releases.models import Application, AuditEvent, Release, SourceAlias, WorkItem
from tests.factories import ConnectionFactory, SyncRunFactory, moment
from tests.integrations.helpers import sync

pytestmark = pytest.mark.django_db

PAGE = reverse("integrations:index")
HTMX = {"HX-Request": "true"}


def admin_url(connection: Connection, action: str) -> str:
    return reverse("integrations:connection-admin", args=[connection.pk, action])


@pytest.fixture
def admin_client(client_for):
    return client_for(roles.ADMIN)


@pytest.fixture
def moved(jira_sandbox, jira_connection):
    """A Data Center connection that synced PAY and WEB, and a Cloud one on the same projects."""
    server = jira_sandbox(issues=40, projects=("PAY", "WEB"))
    data_center = jira_connection(server, kind=Connection.Kind.JIRA_DC, name="Jira DC")
    sync(data_center)
    cloud = ConnectionFactory(
        name="Jira Cloud",
        kind=Connection.Kind.JIRA_CLOUD,
        base_url=server.url,
        credentials=data_center.credentials,
        scope=data_center.scope,
    )
    for mapping in data_center.mappings.all():
        ApplicationMapping.objects.create(
            connection=cloud, application=mapping.application, external_key=mapping.external_key
        )
    return data_center, cloud


def owned(connection: Connection) -> tuple[int, int]:
    source = connection.source_key
    return Release.objects.filter(source=source).count(), WorkItem.objects.filter(source=source).count()


def test_a_second_connection_on_the_same_project_adopts_instead_of_failing(moved):
    data_center, cloud = moved
    releases, items = owned(data_center)
    assert releases and items

    run = sync(cloud)  # used to fail: "Release with this Application and Version already exists"

    assert (run.items_created, run.items_updated) == (0, 0)
    assert owned(data_center) == (releases, items) and owned(cloud) == (0, 0)
    assert SourceAlias.objects.filter(source=cloud.source_key, release__isnull=False).count() == releases
    assert SourceAlias.objects.filter(source=cloud.source_key, work_item__isnull=False).count() == items
    again = sync(cloud)
    assert (again.items_created, again.items_updated) == (0, 0)
    assert SourceAlias.objects.filter(source=cloud.source_key).count() == releases + items


def test_the_page_says_who_owns_what_a_connection_reads_and_offers_the_take_over(moved, admin_client):
    data_center, cloud = moved
    sync(cloud)
    releases, items = owned(data_center)
    html = admin_client.get(PAGE).content.decode()
    assert f"{releases + items} records</strong> this connection reads are owned by" in html
    assert "Take them over from Jira DC" in html


def test_an_admin_hands_ownership_over_and_both_keep_syncing_without_writes(moved, admin_client):
    data_center, cloud = moved
    sync(cloud)
    releases, items = owned(data_center)
    pay = Release.objects.filter(source=data_center.source_key).first()

    response = admin_client.post(admin_url(cloud, "take-over"), {"giver": data_center.pk}, headers=HTMX)

    assert response.status_code == 200
    assert f"now owns {releases} release(s) and {items} work item(s)" in response.content.decode()
    assert owned(cloud) == (releases, items) and owned(data_center) == (0, 0)
    pay.refresh_from_db()
    assert pay.source == cloud.source_key
    assert SourceAlias.objects.filter(source=data_center.source_key).count() == releases + items
    assert not SyncCursor.objects.filter(connection=cloud).exists()  # it reads everything again
    (event,) = AuditEvent.objects.filter(action="connection.take_over")
    assert event.after["releases"] == releases and event.after["work_items"] == items
    queued = SyncRun.objects.get(connection=cloud, status=SyncRun.Status.QUEUED)
    connection_sync(run_id=queued.pk, mode="reconcile")
    queued.refresh_from_db()
    assert queued.status == SyncRun.Status.SUCCEEDED, queued.error
    assert (queued.items_created, queued.items_updated, queued.items_deleted) == (0, 0, 0)
    old = sync(data_center)  # the old connection, still on, now adopts too
    assert (old.items_created, old.items_updated) == (0, 0)
    assert owned(cloud) == (releases, items)


def test_a_take_over_is_refused_while_either_connection_syncs_and_for_itself(moved):
    data_center, cloud = moved
    with pytest.raises(SyncRefused, match="its own facts"):
        admin_tools.connection_take_over(connection=cloud, giver=cloud, by=None)
    SyncRunFactory(connection=data_center, status=SyncRun.Status.RUNNING, finished_at=None)
    with pytest.raises(SyncRefused, match="is syncing"):
        admin_tools.connection_take_over(connection=cloud, giver=data_center, by=None)
    assert not AuditEvent.objects.filter(action="connection.take_over").exists()


def test_a_work_item_only_the_new_connection_has_is_its_own_and_joins_an_adopted_release(moved):
    data_center, cloud = moved
    sync(cloud)
    release = Release.objects.filter(source=data_center.source_key).first()
    alias = SourceAlias.objects.get(source=cloud.source_key, release=release)
    fact = WorkItemFact(
        external_id="cloud-only-1",
        application_id=release.application_id,
        key=f"{release.application.key}-9999",
        title="Created after the move",
        type="story",
        status_category="todo",
        status_name="To Do",
        priority="",
        created_at=moment(1),
        resolved_at=None,
        updated_at=moment(1),
        fix_release_ids=(alias.external_id,),
    )
    result = work_items_upsert(source=cloud.source_key, facts=[fact])
    assert result.created == 1
    item = WorkItem.objects.get(source=cloud.source_key, external_id="cloud-only-1")
    assert list(item.fix_releases.all()) == [release]


def test_a_re_pointed_connection_waits_for_an_admin_who_says_it_is_the_same_instance(
    jira_sandbox, jira_connection, admin_client
):
    server = jira_sandbox(issues=10, projects=("PAY",))
    connection = jira_connection(server)
    sync(connection)
    connection.refresh_from_db()
    assert connection.facts_base_url == server.url
    Connection.objects.filter(pk=connection.pk).update(base_url=server.url.replace("127.0.0.1", "localhost"))

    response = admin_client.post(reverse("integrations:sync-now", args=[connection.pk]), headers=HTMX)
    assert response.status_code == 409
    assert "Is this the same instance?" in response.content.decode()
    assert connections_sync_due_task()["queued"] == []  # nor does the schedule sync it

    response = admin_client.post(admin_url(connection, "repoint"), {"answer": "same"}, headers=HTMX)
    assert response.status_code == 200
    connection.refresh_from_db()
    assert not connection.repointed and "localhost" in connection.facts_base_url
    run = sync(connection)
    assert (run.items_created, run.items_updated) == (0, 0)
    assert AuditEvent.objects.filter(action="connection.repoint_confirm").count() == 1


def test_another_instance_puts_the_old_address_back(jira_sandbox, jira_connection, admin_client):
    server = jira_sandbox(issues=5, projects=("PAY",))
    connection = jira_connection(server)
    sync(connection)
    Connection.objects.filter(pk=connection.pk).update(base_url="https://other.example.com/")

    response = admin_client.post(admin_url(connection, "repoint"), {"answer": "other"}, headers=HTMX)

    assert "Add a new connection for the other instance" in response.content.decode()
    connection.refresh_from_db()
    assert connection.base_url == server.url and not connection.repointed
    assert admin_client.post(admin_url(connection, "repoint"), {"answer": "?"}).status_code == 302


def test_a_trailing_slash_or_case_is_no_re_pointing():
    connection = ConnectionFactory(
        base_url="https://Jira.example.com/", facts_base_url="https://jira.example.com"
    )
    assert not connection.repointed


def test_resetting_a_stream_reads_it_again_and_writes_nothing_new(
    jira_sandbox, jira_connection, admin_client
):
    server = jira_sandbox(issues=30, projects=("PAY",))
    connection = jira_connection(server)
    first = sync(connection)
    cursor = SyncCursor.objects.get(connection=connection, stream__startswith="issues")

    response = admin_client.post(
        admin_url(connection, "cursor-reset"), {"stream": cursor.stream}, headers=HTMX
    )

    assert response.status_code == 200 and "is reset" in response.content.decode()
    assert not SyncCursor.objects.filter(pk=cursor.pk).exists()
    again = sync(connection)
    assert again.items_fetched >= first.items_fetched - 1  # every issue read again
    assert (again.items_created, again.items_updated) == (0, 0)
    assert AuditEvent.objects.get(action="connection.cursor_reset").before["stream"] == cursor.stream


def test_a_cursor_reset_is_refused_while_a_run_is_active_or_for_an_unknown_stream(admin_client):
    connection = ConnectionFactory()
    response = admin_client.post(admin_url(connection, "cursor-reset"), {"stream": "nope"}, headers=HTMX)
    assert response.status_code == 409 and "no stream" in response.content.decode()
    SyncRunFactory(connection=connection, status=SyncRun.Status.RUNNING, finished_at=None)
    response = admin_client.post(admin_url(connection, "cursor-reset"), {"stream": "nope"}, headers=HTMX)
    assert response.status_code == 409 and "is syncing" in response.content.decode()
    assert not AuditEvent.objects.filter(action="connection.cursor_reset").exists()


def test_a_full_resync_converges_and_never_wipes(jira_sandbox, jira_connection):
    server = jira_sandbox(issues=30, projects=("PAY",))
    connection = jira_connection(server)
    sync(connection)
    ids = set(WorkItem.objects.values_list("pk", flat=True))

    run = admin_tools.connection_resync(connection=connection, by=None)
    assert not SyncCursor.objects.filter(connection=connection).exists()
    connection_sync(run_id=run.pk, mode=admin_tools.RESYNC_MODE)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.items_created, run.items_updated, run.items_deleted) == (0, 0, 0)
    assert set(WorkItem.objects.values_list("pk", flat=True)) == ids  # the same rows, not reloaded
    assert SyncCursor.objects.filter(connection=connection).exists()


def test_pause_stops_every_sync_and_resume_brings_it_back(admin_client):
    connection = ConnectionFactory(kind=Connection.Kind.JIRA_CLOUD)
    response = admin_client.post(admin_url(connection, "pause"), headers=HTMX)
    assert response.status_code == 200 and "Paused" in response.content.decode()
    connection.refresh_from_db()
    assert not connection.enabled
    assert connections_sync_due_task()["queued"] == []
    assert (
        admin_client.post(reverse("integrations:sync-now", args=[connection.pk]), headers=HTMX).status_code
        == 409
    )
    with pytest.raises(SyncRefused, match="paused"):
        admin_tools.connection_resync(connection=connection, by=None)

    admin_client.post(admin_url(connection, "resume"), headers=HTMX)
    assert connections_sync_due_task()["queued"] != []
    actions = list(
        AuditEvent.objects.filter(action__startswith="connection.").values_list("action", flat=True)
    )
    assert actions == ["connection.pause", "connection.resume"]


@pytest.mark.parametrize("role", [roles.PROJECT_OFFICE, roles.RELEASE_MANAGER, roles.AUDITOR])
def test_the_admin_tools_need_the_admin_role(client_for, role):
    connection = ConnectionFactory()
    client = client_for(role)
    for action in ("pause", "resume", "resync", "cursor-reset", "take-over", "repoint"):
        assert client.post(admin_url(connection, action), headers=HTMX).status_code == 403
    connection.refresh_from_db()
    assert connection.enabled
    assert not AuditEvent.objects.filter(action__startswith="connection.").exists()


def test_an_unknown_action_is_404_and_a_get_is_405(admin_client):
    connection = ConnectionFactory()
    assert admin_client.post(admin_url(connection, "wipe")).status_code == 404
    assert admin_client.get(admin_url(connection, "pause")).status_code == 405


@pytest.mark.parametrize("giver", ["", "abc", "99999999999999999999999", "0"])  # NUL: 400 by the middleware
def test_a_take_over_from_nobody_is_409(admin_client, giver):
    connection = ConnectionFactory()
    response = admin_client.post(admin_url(connection, "take-over"), {"giver": giver}, headers=HTMX)
    assert response.status_code == 409
    assert "Choose the connection" in response.content.decode()
    assert Application.objects.count() == 0
