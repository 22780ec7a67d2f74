"""Adding and removing dependencies: the service (audited, cycles refused naming the cycle even when
called directly, self and duplicates refused, forecast refreshed after commit) and the HTMX endpoints
(roles, CSRF, 409 for a cycle, 422 for bad input)."""

import threading

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from portal import roles
from releases import tasks
from releases.models import AuditEvent, ReleaseDependency
from releases.planning.services.dependencies import (
    DependencyCycle,
    DependencyRefused,
    dependency_add,
    dependency_remove,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def _release(key: str, version: str, **fields):
    application = f.ApplicationFactory(key=key, name=f"{key} application")
    return f.ReleaseFactory(application=application, version=version, target_date=f.day(20), **fields)


@pytest.fixture
def pay():
    return _release("PAY", "4.2")


@pytest.fixture
def clm():
    return _release("CLM", "1.3")


@pytest.fixture
def manager_user(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER)


@pytest.fixture
def manager(manager_user):
    client = Client()
    client.force_login(manager_user)
    return client


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: calls.append(True))
    return calls


# --- the service ---------------------------------------------------------------------------------


def test_add_stores_the_link_audits_it_and_refreshes_the_forecast_after_commit(
    pay, clm, manager_user, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        link = dependency_add(
            downstream=pay, upstream=clm, kind="ships_with", note="Same API", by=manager_user
        )
    assert (link.downstream, link.upstream, link.kind, link.note) == (pay, clm, "ships_with", "Same API")
    event = AuditEvent.objects.get()
    assert (event.action, event.object_type, event.object_id) == (
        "release.dependency_add",
        "releases.release",
        str(pay.pk),
    )
    assert event.object_repr == "PAY 4.2 needs CLM 1.3"
    assert event.after["upstream_id"] == clm.pk
    assert enqueued == [True]


def test_remove_deletes_the_link_and_audits_what_it_was(
    pay, clm, manager_user, enqueued, django_capture_on_commit_callbacks
):
    link = f.ReleaseDependencyFactory(downstream=pay, upstream=clm)
    with django_capture_on_commit_callbacks(execute=True):
        dependency_remove(dependency=link, by=manager_user)
    assert not ReleaseDependency.objects.exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.object_id, event.object_repr) == (
        "release.dependency_remove",
        str(pay.pk),
        "PAY 4.2 needs CLM 1.3",
    )
    assert event.before["upstream_id"] == clm.pk
    assert enqueued == [True]


def test_the_service_refuses_a_cycle_naming_it(pay, clm, manager_user):
    led = _release("LED", "7.0")
    f.ReleaseDependencyFactory(downstream=clm, upstream=led)
    f.ReleaseDependencyFactory(downstream=led, upstream=pay)
    with pytest.raises(DependencyCycle) as refused:
        dependency_add(downstream=pay, upstream=clm, kind="ships_before", by=manager_user)
    assert refused.value.names == ["PAY 4.2", "CLM 1.3", "LED 7.0", "PAY 4.2"]
    assert str(refused.value) == "That would make a cycle: PAY 4.2 → CLM 1.3 → LED 7.0 → PAY 4.2."
    assert ReleaseDependency.objects.count() == 2
    assert not AuditEvent.objects.exists()


def test_the_service_refuses_a_self_dependency_and_a_duplicate(pay, clm, manager_user):
    with pytest.raises(DependencyRefused, match="cannot depend on itself"):
        dependency_add(downstream=pay, upstream=pay, kind="ships_before", by=manager_user)
    f.ReleaseDependencyFactory(downstream=pay, upstream=clm)
    with pytest.raises(DependencyRefused, match=r"PAY 4\.2 already depends on CLM 1\.3"):
        dependency_add(downstream=pay, upstream=clm, kind="ships_with", by=manager_user)
    assert ReleaseDependency.objects.count() == 1
    assert not AuditEvent.objects.exists()


# --- the endpoints -------------------------------------------------------------------------------


def _add(client, release, upstream: str, kind: str = "ships_before", note: str = "", **headers):
    return client.post(
        f"/releases/{release.pk}/dependencies/add/",
        {"dependency-upstream": upstream, "dependency-kind": kind, "dependency-note": note},
        **headers,
    )


HTMX = {"HTTP_HX_REQUEST": "true"}


