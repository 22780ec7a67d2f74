"""Layout of a release train's timeline (Gantt): plain data in, plain data out, no ORM.

The train view reads the releases and their dependencies once, hands them over as GanttRelease and
GanttLink values, and the template draws what `gantt_layout` returns: one row per release with a bar
from its start (code freeze, or a default span before the target) to its target, a slip bar and a
marker when the stored forecast is later, dependency arrows, the critical path, the train window,
today and weekly gridlines. Coordinates are SVG user units (pixels at 100 % zoom).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from releases.planning.forecast import ForecastState, delivery_state, stored_hold_text
from releases.querysets import CLOSED_STATUSES

DEFAULT_SPAN = timedelta(days=7)  # a release without a code-freeze date is drawn as its last week
LABEL_WIDTH = 200
ROW_HEIGHT = 26
BAR_HEIGHT = 14
AXIS_HEIGHT = 40
GHOST_GAP = 12  # space between the other trains' rows and this train's rows
RIGHT_MARGIN = 56  # room for the last slip label
PLOT_WIDTH = 900  # the width the days are stretched or squeezed to fit ...
MIN_DAY_WIDTH, MAX_DAY_WIDTH = 5.0, 30.0  # ... within these bounds; a long timeline scrolls instead
PAD_DAYS = 2
ONE_DAY = timedelta(days=1)
CLOSED = frozenset(CLOSED_STATUSES)
STATUS_LABELS = {
    "planned": "planned",
    "in_progress": "in progress",
    "code_freeze": "code freeze",
    "ready": "ready",
    "released": "released",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class GanttRelease:
    id: int
    label: str  # "PAY 4.2"
    status: str
    target: date
    start: date | None = None  # the code-freeze date
    forecast: date | None = None  # stored by forecast_refresh; None: cancelled or blocked
    actual: date | None = None
    at_risk: bool = False  # stored with the state: at risk or blocked
    state: str = "on_track"  # the stored forecast state (releases.planning.forecast.ForecastState)
    blocked_reason: str = ""
    slip_days: int = 0
    waiting_for: tuple[dict, ...] = ()  # the stored holds: {kind, until, detail, release_id, name, text}
    critical_path: tuple[int, ...] = ()  # stored: the upstream chain that sets the forecast, nearest first
    ghost: bool = False  # from another train (or none), holding a release of this train
    train_id: int | None = None
    train_name: str = ""
    url: str = ""


@dataclass(frozen=True)
class GanttLink:
    downstream: int
    upstream: int
    kind: str = "ships_before"


@dataclass(frozen=True)
class Bar:
    release: GanttRelease
    row: int
    y: float  # top of the bar
    mid_y: float
    x: float
    width: float
    slip_x: float  # the slip bar, from the target to the forecast (width 0: no slip)
    slip_width: float
    marker_x: float | None  # the forecast (or ship date) marker when it differs from the target
    end_x: float  # where arrows to downstream releases leave from
    critical: bool
    waiting_text: str
    path_text: str  # this release's own critical path, upstream first: "LEDG 2027.1 → PAY 4.1"
    title: str

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.release.status, self.release.status)

    # Dates as the table shows them; formatted here because the |date filter costs more per row.
    @property
    def start_text(self) -> str:
        return short_date(self.release.start) if self.release.start else "—"

    @property
    def target_text(self) -> str:
        return short_date(self.release.target)

    @property
    def forecast_text(self) -> str:
        if self.release.status == "released":
            return f"shipped {short_date(self.release.actual)}"
        return short_date(self.release.forecast) if self.release.forecast else "—"

    @property
    def risk_text(self) -> str:
        """The risk in words, so it never rests on colour alone."""
        release = self.release
        state = delivery_state(release.status, release.state)
        if state is ForecastState.BLOCKED:
            return f"blocked: {release.blocked_reason}" if release.blocked_reason else "blocked"
        if state is not ForecastState.AT_RISK:
            return ""
        return f"+{release.slip_days} d, at risk" if release.slip_days > 0 else "at risk"


@dataclass(frozen=True)
class Arrow:
    upstream: int
    downstream: int
    path: str  # SVG path data
    critical: bool
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Band:
    x: float
    width: float


@dataclass(frozen=True)
class FreezeBand:
    x: float
    width: float
    name: str  # the freeze window's reason
    words: str  # "18 Dec to 3 Jan"


@dataclass(frozen=True)
class GanttLayout:
    width: float
    height: float
    first_day: date
    last_day: date  # exclusive
    day_width: float
    plot_left: float
    plot_top: float
    plot_bottom: float
    bars: list[Bar]
    arrows: list[Arrow]
    ticks: list[Tick]
    window: Band
    today_x: float | None
    ghost_divider_y: float | None
    critical_ids: list[int]  # the train's critical path, upstream first
    critical_labels: list[str]
    critical_at_risk: bool  # the path ends in a release at risk (else: in the latest release, on course)
    description: str
    freezes: list[FreezeBand]  # the freeze windows that hold the train's portfolio, within the axis

    @property
    def train_bars(self) -> list[Bar]:
        return [bar for bar in self.bars if not bar.release.ghost]

    @property
    def ghost_bars(self) -> list[Bar]:
        return [bar for bar in self.bars if bar.release.ghost]

    @property
    def plot_height(self) -> float:
        return self.plot_bottom - self.plot_top

    @property
    def at_risk_count(self) -> int:
        return sum(1 for bar in self.train_bars if bar.release.at_risk)

    @property
    def stripes(self) -> list[float]:
        """The top of every other row, shaded so a long train stays readable across the width."""
        return [bar.y - (ROW_HEIGHT - BAR_HEIGHT) / 2 for bar in self.bars[1::2]]


def short_date(day: date | None) -> str:
    return f"{day.day} {day:%b}" if day else "none"


def gantt_layout(
    releases: Iterable[GanttRelease],
    links: Iterable[GanttLink],
    *,
    window: tuple[date, date],
    today: date,
    freezes: Iterable[tuple[date, date, str]] = (),
) -> GanttLayout:
    """Rows (the other trains' releases first, then this train's, each by target), bars, arrows between
    rows that are both shown, the critical path, a weekly axis covering the window and every bar, and
    the `freezes` ([first day, day after), name) as bands where they cross the axis."""
    ordered = sorted(releases, key=lambda r: (not r.ghost, r.target, _start(r), r.label, r.id))
    labels = {r.id: r.label for r in ordered}
    critical = critical_chain([r for r in ordered if not r.ghost])
    first, last = _axis_range(ordered, window)
    day_width = min(MAX_DAY_WIDTH, max(MIN_DAY_WIDTH, PLOT_WIDTH / (last - first).days))

    def x_of(day: date) -> float:
        return round(LABEL_WIDTH + (day - first).days * day_width, 1)

    ghosts = sum(1 for r in ordered if r.ghost)
    bars = []
    for row, release in enumerate(ordered):
        top = AXIS_HEIGHT + row * ROW_HEIGHT + (GHOST_GAP if ghosts and row >= ghosts else 0)
        bars.append(_bar(release, row, top, x_of, day_width, release.id in critical, labels))
    plot_bottom = (bars[-1].y - (ROW_HEIGHT - BAR_HEIGHT) / 2 + ROW_HEIGHT) if bars else AXIS_HEIGHT
    return GanttLayout(
        width=round(x_of(last) + RIGHT_MARGIN, 1),
        height=round(plot_bottom + 8, 1),
        first_day=first,
        last_day=last,
        day_width=day_width,
        plot_left=LABEL_WIDTH,
        plot_top=AXIS_HEIGHT,
        plot_bottom=plot_bottom,
        bars=bars,
        arrows=_arrows(bars, links, critical),
        ticks=[Tick(x_of(monday), short_date(monday)) for monday in _mondays(first, last)],
        window=Band(x_of(window[0]), round(x_of(window[1]) - x_of(window[0]), 1)),
        today_x=x_of(today) if first <= today < last else None,
        ghost_divider_y=AXIS_HEIGHT + ghosts * ROW_HEIGHT + GHOST_GAP / 2 if ghosts else None,
        critical_ids=critical[::-1],
        critical_labels=[labels.get(rid, f"release #{rid}") for rid in critical[::-1]],
        critical_at_risk=bool(critical) and critical[0] in {r.id for r in ordered if r.at_risk},
        description=_description(ordered, window, critical[::-1], labels),
        freezes=[
            FreezeBand(
                x_of(max(start, first)),
                round(x_of(min(after, last)) - x_of(max(start, first)), 1),
                name,
                f"{short_date(start)} to {short_date(after - ONE_DAY)}",
            )
            for start, after, name in freezes
            if start < last and after > first
        ],
    )


def critical_chain(releases: list[GanttRelease]) -> list[int]:
    """The release with the latest forecast, followed by its stored critical path (the upstream chain
    that sets that date, nearest first). When releases are at risk, the latest of those: a release that
    simply targets the last day of the train is not what holds the train up."""
    candidates = [r for r in releases if _finish(r) is not None and r.status != "cancelled"]
    if not candidates:
        return []
    last = max(candidates, key=lambda r: (r.at_risk, _finish(r), r.slip_days, r.label))
    return [last.id, *last.critical_path]


def waiting_text(release: GanttRelease, labels: dict[int, str]) -> str:
    """The stored holds in words, latest first: "CLM 1.3 until 15 Mar; gate CAB until 14 Mar"."""
    parts = []
    for hold in release.waiting_for:
        until = date.fromisoformat(hold["until"]) if hold.get("until") else None
        name = hold.get("name") or labels.get(hold.get("release_id"), f"release #{hold.get('release_id')}")
        what = {
            "upstream": name,
            "blocked": _blocked_words(hold, name),
            "gate": f"gate {hold['name']}" if hold.get("name") else "an open gate",
            "scope": f"scope ({hold.get('detail', '')})",
            "freeze": f"freeze {hold['name']}" if hold.get("name") else "a freeze window",
            "today": "its missed target",
        }.get(hold["kind"], hold["kind"])
        parts.append(f"{what} until {short_date(until)}" if until else what)
    return "; ".join(parts)


def _blocked_words(hold: dict, name: str) -> str:
    if not hold.get("cause"):  # stored before blocked holds said by what: a cancelled upstream
        return f"{name} (cancelled)"
    return "blocked: " + stored_hold_text(hold, name=name).removeprefix("Blocked: ")


def _start(release: GanttRelease) -> date:
    return release.start or release.target - DEFAULT_SPAN


def _finish(release: GanttRelease) -> date | None:
    """When it ships: the day it shipped, else the stored forecast; None if cancelled or blocked."""
    if release.status in CLOSED:
        return release.actual
    return release.forecast


def _axis_range(releases: list[GanttRelease], window: tuple[date, date]) -> tuple[date, date]:
    """From the Monday on or before the earliest day shown to the Monday after the latest one."""
    earliest = [window[0], *(_start(r) for r in releases)]
    latest = [window[1], *(r.target + ONE_DAY for r in releases)]
    latest += [finish + ONE_DAY for r in releases if (finish := _finish(r))]
    first = min(earliest) - timedelta(days=PAD_DAYS)
    last = max(latest) + timedelta(days=PAD_DAYS)
    first -= timedelta(days=first.weekday())
    last += timedelta(days=(7 - last.weekday()) % 7)
    return first, last


def _mondays(first: date, last: date) -> list[date]:
    return [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]


def _bar(release, row, top, x_of, day_width, critical, labels) -> Bar:
    y = top + (ROW_HEIGHT - BAR_HEIGHT) / 2
    x, target_end = x_of(_start(release)), x_of(release.target + ONE_DAY)
    finish = _finish(release)
    late = finish is not None and finish > release.target
    finish_end = x_of(finish + ONE_DAY) if finish else target_end
    waiting = waiting_text(release, labels)
    return Bar(
        release=release,
        row=row,
        y=y,
        mid_y=y + BAR_HEIGHT / 2,
        x=x,
        width=round(max(target_end - x, day_width), 1),
        slip_x=target_end,
        slip_width=round(finish_end - target_end, 1) if late else 0,
        marker_x=round(finish_end - day_width / 2, 1) if finish and finish != release.target else None,
        end_x=max(target_end, finish_end),
        critical=critical,
        waiting_text=waiting,
        path_text=" → ".join(labels.get(rid, f"release #{rid}") for rid in release.critical_path[::-1]),
        title=_bar_title(release, waiting),
    )


def _bar_title(release: GanttRelease, waiting: str) -> str:
    """ "PAY 4.2 — target 12 Mar, forecast 15 Mar, at risk: waiting for CLM 1.3 until 14 Mar"."""
    parts = [f"{STATUS_LABELS.get(release.status, release.status)}", f"target {short_date(release.target)}"]
    if release.status == "released":
        parts.append(f"shipped {short_date(release.actual)}")
    elif release.status != "cancelled":
        parts.append(f"forecast {short_date(release.forecast)}")
    title = f"{release.label} — " + ", ".join(parts)
    state = delivery_state(release.status, release.state)
    if state is ForecastState.BLOCKED:
        title += f", blocked: {release.blocked_reason}" if release.blocked_reason else ", blocked"
    elif release.at_risk:
        title += ", at risk" + (f": waiting for {waiting}" if waiting else "")
    if release.ghost:
        title += f" (train: {release.train_name or 'none'})"
    return title


def _arrows(bars: list[Bar], links: Iterable[GanttLink], critical: list[int]) -> list[Arrow]:
    """One arrow per dependency whose two releases are shown, from the end of the upstream bar to the
    start of the downstream bar; the links of the critical chain are drawn even when the chain runs
    through releases whose dependency rows were not read."""
    by_id = {bar.release.id: bar for bar in bars}
    critical_links = set(zip(critical[1:], critical, strict=False))  # (upstream, downstream)
    pairs = {(link.upstream, link.downstream) for link in links} | critical_links
    shown = [(up, down) for up, down in pairs if up in by_id and down in by_id]
    # By row, critical arrows last so they are drawn over the others.
    shown.sort(key=lambda pair: (pair in critical_links, by_id[pair[1]].row, by_id[pair[0]].row))
    return [
        Arrow(
            upstream=up,
            downstream=down,
            path=_elbow(by_id[up], by_id[down]),
            critical=(up, down) in critical_links,
            title=f"{by_id[down].release.label} depends on {by_id[up].release.label}",
        )
        for up, down in shown
    ]


def _elbow(up: Bar, down: Bar) -> str:
    """Right from the upstream bar's end, then down (or up) to the downstream row and right into its bar.
    When the downstream bar starts left of that, the arrow turns along the row boundary first."""
    x1, y1, x2, y2 = up.end_x, up.mid_y, down.x, down.mid_y
    if x2 - x1 >= 12:
        turn = x1 + 6
        return f"M{x1},{y1} H{turn} V{y2} H{x2}"
    boundary = y2 - ROW_HEIGHT / 2 if y2 > y1 else y2 + ROW_HEIGHT / 2
    return f"M{x1},{y1} h6 V{boundary} H{round(x2 - 8, 1)} V{y2} H{x2}"


def _description(releases, window, critical_up_first, labels) -> str:
    shown = [r for r in releases if not r.ghost]
    at_risk = sum(1 for r in shown if r.at_risk)
    text = (
        f"{len(shown)} releases, train window {short_date(window[0])} to "
        f"{short_date(window[1] - ONE_DAY)} {window[1].year}; {at_risk} at risk."
    )
    if critical_up_first:
        text += " Critical path: " + " → ".join(labels.get(rid, f"#{rid}") for rid in critical_up_first) + "."
    ghosts = len(releases) - len(shown)
    if ghosts:
        text += f" {ghosts} releases of other trains hold releases of this train."
    return text
