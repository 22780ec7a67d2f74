"""The release train page: the Gantt layout on plain data, and the view (SVG, table, escaping, queries)."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from releases.models import Release
from releases.planning.gantt import GanttLink, GanttRelease, critical_chain, gantt_layout, waiting_text
from tests import factories as f

pytestmark = pytest.mark.django_db

MONDAY = date(2030, 3, 4)
WINDOW = (MONDAY, MONDAY + timedelta(days=7))


def day(n: int) -> date:
    return MONDAY + timedelta(days=n)


def release(rid: int, target: date, **fields) -> GanttRelease:
    fields.setdefault("forecast", target)
    fields.setdefault("status", "in_progress")
    fields.setdefault("state", "at_risk" if fields.get("at_risk") else "on_track")
    return GanttRelease(id=rid, label=fields.pop("label", f"APP{rid} 1.{rid}"), target=target, **fields)


# --- layout -------------------------------------------------------------------------------------


def test_rows_are_ordered_other_trains_first_then_by_target():
    layout = gantt_layout(
        [release(1, day(5)), release(2, day(1)), release(3, day(-3), ghost=True), release(4, day(3))],
        [],
        window=WINDOW,
        today=day(0),
    )
    assert [bar.release.id for bar in layout.bars] == [3, 2, 4, 1]
    assert [bar.y for bar in layout.bars] == sorted(bar.y for bar in layout.bars)
    assert layout.ghost_divider_y is not None
    assert [bar.release.id for bar in layout.train_bars] == [2, 4, 1]
    assert [bar.release.id for bar in layout.ghost_bars] == [3]


def test_bar_runs_from_code_freeze_or_a_default_span_to_the_end_of_the_target_day():
    layout = gantt_layout(
        [release(1, day(4), start=day(1)), release(2, day(4))], [], window=WINDOW, today=day(0)
    )
    frozen, default = sorted(layout.bars, key=lambda bar: bar.release.id)
    width = layout.day_width
    assert frozen.x == pytest.approx(layout.plot_left + (day(1) - layout.first_day).days * width, abs=0.1)
    assert frozen.width == pytest.approx(4 * width, abs=0.2)  # 1st to 4th, target day included
    assert default.width == pytest.approx(8 * width, abs=0.2)  # a week before the target, and the target
    assert frozen.slip_width == 0 and frozen.marker_x is None


def test_a_later_forecast_draws_the_slip_and_a_marker_and_says_it_in_words():
    late = release(
        1,
        day(2),
        forecast=day(5),
        at_risk=True,
        slip_days=3,
        waiting_for=(
            {"kind": "upstream", "until": day(5).isoformat(), "detail": "ships_before", "release_id": 2},
        ),
    )
    layout = gantt_layout([late, release(2, day(4), label="CLM 1.3")], [], window=WINDOW, today=day(0))
    bar = next(b for b in layout.bars if b.release.id == 1)
    assert bar.slip_width == pytest.approx(3 * layout.day_width, abs=0.2)
    assert bar.marker_x > bar.x + bar.width
    assert bar.risk_text == "+3 d, at risk"
    assert (
        bar.title
        == "APP1 1.1 — in progress, target 6 Mar, forecast 9 Mar, at risk: waiting for CLM 1.3 until 9 Mar"
    )


def test_arrows_connect_the_end_of_the_upstream_bar_to_the_start_of_the_downstream_bar():
    releases = [release(1, day(1)), release(2, day(3)), release(3, day(6)), release(9, day(2))]
    links = [GanttLink(downstream=3, upstream=1), GanttLink(downstream=2, upstream=1), GanttLink(3, 99)]
    layout = gantt_layout(releases, links, window=WINDOW, today=day(0))
    bars = {bar.release.id: bar for bar in layout.bars}
    assert {(a.upstream, a.downstream) for a in layout.arrows} == {(1, 2), (1, 3)}  # 99 is not shown
    for arrow in layout.arrows:
        start, end = _path_ends(arrow.path)
        assert start == (bars[arrow.upstream].end_x, bars[arrow.upstream].mid_y)
        assert end == (bars[arrow.downstream].x, bars[arrow.downstream].mid_y)
    assert next(a for a in layout.arrows if a.downstream == 3).title == "APP3 1.3 depends on APP1 1.1"


def test_an_arrow_into_a_bar_that_starts_earlier_turns_along_the_row_boundary():
    layout = gantt_layout(
        [release(1, day(5)), release(2, day(6), start=day(0))], [GanttLink(2, 1)], window=WINDOW, today=day(0)
    )
    (arrow,) = layout.arrows
    start, end = _path_ends(arrow.path)
    assert end[0] < start[0]
    assert end == (layout.bars[1].x, layout.bars[1].mid_y)


def test_critical_path_is_the_chain_behind_the_latest_forecast():
    releases = [
        release(1, day(1), forecast=day(2)),
        release(2, day(2), forecast=day(3), critical_path=(1,)),
        release(3, day(3), forecast=day(4), critical_path=(2, 1), at_risk=True, slip_days=1),
        release(4, day(4)),  # target later than 3's, forecast the same: the slip decides
        release(5, day(1), forecast=day(6), status="cancelled"),
    ]
    links = [GanttLink(2, 1), GanttLink(3, 2), GanttLink(4, 1)]
    layout = gantt_layout(releases, links, window=WINDOW, today=day(0))
    assert critical_chain(releases) == [3, 2, 1]
    assert layout.critical_ids == [1, 2, 3]
    assert layout.critical_labels == ["APP1 1.1", "APP2 1.2", "APP3 1.3"]
    assert {b.release.id for b in layout.bars if b.critical} == {1, 2, 3}
    assert {(a.upstream, a.downstream) for a in layout.arrows if a.critical} == {(1, 2), (2, 3)}
    assert layout.arrows[-1].critical  # drawn last, over the others
    assert "Critical path: APP1 1.1 → APP2 1.2 → APP3 1.3." in layout.description


def test_critical_path_prefers_the_latest_release_at_risk_over_a_later_one_on_course():
    releases = [
        release(1, day(1), forecast=day(3)),
        release(2, day(2), forecast=day(4), critical_path=(1,), at_risk=True, slip_days=2),
        release(3, day(6)),  # the train's last day, on course: it holds nothing up
    ]
    layout = gantt_layout(releases, [GanttLink(2, 1)], window=WINDOW, today=day(0))
    assert layout.critical_ids == [1, 2]
    assert layout.critical_at_risk
    assert next(b for b in layout.bars if b.release.id == 2).path_text == "APP1 1.1"
    on_course = gantt_layout([release(1, day(1)), release(3, day(6))], [], window=WINDOW, today=day(0))
    assert on_course.critical_ids == [3] and not on_course.critical_at_risk


def test_critical_path_through_other_trains_is_drawn_even_without_their_dependency_rows():
    releases = [
        release(1, day(0), ghost=True),
        release(2, day(1), ghost=True),
        release(3, day(4), critical_path=(2, 1)),
    ]
    layout = gantt_layout(releases, [GanttLink(3, 2)], window=WINDOW, today=day(0))
    assert {(a.upstream, a.downstream) for a in layout.arrows} == {(1, 2), (2, 3)}
    assert all(a.critical for a in layout.arrows)


def test_axis_covers_the_window_every_bar_and_the_latest_forecast_in_whole_weeks():
    releases = [release(1, day(-20), start=day(-30)), release(2, day(3), forecast=day(40), at_risk=True)]
    layout = gantt_layout(releases, [], window=WINDOW, today=day(0))
    assert layout.first_day <= day(-30) and layout.first_day.weekday() == 0
    assert layout.last_day > day(40) and layout.last_day.weekday() == 0
    assert layout.ticks[0].label == f"{layout.first_day.day} {layout.first_day:%b}"
    assert len(layout.ticks) == (layout.last_day - layout.first_day).days // 7 + 1
    assert max(bar.end_x for bar in layout.bars) <= layout.width
    assert layout.window.x == pytest.approx(
        layout.plot_left + (MONDAY - layout.first_day).days * layout.day_width, abs=0.1
    )
    assert layout.window.width == pytest.approx(7 * layout.day_width, abs=0.2)
    assert layout.today_x == pytest.approx(layout.window.x, abs=0.1)


def test_today_outside_the_axis_draws_no_today_line():
    layout = gantt_layout([release(1, day(2))], [], window=WINDOW, today=day(400))
    assert layout.today_x is None


def test_an_empty_train_still_lays_out_its_window():
    layout = gantt_layout([], [], window=WINDOW, today=day(0))
    assert layout.bars == [] and layout.arrows == []
    assert layout.first_day <= MONDAY < WINDOW[1] <= layout.last_day


def test_waiting_text_names_each_hold():
    holds = (
        {"kind": "upstream", "until": "2030-03-09", "detail": "ships_before", "release_id": 7},
        {"kind": "gate", "until": "2030-03-08", "detail": "gate due 2030-03-08", "release_id": None},
        {"kind": "scope", "until": "2030-03-07", "detail": "4 items open", "release_id": None},
        {"kind": "freeze", "until": "2030-03-06", "detail": "freeze", "release_id": None},
        {"kind": "blocked", "until": None, "detail": "an upstream release was cancelled", "release_id": 8},
    )
    text = waiting_text(release(1, day(0), waiting_for=holds), {7: "CLM 1.3"})
    assert text == (
        "CLM 1.3 until 9 Mar; an open gate until 8 Mar; scope (4 items open) until 7 Mar; "
        "a freeze window until 6 Mar; release #8 (cancelled)"
    )


def _path_ends(path: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first point (M x,y) and the last point of an elbow path of M/H/V/h commands."""
    x, y = map(float, re.match(r"M([\d.]+),([\d.]+)", path).groups())
    start = (x, y)
    for command, value in re.findall(r"([HVh])\s*(-?[\d.]+)", path[len(re.match(r"M[\d.,]+", path)[0]) :]):
        if command == "H":
            x = float(value)
        elif command == "h":
            x += float(value)
        else:
            y = float(value)
    return start, (x, y)


