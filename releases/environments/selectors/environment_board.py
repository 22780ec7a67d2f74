"""The reads of the environment pages: a fixed number of queries whatever the data size.

Bookings and deployments are read as plain rows in one query each and arranged in Python; freeze
windows (few, some recurring) are expanded in Python too.
"""

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

from django.db.models import Case, F, Value, When, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from releases.freezes import applies, occurrences
from releases.models import Booking, Deployment, Environment, FreezeWindow

BOARD_DAYS, MAX_BOARD_DAYS = 28, 92
ENDING_SOON = timedelta(hours=48)
IDLE_FOR = timedelta(days=14)
HEALTH = {"success": "healthy", "in_progress": "deploying", "rolled_back": "degraded", "failure": "failing"}
BOOKING_FIELDS = (
    "id",
    "environment_id",
    "part_of_id",
    "starts_at",
    "ends_at",
    "status",
    "purpose",
    "application__key",
    "release__version",
    "release__application__key",
    "requester__username",
    "created_at",
)


def booking_label(row: dict) -> str:
    if row["release__version"]:
        return f"{row['release__application__key']} {row['release__version']}"
    return row["application__key"] or "—"


def booking_rows(*, statuses, since: datetime, until: datetime, environment_ids=None) -> list[dict]:
    """Plain rows; a composite booking's parts are rows of their components."""
    rows = Booking.objects.filter(status__in=statuses).overlapping(since, until)
    if environment_ids is not None:
        rows = rows.filter(environment_id__in=environment_ids)
    return list(rows.order_by("starts_at", "pk").values(*BOOKING_FIELDS))


def _freeze_rows(since: datetime, until: datetime) -> list[tuple[FreezeWindow, datetime, datetime]]:
    windows = FreezeWindow.objects.may_overlap(since, until)
    return [(w, s, e) for w in windows for s, e in occurrences(w, start=since, end=until)]


def _applies(freeze: FreezeWindow, environment_id: int) -> bool:
    """Board and list show freezes that hold every booking of the environment (portfolio freezes hold
    only some, so they are named on the request form instead)."""
    return applies(freeze, environment_ids=(environment_id,))


# --- the list -------------------------------------------------------------------------------------


@dataclass
class EnvironmentRow:
    environment: Environment
    current: dict | None = None
    next: dict | None = None
    deployed: list[dict] = field(default_factory=list)

    @property
    def health(self) -> str:
        """From the latest deployment of each application: the worst of them."""
        order = ["failing", "degraded", "deploying", "healthy"]
        states = {HEALTH.get(d["status"], "healthy") for d in self.deployed}
        return next((state for state in order if state in states), "unknown")


def latest_deployments(environment_ids=None, *, successful: bool = False) -> list[dict]:
    """The latest deployment per (environment, application), of any status or only successful ones
    (what runs there): one query with a window function."""
    rows = Deployment.objects.filter(status=Deployment.Status.SUCCESS) if successful else Deployment.objects
    rows = rows.annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("environment_id"), F("application_id")],
            order_by=F("deployed_at").desc(),
        )
    )
    if environment_ids is not None:
        rows = rows.filter(environment_id__in=environment_ids)
    return list(
        rows.filter(rank=1)
        .order_by("application__key")
        .values(
            "environment_id",
            "application_id",
            "application__key",
            "application__name",
            "version",
            "status",
            "deployed_at",
            "release_id",
        )
    )


def environment_rows(now: datetime) -> list[EnvironmentRow]:
    rows = {env.pk: EnvironmentRow(env) for env in Environment.objects.select_related("owner_group")}
    # The first booking holding it now and the first one ahead, per environment: one window query.
    ahead = Case(When(starts_at__gt=now, then=Value(1)), default=Value(0))
    ranked = (
        Booking.objects.approved()
        .filter(ends_at__gt=now, part_of__isnull=True)
        .annotate(
            ahead=ahead,
            rank=Window(
                RowNumber(), partition_by=[F("environment_id"), ahead], order_by=[F("starts_at"), F("pk")]
            ),
        )
        .filter(rank=1)
    )
    for booking in ranked.values(*BOOKING_FIELDS, "ahead"):
        setattr(rows[booking["environment_id"]], "next" if booking["ahead"] else "current", booking)
    for deployment in latest_deployments():
        rows[deployment["environment_id"]].deployed.append(deployment)
    return list(rows.values())


