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


@dataclass
class Board:
    days: list[date]
    rows: list[tuple[Environment, str]]  # each row's cells as HTML, built here (1,680 cells at 60 x 28)


def day_bounds(first: date, days: int, zone: ZoneInfo) -> list[datetime]:
    """Midnight of each day (and the day after the last) in the user's time zone."""
    return [datetime.combine(first + timedelta(days=i), time(), tzinfo=zone) for i in range(days + 1)]


def board(*, first: date, days: int, zone: ZoneInfo) -> Board:
    """Environments x days: each cell names the bookings that hold part of that day, and is marked
    when a freeze does. Three queries; each booking and freeze is placed on the days it spans."""
    environments = list(Environment.objects.order_by("name"))
    bounds = day_bounds(first, days, zone)
    chips = {env.pk: [[] for _ in range(days)] for env in environments}
    url = reverse("environments:detail", args=[0]).replace("/0/", "/{}/")
    for row in booking_rows(statuses=Booking.LIVE_STATUSES, since=bounds[0], until=bounds[-1]):
        chip = _chip(row, zone, url.format(row["environment_id"]))
        for day in _days_spanned(bounds, row["starts_at"], row["ends_at"]):
            chips[row["environment_id"]][day].append(chip)
    frozen = {env.pk: [""] * days for env in environments}
    for window, starts_at, ends_at in _freeze_rows(bounds[0], bounds[-1]):
        mark = f'<span class="freeze-mark" title="Freeze: {escape(window.reason)}">Freeze</span>'
        for env_id in (pk for pk in frozen if _applies(window, pk)):
            for day in _days_spanned(bounds, starts_at, ends_at):
                frozen[env_id][day] = mark
    rows = [(env, _cells(frozen[env.pk], chips[env.pk])) for env in environments]
    return Board([first + timedelta(days=i) for i in range(days)], rows)


def _cells(marks: list[str], chips: list[list[str]]) -> str:
    html = "".join(f"<td>{mark}{''.join(day)}</td>" for mark, day in zip(marks, chips, strict=True))
    return mark_safe(html)  # noqa: S308 (escaped in _chip and board)


def _days_spanned(bounds: list[datetime], starts_at: datetime, ends_at: datetime) -> range:
    """The indexes of the days [bounds[i], bounds[i + 1]) that share an instant with [starts_at, ends_at)."""
    return range(
        max(0, bisect_right(bounds, starts_at) - 1), min(len(bounds) - 1, bisect_left(bounds, ends_at))
    )


def _chip(row: dict, zone: ZoneInfo, url: str) -> str:
    """Plain string building, escaped: a template per cell would take most of the page's time."""
    starts_at, ends_at = row["starts_at"].astimezone(zone), row["ends_at"].astimezone(zone)
    when = f"{starts_at:%a %d %b %H:%M} to {ends_at:%a %d %b %H:%M}"
    title = escape(f"#{row['id']} {booking_label(row)}, {when}: {row['purpose']} ({row['status']})")
    return (
        f'<a class="chip chip-{row["status"]}" href="{url}#booking-{row["id"]}" title="{title}">'
        f"{escape(booking_label(row))}</a>"
    )


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