def test_add_by_htmx_updates_the_panel_and_the_timeline(manager, manager_user, pay, clm):
    response = _add(manager, pay, "clm 1.3", note="Posting <b>interface</b>", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="dependencies"')
    assert f'<a href="/releases/{clm.pk}/">CLM 1.3</a>' in html
    assert "Posting &lt;b&gt;interface&lt;/b&gt;" in html
    assert 'id="audit-timeline"' in html and 'hx-swap-oob="true"' in html
    assert "Dependency added</strong> by " + (manager_user.get_full_name() or manager_user.username) in html
    assert 'value=""' in html or 'name="dependency-upstream"' in html  # a fresh form for the next one
    link = ReleaseDependency.objects.get()
    assert (link.downstream, link.upstream, link.note) == (pay, clm, "Posting <b>interface</b>")
    assert AuditEvent.objects.get().actor == manager_user


def test_add_without_javascript_redirects_back_to_the_panel(manager, pay, clm):
    response = _add(manager, pay, "CLM 1.3")
    assert response.status_code == 302
    assert response["Location"] == f"/releases/{pay.pk}/#dependencies"
    assert ReleaseDependency.objects.filter(downstream=pay, upstream=clm).exists()


def test_a_cycle_is_409_naming_it_and_nothing_is_stored(manager, pay, clm):
    f.ReleaseDependencyFactory(downstream=clm, upstream=pay)
    response = _add(manager, pay, "CLM 1.3", **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="dependencies"')
    assert '<div class="alert alert-error" role="alert">' in html
    assert "That would make a cycle: PAY 4.2 → CLM 1.3 → PAY 4.2." in html
    assert ReleaseDependency.objects.count() == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("PAY 4.2", "A release cannot depend on itself."),
        ("CLM 1.3", "PAY 4.2 already depends on CLM 1.3."),
        ("CLM", "Type the application key and the version, e.g. PAY 4.2."),
        ("NOPE 1.0", "No release “NOPE 1.0”: check the application key and the version."),
        ("<script>x</script> 1", "No release “&lt;script&gt;x&lt;/script&gt; 1”"),
        ("", "This field is required."),
    ],
)
def test_bad_input_is_a_clear_form_error(manager, pay, clm, typed, message):
    f.ReleaseDependencyFactory(downstream=pay, upstream=clm)
    response = _add(manager, pay, typed, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert "<script>x</script>" not in html
    assert ReleaseDependency.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_an_unknown_kind_is_refused(manager, pay, clm):
    assert _add(manager, pay, "CLM 1.3", kind="before-ish", **HTMX).status_code == 422
    assert not ReleaseDependency.objects.exists()


def test_remove_by_htmx_updates_the_panel(manager, pay, clm):
    link = f.ReleaseDependencyFactory(downstream=pay, upstream=clm)
    response = manager.post(f"/releases/{pay.pk}/dependencies/{link.pk}/remove/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Depends on no other release." in html
    assert "Dependency removed</strong>" in html
    assert not ReleaseDependency.objects.exists()
    assert AuditEvent.objects.get().action == "release.dependency_remove"


def test_remove_only_a_dependency_of_this_release(manager, pay, clm):
    link = f.ReleaseDependencyFactory(downstream=clm, upstream=pay)
    assert manager.post(f"/releases/{pay.pk}/dependencies/{link.pk}/remove/").status_code == 404
    assert manager.post(f"/releases/{pay.pk}/dependencies/999999/remove/").status_code == 404
    assert ReleaseDependency.objects.count() == 1


def test_the_wrong_role_gets_403(client_for, pay, clm):
    office = client_for(roles.PROJECT_OFFICE)
    assert _add(office, pay, "CLM 1.3", **HTMX).status_code == 403
    link = f.ReleaseDependencyFactory(downstream=pay, upstream=clm)
    assert office.post(f"/releases/{pay.pk}/dependencies/{link.pk}/remove/").status_code == 403
    assert ReleaseDependency.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_no_csrf_token_gets_403(manager_user, pay, clm):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager_user)
    assert _add(client, pay, "CLM 1.3", **HTMX).status_code == 403
    link = f.ReleaseDependencyFactory(downstream=pay, upstream=clm)
    assert client.post(f"/releases/{pay.pk}/dependencies/{link.pk}/remove/").status_code == 403
    assert ReleaseDependency.objects.count() == 1


def test_the_csrf_header_htmx_sends_is_accepted(manager_user, pay, clm):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager_user)
    page = client.get(f"/releases/{pay.pk}/")
    token = page.cookies["csrftoken"].value
    response = _add(client, pay, "CLM 1.3", HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200
    assert ReleaseDependency.objects.count() == 1


# --- two writers at once (PostgreSQL; SQLite serialises writers at BEGIN IMMEDIATE) ----------------


@pytest.fixture
def on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("row and advisory locks are PostgreSQL's; SQLite serialises writers at BEGIN")


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_adds_cannot_close_a_cycle_through_releases_neither_locked(on_postgresql, enqueued):
    """A needs B and C needs D, added at once, with B -> C and D -> A already there: each add alone is
    fine, together they close A -> B -> C -> D -> A. The second writer waits for the first and then
    sees the cycle, although the two adds share no release."""
    by = f.UserFactory()
    a, b, c, d = (_release(key, "1") for key in "ABCD")
    f.ReleaseDependencyFactory(downstream=b, upstream=c)
    f.ReleaseDependencyFactory(downstream=d, upstream=a)
    first_added, first_may_commit = threading.Event(), threading.Event()
    outcome = []

    def first():
        try:
            with transaction.atomic():
                dependency_add(downstream=c, upstream=d, kind="ships_before", by=by)
                first_added.set()
                first_may_commit.wait()
        finally:
            connections.close_all()

    def second():
        try:
            dependency_add(downstream=a, upstream=b, kind="ships_before", by=by)
            outcome.append("added")
        except DependencyCycle as cycle:
            outcome.append(cycle.names)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=first), threading.Thread(target=second)]
    writers[0].start()
    first_added.wait()
    writers[1].start()
    while writers[1].is_alive() and not _waiting_on_a_lock():
        pass  # the second writer either finishes or queues behind the first
    first_may_commit.set()
    for writer in writers:
        writer.join()
    assert outcome == [["A 1", "B 1", "C 1", "D 1", "A 1"]]
    assert not ReleaseDependency.objects.filter(downstream=a, upstream=b).exists()
    assert ReleaseDependency.objects.count() == 3
