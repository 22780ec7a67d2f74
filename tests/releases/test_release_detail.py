"""The release page: each section shows the right data from stored columns and related rows, markup is
text, the query count does not grow with the data; editing dates and status is audited and allowed
only to release managers."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal import roles
from releases.audit import audit_record
from releases.models import AuditEvent, Gate, PullRequest, Release
from releases.planning.forecast import DependencyState
from releases.planning.selectors.release_page import dependency_state
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(client_for):
    return client_for(roles.PROJECT_OFFICE)


@pytest.fixture
def manager_user(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER, first_name="Rita", last_name="Manager")


@pytest.fixture
def manager(manager_user):
    client = Client()
    client.force_login(manager_user)
    return client


def _release(**fields) -> Release:
    if "application" not in fields:
        fields["application"] = f.ApplicationFactory(key="PAY", name="Payments Hub")
    return f.ReleaseFactory(
        **({"version": "4.2.0", "status": "in_progress", "target_date": f.day(10)} | fields)
    )


def _section(html: str, title_id: str) -> str:
    return html.split(f'id="{title_id}"', 1)[1].split("</section>", 1)[0]


# --- what the page shows ----------------------------------------------------------------------------


def test_header_and_dates(office):
    owner = f.UserFactory(first_name="Olga", last_name="Owner")
    train = f.ReleaseTrainFactory(name="Spring train")
    release = _release(
        summary="Cross-border fees",
        owner=owner,
        train=train,
        code_freeze_date=f.day(7),
        forecast_date=f.day(13),
        forecast_slip_days=3,
        at_risk=True,
    )
    html = office.get(f"/releases/{release.pk}/").content.decode()
    assert "<title>PAY 4.2.0 · Flightdeck</title>" in html
    assert '<abbr title="Payments Hub">PAY</abbr> 4.2.0</h1>' in html
    assert '<span class="badge status-in_progress">In progress</span>' in html
    assert '<span class="badge badge-alert">At risk</span>' in html
    assert "Cross-border fees" in html
    plan = _section(html, "release-plan")
    assert f.day(10).strftime("%a %-d %b %Y") in plan
    assert f.day(7).strftime("%a %-d %b %Y") in plan
    forecast = _section(html, "release-forecast")
    assert f.day(13).strftime("%a %-d %b %Y") in forecast
    assert "+3 days late" in forecast
    assert "Olga Owner" in plan
    assert f'<a href="/releases/trains/{train.pk}/">Spring train</a>' in plan


def test_waiting_for_and_critical_path_name_the_releases(office):
    upstream = _release(application=f.ApplicationFactory(key="CLM"), version="1.3.0")
    further = _release(application=f.ApplicationFactory(key="LED"), version="7.0.0")
    release = _release(
        forecast_date=f.day(15),
        forecast_slip_days=5,
        forecast_waiting_for=[
            {
                "kind": "upstream",
                "until": f.day(15).isoformat(),
                "detail": "ships_before",
                "release_id": upstream.pk,
            },
            {
                "kind": "gate",
                "until": f.day(12).isoformat(),
                "detail": "gate due 2030-01-15",
                "release_id": None,
            },
            {"kind": "freeze", "until": f.day(11).isoformat(), "detail": "freeze a to b", "release_id": None},
        ],
        forecast_critical_path=[upstream.pk, further.pk],
    )
    html = office.get(f"/releases/{release.pk}/").content.decode()
    waits = _section(html, "release-forecast")
    assert f'Waits for <a href="/releases/{upstream.pk}/">CLM 1.3.0</a> to ship first' in waits
    assert "A gate not yet passed (gate due 2030-01-15)" in waits
    assert "A freeze window (freeze a to b)" in waits
    assert waits.index("CLM 1.3.0") < waits.index("A gate") < waits.index("A freeze")
    path = waits.split('class="critical-path"', 1)[1]
    assert re.findall(r'<a href="/releases/(\d+)/">', path) == [str(upstream.pk), str(further.pk)]


def test_gates_with_state_and_evidence(office):
    release = _release()
    f.GateFactory(
        release=release,
        name="QA sign-off",
        kind="qa",
        status="failed",
        decided_at=datetime(2030, 1, 10, 9, 0, tzinfo=UTC),
        due_date=f.day(8),
        evidence_pass_rate=0.97,
        evidence_failed_tests=3,
        evidence_open_blockers=2,
        evidence_build_result="unstable",
        evidence_source="Jenkins pay-release #41",
        evidence_at=datetime(2030, 1, 11, 8, 30, tzinfo=UTC),
    )
    f.GateFactory(release=release, name="Security review", kind="security", due_date=f.day(9))
    gates = _section(office.get(f"/releases/{release.pk}/").content.decode(), "gates-title")
    assert gates.index("QA sign-off") < gates.index("Security review")
    assert '<span class="badge gate-failed">Failed</span>' in gates
    assert '<span class="badge gate-pending">Pending</span>' in gates
    assert "Pass rate <strong>97%</strong>" in gates
    assert "<strong>3</strong> failed tests" in gates
    assert "<strong>2</strong> open blockers" in gates
    assert "Build <strong>unstable</strong>" in gates
    assert "Jenkins pay-release #41 · 11 Jan 2030 08:30" in gates
    assert "No automatic evidence" in gates


@pytest.mark.parametrize(
    ("upstream", "kind", "state"),
    [
        ({"status": "released", "actual_date": f.day(1)}, "ships_before", DependencyState.SATISFIED),
        ({"status": "cancelled"}, "ships_before", DependencyState.BLOCKED),
        (
            {"forecast_date": None, "forecast_updated_at": datetime(2030, 1, 1, tzinfo=UTC)},
            "ships_before",
            DependencyState.BLOCKED,
        ),
        ({"forecast_date": f.day(9)}, "ships_before", DependencyState.PENDING),
        ({"forecast_date": f.day(10)}, "ships_before", DependencyState.AT_RISK),
        ({"forecast_date": f.day(10)}, "ships_with", DependencyState.PENDING),
        ({"forecast_date": f.day(11)}, "ships_with", DependencyState.AT_RISK),
        ({"target_date": f.day(12)}, "ships_before", DependencyState.AT_RISK),  # never forecast: its target
    ],
)
def test_dependency_state_follows_the_forecast_rules(upstream, kind, state):
    release = Release(**({"status": "planned", "target_date": f.day(5), "forecast_date": None} | upstream))
    assert dependency_state(upstream=release, downstream_target=f.day(10), kind=kind) == state


def test_dependencies_both_ways_with_their_state(office):
    release = _release(forecast_date=f.day(10))
    shipped = _release(
        application=f.ApplicationFactory(key="CLM"), version="1.0", status="released", actual_date=f.day(1)
    )
    late = _release(application=f.ApplicationFactory(key="LED"), version="2.0", forecast_date=f.day(12))
    waiting = _release(application=f.ApplicationFactory(key="WEB"), version="3.0", target_date=f.day(10))
    f.ReleaseDependencyFactory(downstream=release, upstream=shipped, note="Needs the <i>new</i> API")
    f.ReleaseDependencyFactory(downstream=release, upstream=late)
    f.ReleaseDependencyFactory(downstream=waiting, upstream=release, kind="ships_with")
    html = _section(office.get(f"/releases/{release.pk}/").content.decode(), "dependencies-title")
    needs, needed_by = html.split("Needed by", 1)
    assert re.search(r"CLM 1\.0</a>\s*<span class=\"badge dep-satisfied\">Satisfied</span>", needs)
    assert re.search(r"LED 2\.0</a>\s*<span class=\"badge dep-at_risk\">At risk</span>", needs)
    assert "Needs the &lt;i&gt;new&lt;/i&gt; API" in needs
    assert re.search(r"WEB 3\.0</a>\s*<span class=\"badge dep-pending\">Pending</span>", needed_by)
    assert "WEB" not in needs


def test_scope_by_type_and_status_category(office):
    release = _release()
    for kind, category, descoped in [
        ("story", "done", False),
        ("story", "done", False),
        ("story", "in_progress", False),
        ("bug", "todo", False),
        ("bug", "done", True),
    ]:
        f.WorkItemFactory(
            application=release.application, type=kind, status_category=category, descoped=descoped
        ).fix_releases.add(release)
    f.WorkItemFactory(application=release.application).fix_releases.add(
        _release(application=release.application, version="other")
    )
    scope = _section(office.get(f"/releases/{release.pk}/").content.decode(), "scope-title")
    cells = lambda label: re.findall(  # noqa: E731
        r'<td class="num">(\d+)</td>', scope.split(f'<th scope="row">{label}</th>', 1)[1].split("</tr>", 1)[0]
    )
    assert cells("Story") == ["0", "1", "2"]
    assert cells("Bug") == ["1", "0", "0"]
    assert cells("All") == ["1", "1", "2"]
    assert "<strong>2 / 4</strong>" in scope
    assert "1 item descoped" in scope


def test_latest_builds_test_runs_and_where_it_is_deployed(office):
    release = _release()
    for n in range(7):
        f.BuildFactory(application=release.application, release=release, job="pay-release", number=100 + n)
        f.TestRunFactory(release=release, name=f"Suite {n}", executed_at=f.moment(n))
    html = office.get(f"/releases/{release.pk}/").content.decode()
    builds = _section(html, "builds-title")
    assert re.findall(r"pay-release #(\d+)", builds) == ["106", "105", "104", "103", "102"]
    runs = _section(html, "tests-title")
    assert re.findall(r"(Suite \d)", runs) == ["Suite 6", "Suite 5", "Suite 4", "Suite 3", "Suite 2"]

    sit, uat = f.EnvironmentFactory(name="SIT-01"), f.EnvironmentFactory(name="UAT-01")
    app = release.application
    f.DeploymentFactory(
        environment=sit, application=app, version="4.2.0", deployed_at=f.moment(1), status="failure"
    )
    f.DeploymentFactory(environment=sit, application=app, version="4.2.0", deployed_at=f.moment(2))
    f.DeploymentFactory(environment=uat, application=app, version="4.2.0", deployed_at=f.moment(3))
    f.DeploymentFactory(environment=uat, application=app, version="4.3.0", deployed_at=f.moment(4))
    f.DeploymentFactory(application=f.ApplicationFactory(), version="4.2.0")  # another application
    deployed = _section(office.get(f"/releases/{release.pk}/").content.decode(), "deployed-title")
    assert re.findall(r"<strong>([^<]+)</strong>", deployed) == ["SIT-01", "UAT-01"]
    sit_line, uat_line = deployed.split("<li>")[1:]
    assert "Success" in sit_line and "Failure" not in sit_line, "the latest deployment per environment"
    assert "newer version has replaced it" in uat_line and "replaced" not in sit_line


def test_a_deployment_the_tool_tagged_its_own_way_shows_through_its_release_link(office):
    release = _release()
    prod = f.EnvironmentFactory(name="PROD-EU")
    f.DeploymentFactory(
        environment=prod, application=release.application, version=f"v{release.version}", release=release
    )
    deployed = _section(office.get(f"/releases/{release.pk}/").content.decode(), "deployed-title")
    assert re.findall(r"<strong>([^<]+)</strong>", deployed) == ["PROD-EU"]


def test_timeline_lists_this_releases_events_newest_first(office, manager_user):
    from django.db import transaction

    release = _release()
    other = _release(application=release.application, version="9.9")
    with transaction.atomic():
        audit_record(actor=manager_user, action="release.create", obj=release)
        audit_record(
            actor=manager_user,
            action="release.update",
            obj=release,
            before={"target_date": "2030-01-17", "status": "planned"},
            after={"target_date": "2030-01-20", "status": "planned"},
        )
        audit_record(actor=None, action="release.update", obj=other)
    timeline = _section(office.get(f"/releases/{release.pk}/").content.decode(), "timeline-title")
    name = manager_user.get_full_name() or manager_user.username
    assert re.findall(r"<strong>([^<]+)</strong> by ([^<\n]+)", timeline) == [
        ("Changed", name),
        ("Created", name),
    ]
    assert "target: <del>2030-01-17</del> → <ins>2030-01-20</ins>" in timeline
    assert "status:" not in timeline, "only the fields that moved"


def test_the_timeline_reads_decisions_and_signatures_with_names(office, user_in_role):
    from django.db import transaction

    release = _release(version="4.2.0")
    reviewer = user_in_role(roles.SECURITY_REVIEWER, first_name="Sofia", last_name="Martins")
    gate = f.GateFactory(release=release, kind="security", name="Security review")
    with transaction.atomic():
        signoff = f.SignOffFactory(gate=gate, signer=reviewer, decision="approve")
        Gate.objects.filter(pk=gate.pk).update(status="passed", decided_at=signoff.signed_at)
        gate.refresh_from_db()
        audit_record(actor=reviewer, action="gate.decide", obj=gate, before={"status": "pending"})
    timeline = _section(office.get(f"/releases/{release.pk}/").content.decode(), "timeline-title")
    label = f"{release.application.key} 4.2.0"
    assert f"<strong>Security review of {label} passed</strong>" in timeline
    assert f"<strong>Sofia Martins approved Security review of {label}</strong>" in timeline
    assert f"for {gate.pk}" not in timeline, "names, not ids"


def test_markup_in_version_and_summary_is_text(office):
    release = _release(version="<script>alert(1)</script>", summary="<img src=x onerror=alert(2)>")
    html = office.get(f"/releases/{release.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_unknown_release_is_404(office):
    assert office.get("/releases/999999/").status_code == 404


def test_htmx_can_refresh_one_part(office):
    release = _release()
    html = office.get(
        f"/releases/{release.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="audit-timeline"
    ).content.decode()
    assert html.lstrip().startswith('<section id="audit-timeline"')
    assert "<html" not in html


def _pulls(release: Release, count: int, *, first: int = 1, **fields) -> None:
    """`count` pull requests of the release, numbered from `first`, opened an hour apart; every
    second one merged."""
    PullRequest.objects.bulk_create(
        PullRequest(
            application=release.application,
            release=release,
            repository="acme/pay",
            number=number,
            title=f"Change {number}",
            state="merged" if number % 2 else "open",
            author="dev",
            created_at=f.moment(number),
            updated_at=f.moment(number + 1),
            merged_at=f.moment(number + 1) if number % 2 else None,
            closed_at=f.moment(number + 1) if number % 2 else None,
            url=f"https://github.example/acme/pay/pull/{number}?tab=files&x=1",
            **fields,
        )
        for number in range(first, first + count)
    )


def _pull_requests(client, release) -> str:
    response = client.get(f"/releases/{release.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="pull-requests")
    assert response.status_code == 200
    return response.content.decode()


def test_pull_requests_load_after_the_page_with_counts_and_the_newest_ten(office):
    release = _release()
    _pulls(release, 13)
    _pulls(_release(application=release.application, version="9.9"), 4, first=50)  # another release's
    PullRequest.objects.filter(number=13).update(title="<script>alert(1)</script>", url="javascript:alert(1)")
    page = office.get(f"/releases/{release.pk}/").content.decode()
    placeholder = _section(page, "pull-requests")
    assert 'hx-trigger="load"' in placeholder and 'hx-target="this"' in placeholder
    assert '<a href="?pull_requests=1#pull-requests">' in placeholder  # without JavaScript
    assert "Change 12" not in page

    html = _pull_requests(office, release)
    assert html.lstrip().startswith('<section id="pull-requests"') and "<html" not in html
    assert "<strong>7</strong> merged · <strong>6</strong> open" in html
    assert "the newest 10 of 13" in html
    assert re.findall(r"acme/pay#(\d+)", html) == [str(n) for n in range(13, 3, -1)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "javascript:" not in html, "only http(s) addresses become links"
    assert (
        '<a href="https://github.example/acme/pay/pull/12?tab=files&amp;x=1" rel="noopener noreferrer">'
        in html
    )
    assert '<span class="badge pr-merged">Merged</span>' in html


def test_pull_requests_are_in_the_page_without_javascript_and_say_when_there_are_none(office):
    release = _release()
    _pulls(release, 2)
    page = office.get(f"/releases/{release.pk}/?pull_requests=1").content.decode()
    assert page.count('id="pull-requests"') == 1
    assert "<strong>1</strong> merged · <strong>1</strong> open" in _section(page, "pulls-title")
    other = _release(application=release.application, version="5.0")
    assert "No pull requests name this release" in _pull_requests(office, other)


def test_pull_request_query_count_does_not_grow(office):
    release = _release()
    _pulls(release, 2)
    _pull_requests(office, release)
    with CaptureQueriesContext(connection) as few:
        _pull_requests(office, release)
    _pulls(release, 40, first=100)
    with CaptureQueriesContext(connection) as many:
        html = _pull_requests(office, release)
    assert len(few) == len(many) <= 6
    assert "the newest 10 of 42" in html


def _grow(release: Release, n: int) -> None:
    """n more of everything the page shows."""
    app = release.application
    env = f.EnvironmentFactory()
    ups = [
        _release(application=f.ApplicationFactory(), version=f"u{n}.{i}", forecast_date=f.day(i))
        for i in range(n)
    ]
    for i, up in enumerate(ups):
        f.ReleaseDependencyFactory(downstream=release, upstream=up)
        f.ReleaseDependencyFactory(
            downstream=_release(application=f.ApplicationFactory(), version=f"d{n}.{i}"), upstream=release
        )
        f.GateFactory(release=release, evidence_at=f.moment(i), evidence_source="ci")
        f.WorkItemFactory(application=app, type=["story", "bug", "task"][i % 3]).fix_releases.add(release)
        f.BuildFactory(application=app, release=release)
        f.TestRunFactory(release=release, environment=env)
        f.DeploymentFactory(environment=f.EnvironmentFactory(), application=app, version=release.version)
    _pulls(release, n, first=1000 * n)
    from django.db import transaction

    with transaction.atomic():
        for _ in range(n):
            audit_record(actor=None, action="release.update", obj=release)
    Release.objects.filter(pk=release.pk).update(
        forecast_waiting_for=[
            {"kind": "upstream", "until": "2030-02-01", "detail": "ships_before", "release_id": up.pk}
            for up in ups
        ],
        forecast_critical_path=[up.pk for up in ups],
    )


@pytest.mark.parametrize("role", [roles.PROJECT_OFFICE, roles.RELEASE_MANAGER])
def test_query_count_does_not_grow_with_the_data(client_for, role):
    client = client_for(role)
    release = _release()
    url = f"/releases/{release.pk}/"
    client.get(url)
    _grow(release, 2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _grow(release, 12)
    with CaptureQueriesContext(connection) as many:
        html = client.get(url).content.decode()
    assert len(few) == len(many)
    assert len(many) <= 16  # with the header's unread notifications
    assert html.count('class="dependency"') == 28


# --- editing dates and status ---------------------------------------------------------------------


def test_only_release_managers_see_the_edit_controls(office, manager):
    release = _release()
    assert "Edit dates and status" not in office.get(f"/releases/{release.pk}/").content.decode()
    assert "Add a dependency" not in office.get(f"/releases/{release.pk}/").content.decode()
    html = manager.get(f"/releases/{release.pk}/").content.decode()
    assert "Edit dates and status" in html
    assert f'hx-post="/releases/{release.pk}/edit/"' in html
    assert "Add a dependency" in html


def _plan(release, **changes) -> dict:
    data = {
        "status": release.status,
        "target_date": release.target_date.isoformat(),
        "code_freeze_date": release.code_freeze_date.isoformat() if release.code_freeze_date else "",
        "actual_date": release.actual_date.isoformat() if release.actual_date else "",
    } | changes
    return {f"plan-{name}": value for name, value in data.items()}


def test_edit_saves_through_the_service_and_is_audited(
    manager, manager_user, monkeypatch, django_capture_on_commit_callbacks
):
    from releases import tasks

    enqueued = []
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: enqueued.append(True))
    release = _release()
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(
            f"/releases/{release.pk}/edit/",
            _plan(release, target_date="2030-02-01", code_freeze_date="2030-01-28"),
        )
    assert response.status_code == 302
    assert response["Location"] == f"/releases/{release.pk}/"
    release.refresh_from_db()
    assert (release.target_date.isoformat(), release.code_freeze_date.isoformat()) == (
        "2030-02-01",
        "2030-01-28",
    )
    event = AuditEvent.objects.get(action="release.update")
    assert (event.actor, event.object_type, event.object_id) == (
        manager_user,
        "releases.release",
        str(release.pk),
    )
    assert event.before["target_date"] == f.day(10).isoformat()
    assert enqueued == [True], "the forecast refresh is enqueued after the commit"
    timeline = _section(manager.get(f"/releases/{release.pk}/").content.decode(), "timeline-title")
    assert "target: <del>2030-01-17</del> → <ins>2030-02-01</ins>" in timeline


def test_edit_by_htmx_returns_the_plan_with_header_and_timeline_out_of_band(manager):
    release = _release()
    response = manager.post(
        f"/releases/{release.pk}/edit/", _plan(release, status="code_freeze"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="release-plan"')
    assert "Saved." in html
    assert '<header id="release-header" class="release-header" hx-swap-oob="true">' in html
    assert (
        '<section id="audit-timeline" class="card" aria-labelledby="timeline-title" hx-swap-oob="true">'
        in html
    )
    assert "status: <del>in_progress</del> → <ins>code_freeze</ins>" in html
    assert '<span class="badge status-code_freeze">Code freeze</span>' in html


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"code_freeze_date": "2030-02-01"},
            "code_freeze_date",
            "The code freeze must be on or before the target date.",
        ),
        ({"status": "released"}, "actual_date", "A released release needs the day it shipped."),
        ({"actual_date": "2030-01-10"}, "actual_date", "Only a released release has a ship date"),
        ({"target_date": "not-a-date"}, "target_date", "Enter a valid date."),
        ({"status": "shipped"}, "status", "Select a valid choice."),
    ],
)
def test_invalid_edit_shows_the_error_and_changes_nothing(manager, changes, field, message):
    release = _release()
    before = Release.objects.filter(pk=release.pk).values().get()
    response = manager.post(
        f"/releases/{release.pk}/edit/", _plan(release, **changes), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="release-plan"')
    assert message in html
    assert 'class="field field-error"' in html and f'id="id_plan-{field}"' in html
    assert '<details class="edit" open>' in html
    assert Release.objects.filter(pk=release.pk).values().get() == before
    assert not AuditEvent.objects.exists()


def test_invalid_edit_without_javascript_renders_the_whole_page_with_errors(manager):
    release = _release()
    response = manager.post(f"/releases/{release.pk}/edit/", _plan(release, status="released"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "<html" in html and "A released release needs the day it shipped." in html


def test_released_with_its_ship_date_is_accepted(manager):
    release = _release()
    response = manager.post(
        f"/releases/{release.pk}/edit/", _plan(release, status="released", actual_date="2030-01-16")
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.status, release.actual_date.isoformat()) == ("released", "2030-01-16")


def test_edit_by_the_wrong_role_is_403(office):
    release = _release()
    response = office.post(f"/releases/{release.pk}/edit/", _plan(release, target_date="2030-03-01"))
    assert response.status_code == 403
    release.refresh_from_db()
    assert release.target_date == f.day(10)
    assert not AuditEvent.objects.exists()


def test_edit_without_csrf_token_is_403(manager_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager_user)
    release = _release()
    response = client.post(f"/releases/{release.pk}/edit/", _plan(release, target_date="2030-03-01"))
    assert response.status_code == 403
    release.refresh_from_db()
    assert release.target_date == f.day(10)


def test_edit_is_post_only(manager):
    assert manager.get(f"/releases/{_release().pk}/edit/").status_code == 405