@dataclass(frozen=True)
class Attention:
    waiting: int
    ending_soon: int
    idle: int
    in_freezes: int


def attention(now: datetime, environments: list[Environment]) -> Attention:
    """The four tiles: requests waiting, approved bookings ending within 48 h, bookable environments
    with no approved booking over the last 14 days, live bookings inside a freeze."""
    live = booking_rows(statuses=Booking.LIVE_STATUSES, since=now - IDLE_FOR, until=now + timedelta(days=400))
    busy = {b["environment_id"] for b in live if b["status"] == "approved" and b["starts_at"] <= now}
    ahead = [b for b in live if b["ends_at"] > now and b["part_of_id"] is None]
    freezes = _freeze_rows(now, max((b["ends_at"] for b in ahead), default=now))
    return Attention(
        waiting=sum(b["status"] == "requested" for b in ahead),
        ending_soon=sum(b["status"] == "approved" and b["ends_at"] <= now + ENDING_SOON for b in ahead),
        idle=sum(env.bookable and env.pk not in busy for env in environments),
        in_freezes=sum(
            any(
                _applies(w, b["environment_id"]) and s < b["ends_at"] and e > b["starts_at"]
                for w, s, e in freezes
            )
            for b in ahead
        ),
    )


# --- the board ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column's heading, formatted here once (the template's date filter is slow at this count)."""

    starts_at: datetime
    iso_day: str  # YYYY-MM-DD, for ?day=
    weekday: str  # Mon
    label: str  # 7 Jan, or the hour (08)
    long: str  # Monday 7 Jan
    weekend: bool


def _column(starts_at: datetime, *, hourly: bool) -> Column:
    return Column(
        starts_at,
        f"{starts_at:%Y-%m-%d}",
        f"{starts_at:%a}",
        f"{starts_at:%H}" if hourly else f"{starts_at.day} {starts_at:%b}",
        f"{starts_at:%A} {starts_at.day} {starts_at:%b}",
        starts_at.weekday() > 4,
    )


@dataclass
class Board:
    """Environments x columns (days, or the hours of one day): each cell names the bookings holding
    part of it; freezes are bands across the columns they cover, in lanes above the rows."""

    columns: list[Column]  # in the user's time zone
    rows: list[tuple[Environment, str]]  # each row's cells as HTML, built here (1,680 cells at 60 x 28)
    freeze_lanes: list[str] = field(default_factory=list)  # each lane's cells as HTML
    hourly: bool = False

    @property
    def days(self) -> list[date]:
        return [column.starts_at.date() for column in self.columns]


def day_bounds(first: date, days: int, zone: ZoneInfo) -> list[datetime]:
    """Midnight of each day (and the day after the last) in the user's time zone."""
    return [datetime.combine(first + timedelta(days=i), time(), tzinfo=zone) for i in range(days + 1)]


def hour_bounds(day: date, zone: ZoneInfo) -> list[datetime]:
    """The start of each hour of the day (and the next midnight) in the user's time zone."""
    return [datetime.combine(day, time(hour), tzinfo=zone) for hour in range(24)] + [
        datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    ]


def board(*, first: date, days: int, zone: ZoneInfo, request_url: str = "", now: datetime | None = None):
    """Environments x days. Three queries; each booking and freeze is placed on the days it spans.
    With `request_url`, an empty cell to come links to the request form for that day's working hours."""
    return _grid(day_bounds(first, days, zone), zone, hourly=False, request_url=request_url, now=now)


def day_board(*, day: date, zone: ZoneInfo, request_url: str = "", now: datetime | None = None):
    """Environments x the hours of one day: the same three queries as the board."""
    return _grid(hour_bounds(day, zone), zone, hourly=True, request_url=request_url, now=now)


