"""Planning in the portal: a release manager creates a release (gates at once, audited, freezes
checked), clones one (summary, owner, train, code-freeze offset and upstream releases copied), and a
release found in Jira later under the same application and version is adopted, not duplicated."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from portal import roles
from releases.facts.services.upserts import ReleaseFact, releases_upsert
from releases.models import AuditEvent, Release, ReleaseDependency
from releases.planning.views.release_create import next_version
from tests import factories as f

pytestmark = pytest.mark.django_db


def day(n: int):
    return timezone.localdate() + timedelta(days=n)


@pytest.fixture
def manager(client_for):
    return client_for(roles.RELEASE_MANAGER)


def test_a_release_manager_creates_a_release_with_its_gates_and_its_audit_event(manager):
    application = f.ApplicationFactory(key="PAY")
    f.GateRequirementFactory(
        policy=f.GatePolicyFactory(portfolio=application.portfolio), name="Security review"
    )
    response = manager.post(
        "/releases/new/",
        {
            "application": application.pk,
            "version": "4.3",
            "summary": "Fees",
            "target_date": day(20).isoformat(),
        },
    )
    release = Release.objects.get(application=application, version="4.3")
    assert response.status_code == 302 and response["Location"] == f"/releases/{release.pk}/"
    assert release.summary == "Fees" and release.target_date == day(20) and release.owner is not None
    assert AuditEvent.objects.filter(action="release.create", object_id=str(release.pk)).count() == 1
    assert list(release.gates.values_list("name", flat=True)) == ["Security review"]  # its gates at once


def test_the_form_refuses_bad_input_and_a_second_release_of_a_version(manager):
    existing = f.ReleaseFactory(version="4.3")
    page = manager.get("/releases/new/")
    assert page.status_code == 200 and b'name="application"' in page.content
    for data in [
        {"application": existing.application_id, "version": "4.3", "target_date": day(5).isoformat()},
        {"application": existing.application_id, "version": "", "target_date": day(5).isoformat()},
        {"application": existing.application_id, "version": "x", "target_date": "0001-13-01"},
        {"application": 999999, "version": "9", "target_date": day(5).isoformat()},
        {"application": existing.application_id, "version": "v" * 65, "target_date": day(5).isoformat()},
    ]:
        response = manager.post("/releases/new/", data)
        said = b'class="error"' in response.content or b'class="alert alert-error"' in response.content
        assert response.status_code == 422 and said, data
    nul = {"application": existing.application_id, "version": "x\x00", "target_date": day(5).isoformat()}
    assert manager.post("/releases/new/", nul).status_code == 400  # refused before any view reads it
    assert Release.objects.count() == 1


def test_a_target_inside_a_freeze_is_refused(manager):
    application = f.ApplicationFactory()
    start = datetime.combine(day(10), time(), tzinfo=UTC)
    f.FreezeWindowFactory(reason="Year-end", starts_at=start, ends_at=start + timedelta(days=3))
    response = manager.post(
        "/releases/new/",
        {"application": application.pk, "version": "1.0", "target_date": day(11).isoformat()},
    )
    assert response.status_code == 422 and "Year-end" in response.content.decode()
    assert not Release.objects.filter(application=application).exists()


def test_only_those_who_plan_may_create_or_clone(client_for):
    release = f.ReleaseFactory()
    office = client_for(roles.PROJECT_OFFICE)
    assert office.get("/releases/new/").status_code == 403
    assert (
        office.post(f"/releases/{release.pk}/clone/", {"version": "9", "target_date": day(3)}).status_code
        == 403
    )
    assert Release.objects.count() == 1


def test_a_clone_copies_what_it_should_and_its_upstream_releases(manager):
    upstream = f.ReleaseFactory()
    source = f.ReleaseFactory(
        version="4.2.9",
        summary="Fees",
        target_date=day(20),
        code_freeze_date=day(13),
        train=f.ReleaseTrainFactory(),
        owner=f.UserFactory(),
    )
    ReleaseDependency.objects.create(downstream=source, upstream=upstream, kind="ships_with", note="API")
    form = manager.get(f"/releases/{source.pk}/clone/").content.decode()
    assert 'value="4.2.10"' in form
    response = manager.post(
        f"/releases/{source.pk}/clone/", {"version": "4.3.0", "target_date": day(41).isoformat()}
    )
    clone = Release.objects.get(version="4.3.0")
    assert response.status_code == 302 and response["Location"] == f"/releases/{clone.pk}/"
    assert (clone.application_id, clone.summary, clone.owner_id, clone.train_id) == (
        source.application_id,
        "Fees",
        source.owner_id,
        source.train_id,
    )
    assert clone.code_freeze_date == day(34)  # a week before its target, as the source's was
    link = clone.upstream_links.get()
    assert (link.upstream_id, link.kind, link.note) == (upstream.pk, "ships_with", "API")
    cloned = AuditEvent.objects.get(action="release.clone", object_id=str(clone.pk))
    assert cloned.after == {"cloned_from": str(source)}


def test_a_clone_with_a_taken_version_changes_nothing(manager):
    source = f.ReleaseFactory(version="2.0")
    f.ReleaseFactory(application=source.application, version="2.1")
    response = manager.post(
        f"/releases/{source.pk}/clone/", {"version": "2.1", "target_date": day(9).isoformat()}
    )
    assert response.status_code == 422
    assert Release.objects.filter(application=source.application).count() == 2


def test_a_release_made_here_is_adopted_by_the_sync_not_duplicated(manager):
    application = f.ApplicationFactory()
    manager.post(
        "/releases/new/", {"application": application.pk, "version": "5.0", "target_date": day(9).isoformat()}
    )
    fact = ReleaseFact(
        "10500", "5.0", "From Jira", released=False, archived=False, release_date=day(12), start_date=None
    )
    releases_upsert(source="jira#1", application_id=application.pk, facts=[fact])
    adopted = Release.objects.get(application=application)
    assert (adopted.source, adopted.external_id, adopted.summary) == ("jira#1", "10500", "From Jira")


@pytest.mark.parametrize(
    ("version", "suggested"),
    [("4.2.9", "4.2.10"), ("2026.12.1", "2026.12.2"), ("7-rc1", "7-rc2"), ("next", "next")],
)
def test_the_clone_suggests_the_next_version(version, suggested):
    assert next_version(version) == suggested


def test_the_planning_links_show_to_those_who_may_plan(manager, client_for):
    release = f.ReleaseFactory()
    assert b'href="/releases/new/"' in manager.get("/releases/").content
    assert f'href="/releases/{release.pk}/clone/"'.encode() in manager.get(f"/releases/{release.pk}/").content
    office = client_for(roles.PROJECT_OFFICE)
    assert b'href="/releases/new/"' not in office.get("/releases/").content
    assert b"/clone/" not in office.get(f"/releases/{release.pk}/").content
