"""The release calendar: month and week grids, a day's full list, filters, freezes, bad input, queries."""

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import roles
from releases.planning.calendar import (
    BadPeriod,
    FreezeDays,
    build_grid,
    month_period,
    parse_month,
    parse_week,
    period_from,
)
from tests import factories as f

pytestmark = pytest.mark.django_db

JAN = "/calendar/?month=2030-01"


@pytest.fixture
def client(client_for):
    return client_for(roles.PROJECT_OFFICE)


def day_cell(html: str, day: date) -> str:
    """The HTML of one day's cell in the grid."""
    match = re.search(rf'<td data-day="{day:%Y-%m-%d}".*?</td>', html, re.S)
    assert match, f"no cell for {day}"
    return match.group(0)


def shown_releases(html: str) -> list[str]:
    return [
        " ".join(m) for m in re.findall(r'cal-key">([^<]+)</span>\s*<span class="cal-version">([^<]+)<', html)
    ]


# --- the grid, as plain data ------------------------------------------------------------------------


def test_a_month_is_shown_as_whole_weeks_from_monday():
    period = parse_month("2030-01")
    assert (period.start, period.end) == (date(2029, 12, 31), date(2030, 2, 4))
    assert period.label == "January 2030"
    assert period.previous().param == ("month", "2029-12")
    assert period.following().param == ("month", "2030-02")
    assert parse_month("2030-12").following().param == ("month", "2031-01")


def test_a_week_is_an_iso_week():
    period = parse_week("2030-W02")
    assert (period.start, period.end) == (date(2030, 1, 7), date(2030, 1, 14))
    assert period.param == ("week", "2030-W02")
    assert parse_week("2020-W53").following().param == ("week", "2021-W01")


@pytest.mark.parametrize("value", ["2030-13", "2030", "jan", "2030-00", "99999-01", ""])
def test_a_bad_month_is_refused(value):
    with pytest.raises(BadPeriod):
        parse_month(value)


@pytest.mark.parametrize("value", ["2030-W54", "2030-02", "2030-Wx", "W02"])
def test_a_bad_week_is_refused(value):
    with pytest.raises(BadPeriod):
        parse_week(value)


def test_without_a_period_the_calendar_shows_this_month_or_this_week():
    today = date(2030, 5, 15)
    assert period_from({}, today=today).param == ("month", "2030-05")
    assert period_from({"view": "week"}, today=today).param == ("week", "2030-W20")
    assert period_from({"week": "2030-W02", "month": "2030-05"}, today=today).kind == "week"


def test_the_grid_puts_rows_on_their_days_and_shades_freezes():
    period = month_period(date(2030, 1, 1))
    rows = [{"target_date": date(2030, 1, 9), "day_total": 7, "day_at_risk": 2, "id": n} for n in range(4)]
    freeze = FreezeDays(date(2030, 1, 30), date(2030, 2, 6), "Year end")
    weeks = build_grid(period, rows, [freeze], today=date(2030, 1, 9))
    days = {day.date: day for week in weeks for day in week}
    assert len(weeks) == 5 and all(len(week) == 7 for week in weeks)
    busy = days[date(2030, 1, 9)]
    assert (len(busy.releases), busy.total, busy.more, busy.at_risk, busy.is_today) == (4, 7, 3, 2, True)
    assert days[date(2030, 2, 3)].freezes == ["Year end"] and not days[date(2030, 2, 3)].in_period
    assert not days[date(2030, 1, 29)].frozen


def test_a_month_cell_names_weekday_and_month_only_on_the_first():
    weeks = build_grid(month_period(date(2030, 1, 1)), [], [], today=date(2030, 1, 9))
    days = {day.date: day for week in weeks for day in week}
    assert days[date(2030, 1, 1)].label == "Tue 1 Jan"
    assert days[date(2030, 1, 9)].label == "9" and days[date(2030, 1, 9)].long_label == "Wed 9 Jan"


# --- the page ---------------------------------------------------------------------------------------


def test_month_view_shows_each_release_on_its_day_with_status_and_link(client):
    release = f.ReleaseFactory(application__key="PAY", version="2.4.0", target_date=date(2030, 1, 9))
    f.ReleaseFactory(application__key="CRM", version="9.0", target_date=date(2030, 1, 21), status="ready")
    f.ReleaseFactory(target_date=date(2030, 3, 1))  # another month
    response = client.get(JAN)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h2 id="calendar-title">January 2030</h2>' in html
    assert shown_releases(day_cell(html, date(2030, 1, 9))) == ["PAY 2.4.0"]
    assert shown_releases(day_cell(html, date(2030, 1, 21))) == ["CRM 9.0"]
    assert len(shown_releases(html)) == 2
    assert f'href="/releases/{release.pk}/"' in day_cell(html, date(2030, 1, 9))
    assert "status-ready" in day_cell(html, date(2030, 1, 21))
    assert 'href="?month=2029-12"' in html and 'href="?month=2030-02"' in html