def _grid(bounds: list[datetime], zone: ZoneInfo, *, hourly: bool, request_url: str, now) -> Board:
    environments = list(Environment.objects.order_by("name"))
    columns = len(bounds) - 1
    chips = {env.pk: [[] for _ in range(columns)] for env in environments}
    url = reverse("environments:detail", args=[0]).replace("/0/", "/{}/")
    for row in booking_rows(statuses=Booking.LIVE_STATUSES, since=bounds[0], until=bounds[-1]):
        chip = _chip(row, zone, url.format(row["environment_id"]))
        spanned = _days_spanned(bounds, row["starts_at"], row["ends_at"])
        for column in spanned:
            # By the hour, a booking is named once, in its first hour; the hours after carry its bar.
            more = hourly and column != spanned.start
            chips[row["environment_id"]][column].append(_continued(row, zone) if more else chip)
    # A freeze of every environment is one band above the rows; one of an environment is named once,
    # where it starts in that environment's row. Either way the frozen cells are shaded.
    frozen = {env.pk: [""] * columns for env in environments}
    labels = {env.pk: {} for env in environments}
    bands = []
    for window, starts_at, ends_at in _freeze_rows(bounds[0], bounds[-1]):
        spanned = _days_spanned(bounds, starts_at, ends_at)
        held = [pk for pk in frozen if _applies(window, pk)]
        if not held or not spanned:
            continue
        for env_id in held:
            for column in spanned:
                frozen[env_id][column] = window.reason
        if window.scope == FreezeWindow.Scope.GLOBAL:
            when = (starts_at.astimezone(zone), ends_at.astimezone(zone))
            bands.append((spanned, window.reason, "all environments", *when))
        else:
            labels[held[0]][spanned.start] = window.reason
    rows = [
        (
            env,
            _cells(
                env,
                bounds,
                frozen[env.pk],
                labels[env.pk],
                chips[env.pk],
                hourly=hourly,
                url=request_url,
                now=now,
            ),
        )
        for env in environments
    ]
    headings = [_column(bound, hourly=hourly) for bound in bounds[:-1]]
    return Board(headings, rows, _lanes(bands, columns), hourly)


def _lanes(bands, columns: int) -> list[str]:
    """Bands of the freezes of every environment, in as few lanes as they need (one unless they
    overlap): each band one cell across its columns, with its reason and scope written out."""
    lanes: list[list] = []
    for band in sorted(bands, key=lambda band: (band[0].start, -len(band[0]))):
        lane = next((lane for lane in lanes if lane[-1][0].stop <= band[0].start), None)
        if lane is None:
            lanes.append(lane := [])
        lane.append(band)
    html = []
    for lane in lanes:
        cells, at = [], 0
        for spanned, reason, scope, starts_at, ends_at in lane:
            if spanned.start > at:
                cells.append(f'<td colspan="{spanned.start - at}"></td>')
            when = f"{starts_at:%a %d %b %H:%M} to {ends_at:%a %d %b %H:%M}"
            text = escape(f"Freeze: {reason} ({scope})")
            cells.append(
                f'<td colspan="{len(spanned)}" class="freeze-band" title="{text}, {escape(when)}">'
                f'<span class="freeze-band-label">{text}</span></td>'
            )
            at = spanned.stop
        if at < columns:
            cells.append(f'<td colspan="{columns - at}"></td>')
        html.append(mark_safe("".join(cells)))  # noqa: S308 (escaped above)
    return html


def _cells(env, bounds, frozen: list[str], labels: dict, chips: list[list[str]], *, hourly, url, now) -> str:
    cells = []
    for column, (reason, day) in enumerate(zip(frozen, chips, strict=True)):
        attrs = f' class="frozen" title="{escape("Freeze: " + reason)}"' if reason else ""
        label = labels.get(column)
        content = f'<span class="freeze-label">Freeze: {escape(label)}</span>' if label else ""
        content += "".join(day)
        if not content and url and env.bookable and (now is None or bounds[column + 1] > now):
            content = _request_link(env, bounds[column], bounds[column + 1], hourly=hourly, url=url, now=now)
        cells.append(f"<td{attrs}>{content}</td>")
    return mark_safe("".join(cells))  # noqa: S308 (escaped in _chip, _request_link and here)


