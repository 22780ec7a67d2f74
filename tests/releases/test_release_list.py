"""The release list: table, filters with a notice for unknown values, sorting, pagination, the HTMX
partial, the CSV export of the current filter, and a query count that does not grow with the data."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client_for):
    return client_for(roles.PROJECT_OFFICE)


def _versions(html: str) -> list[str]:
    return re.findall(r'<td class="col-version"><a href="/releases/\d+/">([^<]+)</a>', html)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)
    return len(queries)


def _make_releases(n: int, **fields) -> list:
    portfolio = f.PortfolioFactory()
    train = f.ReleaseTrainFactory(portfolio=portfolio)
    owner = f.UserFactory()
    made = []
    for i in range(n):
        application = f.ApplicationFactory(portfolio=portfolio)
        made.append(
            f.ReleaseFactory(
                application=application, train=train, owner=owner, target_date=f.day(i), **fields
            )
        )
    return made


def test_columns_show_each_release_with_its_forecast(client):
    release = f.ReleaseFactory(
        application=f.ApplicationFactory(key="PAY", name="Payments Hub"),
        version="4.2.0",
        status="in_progress",
        target_date=f.day(3),
        forecast_date=f.day(8),
        forecast_slip_days=5,
        at_risk=True,
        owner=f.UserFactory(first_name="Olga", last_name="Owner"),
        train=f.ReleaseTrainFactory(name="Spring train"),
    )
    html = client.get("/releases/").content.decode()
    row = html.split('<td class="col-application">', 1)[1].split("</tr>", 1)[0]
    assert '<abbr title="Payments Hub">PAY</abbr>' in row
    assert f'<a href="/releases/{release.pk}/">4.2.0</a>' in row
    assert '<span class="badge status-in_progress">In progress</span>' in row
    assert f.day(3).isoformat() in row and f.day(8).isoformat() in row
    assert '<span class="slip slip-late">+5&nbsp;d</span>' in row
    assert '<span class="badge badge-alert">At risk</span>' in row
    assert "Olga Owner" in row
    assert f'<a href="/releases/trains/{release.train_id}/">Spring train</a>' in row


def test_the_odds_column_shows_the_share_and_p85_and_sorts(client):
    odds = {"forecast_p50": f.day(4), "forecast_p85": f.day(6), "forecast_p95": f.day(9)}
    f.ReleaseFactory(version="likely", target_date=f.day(5), forecast_on_time=0.9995, **odds)
    f.ReleaseFactory(version="unlikely", target_date=f.day(6), forecast_on_time=0.2, **odds)
    f.ReleaseFactory(version="unknown", target_date=f.day(7), forecast_odds_note="too little history")
    html = client.get("/releases/?sort=forecast_on_time").content.decode()
    assert _versions(html) == ["unlikely", "likely", "unknown"]  # the least likely first, those without last
    assert _versions(client.get("/releases/?sort=-forecast_on_time").content.decode()) == [
        "likely",
        "unlikely",
        "unknown",
    ]
    assert "&gt; 99%</span>" in html and "20%</span>" in html  # never rounded up to 100%
    assert f"P85 {f.day(6):%-d %b}" in html and 'title="too little history">—' in html


def test_the_risk_column_shows_the_score_with_its_reasons_and_sorts_the_riskiest_first(client):
    reasons = [{"points": 30, "text": "blocked: CAB rejected"}, {"points": 10, "text": "gate QA overdue"}]
    f.ReleaseFactory(version="calm", target_date=f.day(5), forecast_risk=5)
    f.ReleaseFactory(version="risky", target_date=f.day(6), forecast_risk=40, forecast_risk_reasons=reasons)
    html = client.get("/releases/?sort=-forecast_risk").content.decode()
    assert _versions(html) == ["risky", "calm"]
    assert 'title="+30 blocked: CAB rejected; +10 gate QA overdue">40</span>' in html


def test_sorted_by_target_date_by_default_and_by_any_column_on_request(client):
    f.ReleaseFactory(version="b-late", target_date=f.day(9), forecast_slip_days=0)
    f.ReleaseFactory(version="a-early", target_date=f.day(1), forecast_slip_days=7)
    f.ReleaseFactory(version="c-middle", target_date=f.day(5), forecast_slip_days=2)
    assert _versions(client.get("/releases/").content.decode()) == ["a-early", "c-middle", "b-late"]
    by_slip = client.get("/releases/?sort=-forecast_slip_days").content.decode()
    assert _versions(by_slip) == ["a-early", "c-middle", "b-late"]
    assert 'aria-sort="descending"' in by_slip
    assert _versions(client.get("/releases/?sort=-target_date").content.decode()) == [
        "b-late",
        "c-middle",
        "a-early",
    ]
    assert _versions(client.get("/releases/?sort=no-such-column").content.decode())[0] == "a-early"


def test_fifty_a_page_and_a_page_out_of_range_shows_the_last(client):
    _make_releases(53)
    first = client.get("/releases/").content.decode()
    assert len(_versions(first)) == 50
    assert "<strong>53</strong> releases" in first
    assert 'rel="next"' in first
    second = client.get("/releases/?page=2").content.decode()
    assert len(_versions(second)) == 3
    assert set(_versions(first)).isdisjoint(_versions(second))
    assert len(_versions(client.get("/releases/?page=99").content.decode())) == 3
    assert len(_versions(client.get("/releases/?page=abc").content.decode())) == 50


def test_filters_narrow_the_list(client):
    portfolio = f.PortfolioFactory()
    mine = f.ReleaseFactory(
        version="9.9.9", application=f.ApplicationFactory(portfolio=portfolio), at_risk=True
    )
    f.ReleaseFactory(version="1.0.0", at_risk=True)
    f.ReleaseFactory(version="2.0.0", application=mine.application, status="released", actual_date=f.day(1))
    html = client.get(f"/releases/?portfolio={portfolio.pk}&at_risk=true").content.decode()
    assert _versions(html) == ["9.9.9"]
    assert "Ignored" not in html
    assert f'<option value="{portfolio.pk}" selected>{portfolio.name}</option>' in html, (
        "the form keeps the filter"
    )
    assert '<input type="checkbox" name="at_risk" value="true" checked>' in html
    released = client.get("/releases/?status=released&status=planned").content.decode()
    assert '<input type="checkbox" name="status" value="released" checked>' in released
    assert '<input type="checkbox" name="status" value="cancelled">' in released
    assert _versions(client.get("/releases/?status=released").content.decode()) == ["2.0.0"]
    assert _versions(client.get("/releases/?q=9.9").content.decode()) == ["9.9.9"]


def test_opens_on_releases_from_this_week_on_and_shows_history_on_request(client):
    monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
    f.ReleaseFactory(version="9.0.old", target_date=monday - timedelta(days=1))
    f.ReleaseFactory(version="9.1.now", target_date=monday)
    assert _versions(client.get("/releases/").content.decode()) == ["9.1.now"]
    assert _versions(client.get("/releases/?when=past").content.decode()) == ["9.0.old"]
    assert _versions(client.get("/releases/?when=").content.decode()) == ["9.0.old", "9.1.now"]
    assert "9.0.old" not in client.get("/releases/export.csv").getvalue().decode(), "the export follows"


def test_unknown_filter_values_are_ignored_with_a_notice(client):
    f.ReleaseFactory(version="1.0.0")
    f.ReleaseFactory(version="2.0.0", status="planned")
    response = client.get("/releases/?portfolio=99999&status=shipped&status=planned&train=abc")
    assert response.status_code == 200
    html = response.content.decode()
    assert set(_versions(html)) == {"1.0.0", "2.0.0"}, "the bad values filter nothing"
    notice = re.search(r'<p class="notice" role="status">([^<]+)</p>', html).group(1)
    assert "Portfolio “99999”" in notice
    assert "Release train “abc”" in notice
    assert "Status “shipped, planned”" in notice


def test_htmx_request_for_the_table_gets_only_the_table(client):
    f.ReleaseFactory(version="1.0.0")
    response = client.get("/releases/?q=1.0", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="release-table")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="release-table"')
    assert "<html" not in html and 'role="search"' not in html
    assert _versions(html) == ["1.0.0"]
    assert 'href="/releases/export.csv?q=1.0"' in html, "the export link follows the filter"


def test_full_page_has_the_filter_form_wired_to_the_table(client):
    html = client.get("/releases/").content.decode()
    assert 'hx-target="#release-table"' in html
    assert 'hx-push-url="true"' in html
    assert 'method="get" action="/releases/"' in html, "filters also work without JavaScript"
    assert 'id="release-table"' in html
    assert re.findall(r'<option value=""[^>]*>([^<]+)</option>', html) == [
        "All portfolios",
        "All applications",
        "All trains",
        "Any gate state",
        "Any delivery state",
        "All dates",
    ]
    assert html.count('type="checkbox" name="status"') == 6


def test_markup_in_versions_is_shown_as_text(client):
    f.ReleaseFactory(
        version="<script>alert(1)</script>", application=f.ApplicationFactory(name="<b>bold</b>")
    )
    html = client.get("/releases/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html


def test_query_count_does_not_grow_with_the_data(client):
    url = "/releases/?sort=-forecast_slip_days&at_risk=false"
    client.get(url)
    _make_releases(3)
    few = _queries(client, url)
    _make_releases(60)
    many = _queries(client, url)
    assert few == many
    # session, user, role badge; count, page; portfolio, application and train choices
    assert many <= 10


def test_csv_exports_the_current_filter_in_full(client):
    portfolio = f.PortfolioFactory(name="Payments")
    application = f.ApplicationFactory(key="PAY", name="Payments Hub", portfolio=portfolio)
    f.ReleaseFactory(
        application=application,
        version="4.2.0",
        target_date=f.day(3),
        forecast_date=f.day(5),
        forecast_slip_days=2,
        at_risk=True,
        summary="=HYPERLINK(1)",
    )
    f.ReleaseFactory(application=application, version="4.1.0", released=True)
    f.ReleaseFactory(version="other")
    response = client.get(f"/releases/export.csv?portfolio={portfolio.pk}&status=planned")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="releases.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["Application", "Application name", "Portfolio", "Version", "Status", "Target date"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Application"] == "PAY"
    assert row["Version"] == "4.2.0"
    assert row["Target date"] == f.day(3).isoformat()
    assert row["Forecast date"] == f.day(5).isoformat()
    assert row["Slip days"] == "2"
    assert row["At risk"] == "yes"
    assert row["Summary"] == "'=HYPERLINK(1)", "a formula is written as text"


def test_csv_query_count_does_not_grow_with_the_data(client):
    url = "/releases/export.csv?status=planned"
    client.get(url)
    _make_releases(3)
    few = _queries(client, url)
    _make_releases(60)
    many = _queries(client, url)
    assert few == many