def test_a_release_tooltip_gives_its_odds(client):
    f.ReleaseFactory(
        application__key="PAY",
        target_date=date(2030, 1, 9),
        forecast_on_time=0.62,
        forecast_p50=date(2030, 1, 8),
        forecast_p85=date(2030, 1, 14),
        forecast_p95=date(2030, 1, 17),
    )
    assert "· 62% by target, P85 14 Jan" in day_cell(client.get(JAN).content.decode(), date(2030, 1, 9))


def test_week_view_shows_the_seven_days_of_the_iso_week(client):
    f.ReleaseFactory(application__key="PAY", version="1.0", target_date=date(2030, 1, 13))  # Sunday
    f.ReleaseFactory(application__key="CRM", version="1.0", target_date=date(2030, 1, 14))  # next Monday
    html = client.get("/calendar/?week=2030-W02").content.decode()
    assert "Week 2, 2030 (7 Jan to 13 Jan)" in html
    assert len(re.findall(r"<td data-day=", html)) == 7
    assert shown_releases(html) == ["PAY 1.0"]
    assert 'href="?week=2030-W01"' in html and 'href="?week=2030-W03"' in html
    assert 'href="?month=2030-01" aria-current' not in html


def test_at_risk_releases_carry_a_badge_and_come_first(client):
    f.ReleaseFactory(application__key="AAA", version="1", target_date=date(2030, 1, 9))
    f.ReleaseFactory(application__key="ZZZ", version="1", target_date=date(2030, 1, 9), at_risk=True)
    cell = day_cell(client.get(JAN).content.decode(), date(2030, 1, 9))
    assert shown_releases(cell) == ["ZZZ 1", "AAA 1"]
    assert cell.count('<span class="badge badge-alert cal-risk">at risk</span>') == 1
    assert "1 at risk" in cell