# --- the page -----------------------------------------------------------------------------------


def _train_with(n: int, *, name: str = "Spring train", keys: tuple[str, str] = ("PAY", "CLM")):
    """A train of n releases in one application chain, the first waiting for another train's release."""
    train = f.ReleaseTrainFactory(name=name, starts_on=day(0), ends_on=day(7))
    app = f.ApplicationFactory(portfolio=train.portfolio, key=keys[0])
    other_app = f.ApplicationFactory(key=keys[1])
    other = f.ReleaseFactory(application=other_app, version="1.3", target_date=day(-2))
    releases = [
        f.ReleaseFactory(application=app, train=train, version=f"4.{i}", target_date=day(i % 7))
        for i in range(n)
    ]
    f.ReleaseDependencyFactory(downstream=releases[0], upstream=other)
    for down, up in zip(releases[1:], releases, strict=False):
        f.ReleaseDependencyFactory(downstream=down, upstream=up)
    return train, releases, other


def test_train_page_shows_an_accessible_svg_a_table_and_the_holders(client_for):
    train, releases, other = _train_with(3)
    releases[2].forecast_date, releases[2].at_risk, releases[2].forecast_slip_days = day(9), True, 7
    releases[2].forecast_state = "at_risk"
    releases[2].forecast_critical_path = [releases[1].pk, releases[0].pk, other.pk]
    releases[2].forecast_waiting_for = [
        {
            "kind": "upstream",
            "until": day(9).isoformat(),
            "detail": "ships_before",
            "release_id": releases[1].pk,
        }
    ]
    releases[2].save()

    response = client_for("Project office").get(reverse("releases:train", args=[train.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg class="gantt"' in html and 'role="group" aria-labelledby="gantt-title gantt-desc"' in html
    assert f'<title id="gantt-title">Timeline of {train.name}</title>' in html
    title = "PAY 4.2 — planned, target 6 Mar, forecast 13 Mar, at risk: waiting for PAY 4.1 until 13 Mar"
    assert f"<title>{title}</title>" in html
    assert html.count('class="bar status-') == 4  # three of the train, one of another train
    assert "CLM 1.3 · other train" in html
    assert "Critical path</strong>" in html and "CLM 1.3 → PAY 4.0 → PAY 4.1 → PAY 4.2" in html
    assert "+7 d, at risk" in html
    assert f'href="/releases/?train={train.pk}"' in html
    assert f'href="{reverse("releases:detail", args=[releases[0].pk])}"' in html
    table = html[html.index('<table class="train-table">') :]
    assert re.findall(r">(PAY 4\.\d)</a>", table) == ["PAY 4.0", "PAY 4.1", "PAY 4.2"]
    assert train.portfolio.name in html


def test_a_critical_path_further_up_other_trains_is_shown_but_not_their_other_upstreams(client_for):
    train, releases, direct = _train_with(1)
    deeper = f.ReleaseFactory(application=f.ApplicationFactory(key="LEDG"), version="2030.1")
    unrelated = f.ReleaseFactory(application=f.ApplicationFactory(key="DOC"), version="9.9")
    f.ReleaseDependencyFactory(downstream=direct, upstream=deeper)
    f.ReleaseDependencyFactory(downstream=direct, upstream=unrelated)
    Release.objects.filter(pk=releases[0].pk).update(
        at_risk=True, forecast_date=day(3), forecast_critical_path=[direct.pk, deeper.pk]
    )

    html = client_for("Project office").get(reverse("releases:train", args=[train.pk])).content.decode()

    assert "LEDG 2030.1 · other train" in html and "CLM 1.3 · other train" in html
    assert "DOC 9.9" not in html
    assert "LEDG 2030.1 → CLM 1.3 → PAY 4.0" in html
    assert html.count('class="arrow arrow-critical"') == 2


def test_markup_in_a_version_is_shown_as_text(client_for):
    train, releases, _ = _train_with(1)
    releases[0].version = "<script>alert(1)</script>"
    releases[0].save()
    html = client_for("Project office").get(reverse("releases:train", args=[train.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "PAY &lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unknown_train_is_404(client_for):
    assert client_for("Project office").get(reverse("releases:train", args=[987654])).status_code == 404


def test_empty_train_says_so(client_for):
    train = f.ReleaseTrainFactory()
    response = client_for("Project office").get(reverse("releases:train", args=[train.pk]))
    assert response.status_code == 200
    assert "No releases belong to this train yet." in response.content.decode()


def test_train_page_needs_login(client):
    train = f.ReleaseTrainFactory()
    response = client.get(reverse("releases:train", args=[train.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_query_count_does_not_grow_with_the_train(client_for):
    client = client_for("Project office")
    small, *_ = _train_with(3, name="Small")
    large, releases, _ = _train_with(40, name="Large", keys=("FRD", "IAM"))
    for r in releases[5:]:
        r.forecast_critical_path = [releases[4].pk]
        r.save()

    counts = []
    for train in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("releases:train", args=[train.pk])).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # session, user, role badge (groups); then the page's own five: train, releases, dependencies,
    # the portfolio tree and the freeze windows
    page_queries = [
        q["sql"]
        for q in queries.captured_queries
        if "releases_" in q["sql"] and "releases_notification" not in q["sql"]  # the header's unread count
    ]
    assert len(page_queries) == 5, page_queries


def test_freezes_that_hold_the_trains_portfolio_are_drawn_on_its_timeline(client_for):
    train, _, _ = _train_with(2)
    own = f.FreezeWindowFactory(
        scope="portfolio", portfolio=train.portfolio, reason="Payments close", **_days(2, 4)
    )
    f.FreezeWindowFactory(scope="global", reason="Year-end", **_days(6, 9))
    f.FreezeWindowFactory(
        scope="portfolio", portfolio=f.PortfolioFactory(), reason="Cards close", **_days(1, 3)
    )
    f.FreezeWindowFactory(for_environment=True, reason="SIT rebuild", **_days(1, 3))
    html = client_for("Project office").get(reverse("releases:train", args=[train.pk])).content.decode()
    assert html.count('<g class="gantt-freeze">') == 2
    assert f"<title>Freeze: {own.reason}, 6 Mar to 7 Mar</title>" in html
    assert "Freeze: Year-end, 10 Mar to 12 Mar" in html
    assert "Cards close" not in html and "SIT rebuild" not in html


def _days(first: int, after: int) -> dict:
    """A freeze window over the days [first, after) of the train's week, in UTC."""
    start = datetime.combine(day(first), time(), tzinfo=UTC)
    return {"starts_at": start, "ends_at": start + timedelta(days=after - first)}


def test_the_trains_index_lists_current_trains_with_their_counts_and_filters(client_for):
    train, releases, _ = _train_with(3)
    Release.objects.filter(pk=releases[1].pk).update(at_risk=True)
    f.ReleaseTrainFactory(name="Old train", starts_on=date(2020, 1, 1), ends_on=date(2020, 2, 1))
    other = f.ReleaseTrainFactory(name="Cards train", starts_on=day(0), ends_on=day(14))
    client = client_for("Project office")
    html = client.get("/releases/trains/").content.decode()
    assert f'href="/releases/trains/{train.pk}/">Spring train</a>' in html and "Cards train" in html
    assert "Old train" not in html and "1 at risk" in html
    assert f'href="/releases/?train={train.pk}&amp;when=">3</a>' in html
    assert "4 Mar 2030 to 10 Mar 2030" in html  # the window's last day, not the day after it
    assert 'aria-current="page"' in html.split('href="/releases/trains/"', 1)[1][:40]
    narrowed = client.get(f"/releases/trains/?portfolio={other.portfolio_id}").content.decode()
    assert "Cards train" in narrowed and "Spring train" not in narrowed
    assert "Old train" in client.get("/releases/trains/?when=past").content.decode()
    assert "Ignored filter values" in client.get("/releases/trains/?portfolio=999999").content.decode()


def test_the_trains_index_reads_the_same_queries_at_two_sizes(client_for):
    client = client_for("Project office")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/releases/trains/").status_code == 200
        return len(captured)

    _train_with(2)
    few = queries()
    for n in range(6):
        _train_with(3, name=f"Train {n}", keys=(f"A{n}", f"B{n}"))
    assert queries() == few
