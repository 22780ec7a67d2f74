"""Environment pages: the list with its attention tiles, the booking board (environments x days),
one environment's timeline, what runs where, and an environment's ICS feed."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from icalendar import Calendar, Event

from releases import params
from releases.environments.selectors import environment_board as reads
from releases.environments.views.bookings import REQUEST_PERMISSION, changeable, in_user_zone, user_zone
from releases.errors import DomainError
from releases.models import Booking, Environment

FEED_DAYS_BACK, FEED_DAYS_AHEAD = 31, 183


@require_GET
@in_user_zone
def environment_list(request):
    now = timezone.now()
    rows = reads.environment_rows(now)
    context = {"rows": rows, "attention": reads.attention(now, [row.environment for row in rows])}
    return render(request, "releases/environment_list.html", context)


@require_GET
@in_user_zone
def booking_board(request):
    """Environments x days (by default the next four weeks from today in the user's time zone), or
    with ?day=YYYY-MM-DD environments x the hours of that day."""
    zone = user_zone(request.user)
    now = timezone.now()
    today = now.astimezone(zone).date()
    request_url = reverse("environments:booking-request") if request.user.has_perm(REQUEST_PERMISSION) else ""
    try:
        day = params.day(request.GET.get("day"), name="day")
        first = params.day(request.GET.get("start"), name="start", default=today)
        days = params.integer(
            request.GET.get("days"), name="days", default=reads.BOARD_DAYS, minimum=-(10**6), maximum=10**6
        )
    except DomainError:
        return _bad_request(
            request,
            "Use start=YYYY-MM-DD and days=a number, e.g. ?start=2030-01-07&days=28, or day=YYYY-MM-DD.",
        )
    if day is not None:
        board = reads.day_board(day=day, zone=zone, request_url=request_url, now=now)
        context = {
            "board": board,
            "day": day,
            "today": today,
            "earlier": day - timedelta(days=1),
            "later": day + timedelta(days=1),
        }
        return render(request, "releases/booking_board.html", context)
    if not 1 <= days <= reads.MAX_BOARD_DAYS:
        return _bad_request(request, f"The board shows 1 to {reads.MAX_BOARD_DAYS} days.")
    board = reads.board(first=first, days=days, zone=zone, request_url=request_url, now=now)
    context = {
        "board": board,
        "today": today,
        "today_iso": today.isoformat(),
        "earlier": first - timedelta(days=days),
        "later": first + timedelta(days=days),
        "days": days,
    }
    return render(request, "releases/booking_board.html", context)


def _bad_request(request, message: str):
    return render(request, "releases/environment_error.html", {"message": message}, status=400)


@require_GET
@in_user_zone
def environment_detail(request, pk: int):
    """One environment's timeline: its bookings from today on, freezes, what is deployed."""
    environment = get_object_or_404(Environment.objects.select_related("owner_group"), pk=pk)
    now = timezone.now()
    bookings = reads.environment_bookings(environment, since=now - timedelta(days=7))
    context = {
        "environment": environment,
        "components": list(environment.components.order_by("name")),
        "composites": list(environment.composites.order_by("name")),
        "bookings": [(b, changeable(b, request.user)) for b in bookings],
        "freezes": reads.environment_freezes(environment, since=now, until=now + timedelta(days=90)),
        "deployed": reads.latest_deployments([environment.pk]),
        "now": now,
        "feed_url": request.build_absolute_uri(reverse("environments:ics", args=[pk]))
        + f"?token={request.user.feed_token}",
    }
    return render(request, "releases/environment_detail.html", context)


@require_GET
@in_user_zone
def environment_matrix(request):
    """What runs where: applications x environments, the latest deployment of each."""
    return render(request, "releases/environment_matrix.html", {"matrix": reads.matrix(timezone.now())})


@login_not_required  # calendar apps cannot log in: the personal feed token authenticates instead
@require_GET
def environment_feed(request, pk: int):
    token = request.GET.get("token", "")
    owner = get_user_model().objects.filter(feed_token=token, is_active=True).first() if token else None
    environment = Environment.objects.filter(pk=pk).first()
    if owner is None or environment is None:
        raise Http404("No calendar feed at this address.")
    now = timezone.now()
    since, until = now - timedelta(days=FEED_DAYS_BACK), now + timedelta(days=FEED_DAYS_AHEAD)
    calendar = _feed_calendar(
        environment, since, until, page=request.build_absolute_uri(reverse("environments:detail", args=[pk]))
    )
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="flightdeck-{environment.pk}.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


def _feed_calendar(environment: Environment, since, until, *, page: str) -> Calendar:
    """Bookings as timed events (UID per booking, so an app updates them in place), freezes as busy
    blocks. A request is TENTATIVE, an approved booking CONFIRMED."""
    calendar = Calendar()
    calendar.add("prodid", "-//Flightdeck//Environment bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Flightdeck: {environment.name}")
    instance = settings.INSTANCE_NAME
    for row in reads.booking_rows(
        statuses=Booking.LIVE_STATUSES, since=since, until=until, environment_ids=[environment.pk]
    ):
        event = Event()
        event.add("uid", f"booking-{row['id']}@{instance}")
        event.add("dtstamp", row["created_at"])
        event.add("dtstart", row["starts_at"])
        event.add("dtend", row["ends_at"])
        event.add("summary", f"{reads.booking_label(row)}: {row['purpose']}")
        event.add("status", "CONFIRMED" if row["status"] == "approved" else "TENTATIVE")
        event.add("url", f"{page}#booking-{row['id']}")
        calendar.add_component(event)
    for window, starts_at, ends_at in reads.environment_freezes(environment, since=since, until=until):
        event = Event()
        event.add("uid", f"freeze-{window.pk}-{starts_at:%Y%m%dT%H%M}@{instance}")
        event.add("dtstamp", window.starts_at)
        event.add("dtstart", starts_at)
        event.add("dtend", ends_at)
        event.add("summary", f"Freeze: {window.reason}")
        event.add("categories", ["Freeze"])
        calendar.add_component(event)
    return calendar