def _request_link(env, starts_at: datetime, ends_at: datetime, *, hourly: bool, url: str, now) -> str:
    """A link to the request form for the cell: the hour, or the environment's working hours that day."""
    zone = starts_at.tzinfo
    if not hourly:
        hours = env.working_hours
        day = starts_at.date()
        if hours.days & (1 << day.weekday()):
            work_start, work_end = hours.window(day)
            if work_start < ends_at and work_end > starts_at:
                starts_at, ends_at = max(work_start, starts_at), min(work_end, ends_at)
    if now is not None and starts_at < now:
        return ""  # the cell has begun: the request form would refuse a start in the past
    query = urlencode(
        {
            "environment": env.pk,
            "starts_at": starts_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": ends_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        }
    )
    label = escape(
        f"Request {env.name}, {starts_at.astimezone(zone):%a %d %b %H:%M} to {ends_at.astimezone(zone):%H:%M}"
    )
    return f'<a class="cell-request" href="{url}?{query}" title="{label}" aria-label="{label}">+</a>'


def _continued(row: dict, zone: ZoneInfo) -> str:
    """The bar of a booking in the hours after its first: its colour and title, not its label again."""
    return f'<span class="chip chip-{row["status"]} chip-more" title="{_title(row, zone)}"></span>'


def _days_spanned(bounds: list[datetime], starts_at: datetime, ends_at: datetime) -> range:
    """The indexes of the columns [bounds[i], bounds[i + 1]) sharing an instant with [starts_at, ends_at)."""
    return range(
        max(0, bisect_right(bounds, starts_at) - 1), min(len(bounds) - 1, bisect_left(bounds, ends_at))
    )


def _chip(row: dict, zone: ZoneInfo, url: str) -> str:
    """Plain string building, escaped: a template per cell would take most of the page's time."""
    return (
        f'<a class="chip chip-{row["status"]}" href="{url}#booking-{row["id"]}" title="{_title(row, zone)}">'
        f"{escape(booking_label(row))}</a>"
    )


def _title(row: dict, zone: ZoneInfo) -> str:
    starts_at, ends_at = row["starts_at"].astimezone(zone), row["ends_at"].astimezone(zone)
    when = f"{starts_at:%a %d %b %H:%M} to {ends_at:%a %d %b %H:%M}"
    return escape(f"#{row['id']} {booking_label(row)}, {when}: {row['purpose']} ({row['status']})")


# --- what runs where ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixCell:
    deployment: dict | None
    booked_version: str = ""

    @property
    def drift(self) -> bool:
        return bool(
            self.deployment and self.booked_version and self.booked_version != self.deployment["version"]
        )


@dataclass
class Matrix:
    environments: list[Environment]
    rows: list[tuple[dict, list[MatrixCell]]]  # (application, one cell per environment)


def matrix(now: datetime) -> Matrix:
    """Applications x environments: the latest deployment of each, and the version the booking
    holding the environment now is for (drift when they differ). Three queries."""
    deployments = latest_deployments(successful=True)
    environment_ids = {d["environment_id"] for d in deployments}
    environments = list(Environment.objects.filter(pk__in=environment_ids).order_by("name"))
    booked = {
        (b["environment_id"], b["release__application_id"]): b["release__version"]
        for b in Booking.objects.approved()
        .filter(starts_at__lte=now, ends_at__gt=now, release__isnull=False)
        .values("environment_id", "release__application_id", "release__version")
    }
    cells, applications = {}, {}
    for d in deployments:
        cells[(d["application_id"], d["environment_id"])] = d
        applications[d["application_id"]] = {
            "id": d["application_id"],
            "key": d["application__key"],
            "name": d["application__name"],
        }
    rows = [
        (
            app,
            [
                MatrixCell(cells.get((app_id, env.pk)), booked.get((env.pk, app_id), ""))
                for env in environments
            ],
        )
        for app_id, app in sorted(applications.items(), key=lambda item: item[1]["key"])
    ]
    return Matrix(environments, rows)


# --- one environment ------------------------------------------------------------------------------


def environment_bookings(environment: Environment, *, since: datetime) -> list[Booking]:
    """Its bookings (its own and those of composites that include it) from `since` on, soonest first."""
    return list(
        Booking.objects.filter(environment=environment, ends_at__gt=since)
        .select_related("requester", "decided_by", "application", "release__application", "part_of")
        .order_by("starts_at", "pk")[:200]
    )


def environment_freezes(environment: Environment, *, since: datetime, until: datetime):
    return [(w, s, e) for w, s, e in _freeze_rows(since, until) if _applies(w, environment.pk)]