def test_a_busy_day_shows_four_and_expands_the_rest_in_place(client):
    for n in range(7):
        f.ReleaseFactory(application__key=f"K{n}", version="1", target_date=date(2030, 1, 9))
    cell = day_cell(client.get(JAN).content.decode(), date(2030, 1, 9))
    assert len(shown_releases(cell)) == 4
    assert ">+3 more</a>" in cell
    assert 'href="/calendar/day/2030-01-09/"' in cell  # works without JavaScript too
    assert 'hx-get="/calendar/day/2030-01-09/"' in cell

    partial = client.get("/calendar/day/2030-01-09/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.strip().startswith('<ul class="cal-releases">')
    assert "<html" not in partial
    assert len(shown_releases(partial)) == 7
    assert "more</a>" not in partial


def test_the_day_page_without_javascript_lists_every_release_of_the_day(client):
    for n in range(6):
        f.ReleaseFactory(application__key=f"K{n}", version="1", target_date=date(2030, 1, 9))
    html = client.get("/calendar/day/2030-01-09/").content.decode()
    assert "6 releases on Wednesday 9 January 2030" in html
    assert len(shown_releases(html)) == 6
    assert "<html" in html


def test_a_days_number_opens_its_week_with_the_filters(client):
    html = client.get(f"{JAN}&at_risk=true").content.decode()
    cell = day_cell(html, date(2030, 1, 9))
    assert 'href="?week=2030-W02&amp;at_risk=true"' in cell


def test_the_expanded_day_keeps_the_filters(client):
    portfolio = f.PortfolioFactory()
    for n in range(6):
        f.ReleaseFactory(
            application__portfolio=portfolio, application__key=f"IN{n}", target_date=date(2030, 1, 9)
        )
    f.ReleaseFactory(application__key="OUT", target_date=date(2030, 1, 9))
    cell = day_cell(client.get(f"{JAN}&portfolio={portfolio.pk}").content.decode(), date(2030, 1, 9))
    more = re.search(r'class="cal-more" href="[^"]+"\s+hx-get="([^"]+)"', cell).group(1)
    assert more == f"/calendar/day/2030-01-09/?portfolio={portfolio.pk}"
    partial = client.get(more, HTTP_HX_REQUEST="true").content.decode()
    assert len(shown_releases(partial)) == 6 and "OUT" not in partial


def test_an_htmx_filter_request_returns_only_the_grid(client):
    f.ReleaseFactory(application__key="PAY", version="1", target_date=date(2030, 1, 9))
    response = client.get(JAN, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="calendar-grid")
    html = response.content.decode()
    assert html.strip().startswith('<section id="calendar-grid"')
    assert "<html" not in html and "cal-filters" not in html
    assert shown_releases(html) == ["PAY 1"]
    # The form's hidden period field follows the navigation (swapped out of band).
    assert 'id="calendar-period" name="month" value="2030-01" hx-swap-oob="true"' in html


def test_the_filter_form_updates_the_grid_and_the_address(client):
    html = client.get(JAN).content.decode()
    form = re.search(r'<form class="card cal-filters".*?>', html, re.S).group(0)
    assert 'method="get"' in form and 'action="/calendar/"' in form
    assert 'hx-target="#calendar-grid"' in form and 'hx-push-url="true"' in form
    assert '<input type="hidden" id="calendar-period" name="month" value="2030-01">' in html
    assert 'hx-boost="true" hx-target="#calendar-grid"' in html  # previous / next / today


def test_portfolio_filter_includes_its_programmes(client):
    portfolio = f.PortfolioFactory()
    programme = f.PortfolioFactory(parent=portfolio)
    f.ReleaseFactory(application__portfolio=portfolio, application__key="TOP", target_date=date(2030, 1, 9))
    f.ReleaseFactory(application__portfolio=programme, application__key="SUB", target_date=date(2030, 1, 9))
    f.ReleaseFactory(application__key="ELSE", target_date=date(2030, 1, 9))
    html = client.get(f"{JAN}&portfolio={portfolio.pk}").content.decode()
    assert sorted(r.split()[0] for r in shown_releases(html)) == ["SUB", "TOP"]
    options = re.search(r'<select name="portfolio".*?</select>', html, re.S).group(0)
    assert f'<option value="{portfolio.pk}" selected>{portfolio.name}</option>' in options
    assert options.index(portfolio.name) < options.index(f"— {programme.name}")  # programmes under it
    links = re.search(r'<nav class="cal-nav".*?</nav>', html, re.S).group(0)
    assert f'href="?month=2030-02&amp;portfolio={portfolio.pk}"' in links  # navigation keeps the filter


def test_at_risk_only(client):
    f.ReleaseFactory(application__key="CALM", target_date=date(2030, 1, 9))
    f.ReleaseFactory(application__key="RISK", target_date=date(2030, 1, 10), at_risk=True)
    html = client.get(f"{JAN}&at_risk=true").content.decode()
    assert [r.split()[0] for r in shown_releases(html)] == ["RISK"]
    assert 'name="at_risk" value="true" checked' in html


def test_status_and_application_filters(client):
    app = f.ApplicationFactory(key="PAY")
    f.ReleaseFactory(application=app, version="1", target_date=date(2030, 1, 9), status="ready")
    f.ReleaseFactory(application=app, version="2", target_date=date(2030, 1, 10))
    f.ReleaseFactory(application__key="CRM", target_date=date(2030, 1, 9), status="ready")
    html = client.get(f"{JAN}&application={app.pk}&status=ready").content.decode()
    assert shown_releases(html) == ["PAY 1"]


def test_unknown_filter_values_are_ignored_with_a_notice(client):
    f.ReleaseFactory(application__key="PAY", version="1", target_date=date(2030, 1, 9))
    response = client.get(f"{JAN}&portfolio=999999&status=shipped-ish&at_risk=maybe")
    assert response.status_code == 200
    html = response.content.decode()
    assert shown_releases(html) == ["PAY 1"]
    notices = re.findall(r'<p class="alert cal-notice" role="status">([^<]+)</p>', html)
    assert len(notices) == 2  # "maybe" is no boolean: at-risk is simply not filtered
    assert any("Portfolio" in n and "999999" in n and "ignored" in n for n in notices)
    assert any("Status" in n and "shipped-ish" in n for n in notices)


@pytest.mark.parametrize(
    "url",
    [
        "/calendar/?month=2030-13",
        "/calendar/?month=banana",
        "/calendar/?week=2030-W60",
        "/calendar/day/2030-02-30/",
    ],
)
def test_a_bad_period_is_a_400_with_a_message(client, url):
    response = client.get(url)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "is not a" in html
    assert 'href="/calendar/"' in html  # a way back


def test_markup_in_a_version_or_summary_is_shown_as_text(client):
    f.ReleaseFactory(
        application__key="PAY",
        version="<script>alert(1)</script>",
        summary='"><img src=x onerror=alert(2)>',
        target_date=date(2030, 1, 9),
    )
    html = client.get(JAN).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    partial = client.get("/calendar/day/2030-01-09/", HTTP_HX_REQUEST="true").content.decode()
    assert "<script>alert(1)" not in partial


def test_markup_in_a_portfolio_or_application_name_is_shown_as_text_in_the_filters(client):
    f.ApplicationFactory(name="<b>Bold</b> apps", key="BOLD", portfolio__name='Ops "<i>"')
    html = client.get(JAN).content.decode()
    assert "<b>Bold</b>" not in html and "<i>" not in html
    assert "&lt;b&gt;Bold&lt;/b&gt; apps (BOLD)</option>" in html
    assert "Ops &quot;&lt;i&gt;&quot;</option>" in html


def test_freeze_windows_are_shaded_with_their_reason(client):
    f.FreezeWindowFactory(
        starts_at=f.moment(24 * 2), ends_at=f.moment(24 * 4), reason="Year-end <close>"
    )  # 9 to 11 January
    html = client.get(JAN).content.decode()
    for day in (9, 10, 11):
        cell = day_cell(html, date(2030, 1, day))
        assert "cal-frozen" in cell and 'title="Freeze: Year-end &lt;close&gt;"' in cell
    assert "cal-frozen" not in day_cell(html, date(2030, 1, 8))
    assert "cal-frozen" not in day_cell(html, date(2030, 1, 12))


def test_recurring_freezes_are_expanded(client):
    f.FreezeWindowFactory(
        starts_at=f.moment(-24 * 30),
        ends_at=f.moment(-24 * 30 + 5),
        reason="Saturday freeze",
        rrule="FREQ=WEEKLY",
    )  # from Saturday 8 December 2029, every Saturday
    html = client.get(JAN).content.decode()
    frozen = [day for day in range(1, 32) if "cal-frozen" in day_cell(html, date(2030, 1, day))]
    assert frozen == [5, 12, 19, 26]


def test_portfolio_freezes_show_when_that_portfolio_is_filtered(client):
    portfolio = f.PortfolioFactory(name="Payments")
    programme = f.PortfolioFactory(parent=portfolio)
    f.FreezeWindowFactory(for_portfolio=True, portfolio=portfolio, starts_at=f.moment(48), reason="Pay close")
    f.FreezeWindowFactory(for_portfolio=True, starts_at=f.moment(24 * 10), reason="Someone else's")
    for selected in (portfolio, programme):  # a programme is bound by its parent's freezes
        html = client.get(f"{JAN}&portfolio={selected.pk}").content.decode()
        assert 'title="Freeze: Payments freeze: Pay close"' in day_cell(html, date(2030, 1, 9))
        assert "Someone else" not in html


def test_with_all_portfolios_every_portfolio_freeze_shows_with_its_scope_named(client):
    """The Payments Black-Friday freeze is on the calendar of "All" too, named as Payments' freeze."""
    payments = f.PortfolioFactory(name="Payments")
    f.FreezeWindowFactory(
        for_portfolio=True, portfolio=payments, starts_at=f.moment(48), reason="Black Friday"
    )
    f.FreezeWindowFactory(starts_at=f.moment(24 * 10), reason="Year end")
    f.FreezeWindowFactory(for_environment=True, starts_at=f.moment(24 * 5), reason="Staging rebuild")
    html = client.get(JAN).content.decode()
    assert 'title="Freeze: Payments freeze: Black Friday"' in day_cell(html, date(2030, 1, 9))
    assert 'title="Freeze: Year end"' in day_cell(html, date(2030, 1, 17))
    assert "Staging rebuild" not in html  # an environment's freeze is the booking board's
    other = f.PortfolioFactory(name="Retail")
    filtered = client.get(f"{JAN}&portfolio={other.pk}").content.decode()
    assert "Black Friday" not in filtered and 'title="Freeze: Year end"' in filtered


def test_portfolio_freezes_follow_every_ancestor_level(client):
    """A programme inside a programme inside a portfolio is bound by the freezes of all three; the
    calendar once followed one parent level only."""
    top = f.PortfolioFactory(name="Group")
    middle = f.PortfolioFactory(name="Retail", parent=top)
    bottom = f.PortfolioFactory(name="Cards", parent=middle)
    f.FreezeWindowFactory(for_portfolio=True, portfolio=top, starts_at=f.moment(48), reason="Group close")
    f.FreezeWindowFactory(
        for_portfolio=True, portfolio=middle, starts_at=f.moment(24 * 5), reason="Retail close"
    )
    html = client.get(f"{JAN}&portfolio={bottom.pk}").content.decode()
    assert 'title="Freeze: Group freeze: Group close"' in day_cell(html, date(2030, 1, 9))
    assert 'title="Freeze: Retail freeze: Retail close"' in day_cell(html, date(2030, 1, 12))


def test_a_portfolio_shows_the_releases_and_freezes_of_its_programmes_at_every_level(client):
    top = f.PortfolioFactory(name="Group")
    bottom = f.PortfolioFactory(name="Cards", parent=f.PortfolioFactory(name="Retail", parent=top))
    f.ReleaseFactory(application__portfolio=bottom, application__key="DEEP", target_date=date(2030, 1, 9))
    f.FreezeWindowFactory(for_portfolio=True, portfolio=bottom, starts_at=f.moment(48), reason="Cards close")
    html = client.get(f"{JAN}&portfolio={top.pk}").content.decode()
    assert [r.split()[0] for r in shown_releases(html)] == ["DEEP"]
    assert 'title="Freeze: Cards freeze: Cards close"' in day_cell(html, date(2030, 1, 9))


def test_the_page_offers_the_filtered_feed(client):
    portfolio = f.PortfolioFactory()
    response = client.get(f"{JAN}&portfolio={portfolio.pk}")
    token = response.wsgi_request.user.feed_token
    assert (
        f"http://testserver/calendar.ics?token={token}&amp;portfolio={portfolio.pk}"
        in response.content.decode()
    )


# --- queries ----------------------------------------------------------------------------------------


def _make_month(n: int) -> None:
    portfolio = f.PortfolioFactory()
    programme = f.PortfolioFactory(parent=portfolio)
    for i in range(n):
        app_portfolio = programme if i % 2 else portfolio
        f.ReleaseFactory(
            application__portfolio=app_portfolio, target_date=date(2030, 1, 1 + i % 28), at_risk=i % 3 == 0
        )
        f.FreezeWindowFactory(starts_at=f.moment(24 * (i % 20)))


def _queries(client, url: str, **headers) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return [q["sql"] for q in queries]


@pytest.mark.parametrize("filters", ["", "&at_risk=true&status=planned&gate_state=open"])
def test_query_count_does_not_grow_with_data(client, filters):
    client.get(JAN)  # the first request warms the session and permission caches
    _make_month(3)
    few_page = _queries(client, JAN + filters)
    few_grid = _queries(client, JAN + filters, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="calendar-grid")
    _make_month(40)
    many_page = _queries(client, JAN + filters)
    many_grid = _queries(client, JAN + filters, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="calendar-grid")
    assert len(few_page) == len(many_page)
    assert len(few_grid) == len(many_grid)
    # Session, user and role badge (groups), then the page's own: releases, freeze windows.
    own = [sql for sql in many_grid if "django_session" not in sql and '"portal_user"' not in sql[:60]]
    own = [sql for sql in own if "auth_group" not in sql]
    assert len(own) == 2
    assert len(many_grid) == 5
    # and the filter form's options (portfolios, applications, trains: one UNION), the header's unread count
    assert len(many_page) == 7


def test_a_portfolio_filter_costs_one_lookup_query(client):
    _make_month(5)
    portfolio = f.PortfolioFactory()
    client.get(JAN)
    grid = _queries(
        client, f"{JAN}&portfolio={portfolio.pk}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="calendar-grid"
    )
    assert len(grid) == 6  # the portfolio named in the URL is looked up to validate it


def test_the_calendar_needs_a_login(db):
    from django.test import Client

    response = Client().get(JAN)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Client().get("/calendar/day/2030-01-09/").status_code == 302


def test_gate_state_filter(client):
    waiting = f.ReleaseFactory(application__key="WAIT", target_date=date(2030, 1, 9))
    f.GateFactory(release=waiting, status="pending")
    cleared = f.ReleaseFactory(application__key="DONE", target_date=date(2030, 1, 9))
    f.GateFactory(release=cleared, status="passed", decided_at=f.moment(0))
    html = client.get(f"{JAN}&gate_state=open").content.decode()
    assert [r.split()[0] for r in shown_releases(html)] == ["WAIT"]
    assert '<option value="open" selected>Gates open</option>' in html
    html = client.get(f"{JAN}&gate_state=clear").content.decode()
    assert [r.split()[0] for r in shown_releases(html)] == ["DONE"]
