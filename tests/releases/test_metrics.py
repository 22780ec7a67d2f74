"""/metrics/: the four DORA measures against a small hand-checked set of production deployments, their
edge cases (no deployments, a rollback, a failure not restored yet), the page, its CSV and its query
count."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import roles
from releases.metrics.charts import Bar, stacked_bars
from releases.metrics.dora import Period, Scope, dora, share, span, weekly
from releases.metrics.rollups import metrics_rollup
from tests import factories as f

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 7, tzinfo=UTC)  # a Monday
PERIOD = Period(START, START + timedelta(days=28))


def at(days: float, hours: float = 0) -> datetime:
    return START + timedelta(days=days, hours=hours)


@pytest.fixture
def world():
    """PAY on PROD-EU: deployments on days 1 (ok), 3 (failed, fixed 2 h later), 10 (rolled back, fixed
    the next day at +26 h), 20 (ok), 27 (failed, not fixed yet); one on UAT (never counted) and one
    before the period. PAY 4.2's first pull request opened 5 days before its day-1 deployment, its
    first work item 8 days before."""
    payments = f.PortfolioFactory(name="Payments")
    pay = f.ApplicationFactory(key="PAY", portfolio=payments)
    other = f.ApplicationFactory(key="WEB")
    prod = f.EnvironmentFactory(name="PROD-EU", kind="prod")
    uat = f.EnvironmentFactory(name="UAT", kind="uat")
    release = f.ReleaseFactory(application=pay, version="4.2")
    f.PullRequestFactory(application=pay, release=release, created_at=at(-4), updated_at=at(-4))
    item = f.WorkItemFactory(application=pay, created_at=at(-7))
    item.fix_releases.add(release)

    def deploy(day, status, hours=0, environment=prod, application=pay, **fields):
        return f.DeploymentFactory(
            environment=environment,
            application=application,
            deployed_at=at(day, hours),
            status=status,
            **fields,
        )

    deploy(1, "success", release=release)
    deploy(3, "failure")
    deploy(3, "success", hours=2)
    deploy(10, "rolled_back")
    deploy(11, "success", hours=2)
    deploy(20, "success")
    deploy(27, "failure")
    deploy(5, "failure", environment=uat)
    deploy(-3, "success")
    deploy(26, "in_progress")
    deploy(15, "success", application=other)
    return {"payments": payments, "pay": pay, "other": other}


def test_the_four_measures_on_a_hand_checked_set(world):
    result = dora(Scope(application_id=world["pay"].pk), PERIOD)
    # 7 finished attempts on production in the period: 4 successes (days 1, 3+2h, 11+2h, 20) ... and
    # the day-1 one; failures: day 3, the rollback of day 10, day 27.
    assert (result.deployments, result.successes, result.failures) == (7, 4, 3)
    assert result.per_week == pytest.approx(1.0)
    assert result.failure_share == "43%" and result.failure_rate == pytest.approx(3 / 7)
    assert sorted(result.restored) == [timedelta(hours=2), timedelta(hours=26)]
    assert result.unrestored == 1
    assert result.median_restore == timedelta(hours=14)
    assert result.lead_times == [timedelta(days=8)]  # the work item started before the pull request


def test_scopes_count_their_own_deployments(world):
    assert dora(Scope(portfolio_ids=(world["payments"].pk,)), PERIOD).deployments == 7
    assert dora(Scope(application_id=world["other"].pk), PERIOD).deployments == 1
    assert dora(Scope(), PERIOD).deployments == 8


def test_no_deployments_says_so_rather_than_zero_percent():
    result = dora(Scope(), PERIOD)
    assert (result.deployments, result.failure_rate, result.failure_share) == (0, None, "—")
    assert result.restore_words == "—" and result.lead_time_words == "—"


def test_the_previous_period_is_the_same_length_before(world):
    before = dora(Scope(application_id=world["pay"].pk), PERIOD.previous())
    assert PERIOD.previous().end == PERIOD.start and before.deployments == 1


def test_weeks_cover_the_period_with_empty_weeks_shown(world):
    weeks = weekly(Scope(application_id=world["pay"].pk), PERIOD)
    assert [(w["successes"], w["failures"]) for w in weeks] == [(2, 1), (1, 1), (1, 0), (0, 1)]


@pytest.mark.parametrize(
    ("part", "whole", "words"),
    [
        (0, 5, "0%"),
        (5, 5, "100%"),
        (1, 400, "0.2%"),
        (399, 400, "99.8%"),
        (1, 100_000, "< 0.1%"),
        (2, 14, "14%"),
    ],
)
def test_a_share_never_rounds_to_0_or_100_when_the_truth_is_not(part, whole, words):
    assert share(part, whole) == words


def test_durations_read_in_words():
    assert [span(timedelta(minutes=m)) for m in (12, 125, 60, 3 * 1440 + 240)] == [
        "12 min",
        "2 h 5 min",
        "1 h",
        "3 d 4 h",
    ]


def test_the_chart_is_accessible_svg_with_escaped_text():
    svg = stacked_bars([Bar("<b>", (1, 2), "<script>")], title="T & co", description="D", classes=("a", "b"))
    assert (
        svg.startswith("<svg") and 'role="img"' in svg and '<title id="chart-title">T &amp; co</title>' in svg
    )
    assert "<script>" not in svg and "&lt;b&gt;" in svg


# --- the page -------------------------------------------------------------------------------------------


def _page(client, **params):
    return client.get("/metrics/", params)


def test_the_page_shows_each_figure_with_its_universe(world, client_for, monkeypatch):
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    html = _page(client_for(roles.PROJECT_OFFICE), application=world["pay"].pk).content.decode()
    assert "3 failures in 7 deployments" in html and "43%" in html
    assert "4 successful production deployments in 28 days" in html
    assert "median of 2 restored failures; 1 not restored yet" in html
    assert "14 h" in html and "8 d" in html
    assert 'role="img"' in html and 'id="weekly-table"' in html


def test_the_csv_lists_the_deployments_behind_a_figure(world, client_for, monkeypatch):
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    client = client_for(roles.PROJECT_OFFICE)
    response = client.get("/metrics/deployments.csv", {"application": world["pay"].pk, "failures": "1"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["Deployed at", "Application", "Version", "Environment", "Status"]
    assert [row[4] for row in rows[1:]] == ["Failure", "Rolled back", "Failure"]  # labels, as the page
    weekly_rows = list(
        csv.reader(io.StringIO(b"".join(client.get("/metrics/weekly.csv").streaming_content).decode()))
    )
    assert weekly_rows[0] == ["Week of", "Successful", "Failed"] and len(weekly_rows) == 5


@pytest.mark.parametrize(
    "params", [{"portfolio": "999999"}, {"application": "x"}, {"days": "7"}, {"portfolio": "9" * 40}]
)
def test_bad_choices_are_named_and_ignored_never_a_500(world, client_for, params):
    response = _page(client_for(roles.PROJECT_OFFICE), **params)
    assert response.status_code == 200
    assert "Ignored filter values" in response.content.decode()


@pytest.mark.parametrize("params", [{}, {"portfolio": ""}, {"days": ""}])
def test_the_period_select_shows_the_period_the_figures_are_for(world, client_for, params):
    html = _page(client_for(roles.PROJECT_OFFICE), **params).content.decode()
    assert '<option value="90" selected>Last 90 days</option>' in html
    assert "with the 90 days before" in html


def test_a_nul_byte_is_a_clear_400(client_for):
    response = _page(client_for(roles.PROJECT_OFFICE), application="x\x00")
    assert response.status_code == 400


def test_the_page_needs_a_sign_in(client):
    assert client.get("/metrics/").status_code == 302


def test_the_query_count_does_not_grow(world, client_for):
    client = client_for(roles.PROJECT_OFFICE)
    client.get("/metrics/")
    with CaptureQueriesContext(connection) as few:
        client.get("/metrics/")
    for n in range(20):
        f.DeploymentFactory(
            environment=f.EnvironmentFactory(kind="prod"),
            application=world["pay"],
            deployed_at=datetime.now(UTC) - timedelta(days=n % 60),
            status="failure" if n % 3 else "success",
            release=f.ReleaseFactory(application=world["pay"]),
        )
    with CaptureQueriesContext(connection) as many:
        client.get("/metrics/")
    assert len(many) == len(few)


def test_the_page_shows_the_release_measures_with_their_universe(world, client_for, monkeypatch):
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    for target, actual in ((5, 4), (6, 9)):
        f.ReleaseFactory(
            application=world["pay"],
            status="released",
            target_date=(START + timedelta(days=target)).date(),
            actual_date=(START + timedelta(days=actual)).date(),
        )
    client = client_for(roles.PROJECT_OFFICE)
    html = _page(client, application=world["pay"].pk).content.decode()
    assert "1 of 2 releases shipped on or before their target" in html and "50%" in html
    assert 'id="slips-table"' in html and '<title id="slips-title">' in html
    rows = list(
        csv.reader(io.StringIO(b"".join(client.get("/metrics/slips.csv").streaming_content).decode()))
    )
    assert rows[0] == ["Shipped", "Releases"] and ["1-3 days late", "1"] in rows


def test_a_redeploy_of_an_earlier_version_is_a_rollback_and_a_failure(client_for, monkeypatch):
    """1.0, then 1.1, then 1.0 again on PROD: the third is a rollback the tool did not mark; deploying
    1.1 to a second environment is not."""
    pay = f.ApplicationFactory(key="PAY")
    prod, prod_uk = f.EnvironmentFactory(kind="prod"), f.EnvironmentFactory(kind="prod")
    for day, version, environment in (
        (1, "1.0", prod),
        (2, "1.1", prod),
        (3, "1.0", prod),
        (4, "1.1", prod_uk),
    ):
        f.DeploymentFactory(
            application=pay, environment=environment, version=version, deployed_at=at(day), status="success"
        )
    result = dora(Scope(), PERIOD)
    assert (result.deployments, result.successes, result.failures) == (4, 4, 1)
    first_week = weekly(Scope(), PERIOD)[0]
    assert (first_week["successes"], first_week["failures"]) == (3, 1)
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    response = client_for(roles.PROJECT_OFFICE).get("/metrics/deployments.csv", {"failures": "1"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row[2], row[5]) for row in rows[1:]] == [("1.0", "yes")]


def test_an_incident_naming_a_release_fails_its_deployment_and_one_naming_none_is_shown_apart(
    client_for, monkeypatch
):
    pay = f.ApplicationFactory(key="PAY")
    prod = f.EnvironmentFactory(kind="prod")
    shipped, quiet = f.ReleaseFactory(application=pay), f.ReleaseFactory(application=pay)
    f.DeploymentFactory(
        application=pay, environment=prod, release=shipped, deployed_at=at(1), status="success"
    )
    f.DeploymentFactory(application=pay, environment=prod, release=quiet, deployed_at=at(5), status="success")
    incident = f.WorkItemFactory(application=pay, type="incident", created_at=at(2))
    incident.fix_releases.add(shipped)
    f.WorkItemFactory(application=pay, type="incident", created_at=at(3))  # names no release
    result = dora(Scope(), PERIOD)
    assert (result.deployments, result.successes, result.failures) == (2, 2, 1)
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    html = _page(client_for(roles.PROJECT_OFFICE)).content.decode()
    assert "1 failure in 2 deployments" in html
    assert "1 incident opened in this period names no release: not counted." in html


def test_the_incidents_csv_names_what_each_incident_blames(world, client_for, monkeypatch):
    monkeypatch.setattr("releases.metrics.views.MetricsForm.period", lambda self: PERIOD)
    release = world["pay"].releases.get(version="4.2")
    blaming = f.WorkItemFactory(application=world["pay"], type="incident", key="PAY-7", created_at=at(2))
    blaming.fix_releases.add(release)
    f.WorkItemFactory(application=world["pay"], type="incident", key="PAY-8", created_at=at(3))
    f.WorkItemFactory(application=world["pay"], type="incident", key="PAY-9", created_at=at(40))  # after
    response = client_for(roles.PROJECT_OFFICE).get("/metrics/incidents.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row[1], row[-2], row[-1]) for row in rows[1:]] == [("PAY-7", "PAY", "4.2"), ("PAY-8", "", "")]


def test_the_query_count_does_not_grow_once_rolled_up(world, client_for):
    client = client_for(roles.PROJECT_OFFICE)
    client.get("/metrics/")
    metrics_rollup()
    few = _first_and_kept_reads(client)
    for n in range(20):
        f.DeploymentFactory(
            environment=f.EnvironmentFactory(kind="prod"),
            application=world["pay"],
            deployed_at=datetime.now(UTC) - timedelta(days=n % 60),
            status="failure" if n % 3 else "success",
        )
        f.ReleaseFactory(
            application=world["pay"], status="released", actual_date=date.today() - timedelta(days=n)
        )
    metrics_rollup(full=True)
    many = _first_and_kept_reads(client)
    assert many == few
    assert few[1] < few[0]  # sums over the stored days are kept for the roll-up run


def _first_and_kept_reads(client) -> tuple[int, int]:
    """The page's queries on its first read after a roll-up run, and on the next read."""
    with CaptureQueriesContext(connection) as first:
        client.get("/metrics/")
    with CaptureQueriesContext(connection) as kept:
        client.get("/metrics/")
    return len(first), len(kept)
