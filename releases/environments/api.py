"""The bookings API: list environments and bookings, request a booking, cancel one. JSON only.

The caller is whoever their API token names (portal.api_auth); the writes go through the same
services as the pages, so the API books under the same lock and rules. A taken slot is 409 naming the
winning booking. POSTs are exempt from CSRF: a Bearer token, not a cookie, authenticates them, and
the middleware never lets a browser session in under /api/.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from releases import params
from releases.environments.services import bookings as booking_services
from releases.errors import DomainError, error_messages
from releases.gates.api import api_denied_record, detail, permitted
from releases.models import Application, Booking, Environment, Release

LIST_PERMISSION = "releases.view_booking"
REQUEST_PERMISSION = "releases.add_booking"
DEFAULT_DAYS, MAX_BOOKINGS = 28, 1000


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def environment_data(env: Environment, component_ids: list[int]) -> dict:
    return {
        "id": env.pk,
        "name": env.name,
        "kind": env.kind,
        "capacity": env.capacity,
        "bookable": env.bookable,
        "owner_group": env.owner_group.name if env.owner_group else None,
        "components": component_ids,
    }


def booking_data(booking: Booking) -> dict:
    release = booking.release
    return {
        "id": booking.pk,
        "environment": booking.environment.name,
        "environment_id": booking.environment_id,
        "part_of": booking.part_of_id,
        "application": booking.application.key if booking.application else None,
        "release": f"{release.application.key} {release.version}" if release else None,
        "starts_at": _iso(booking.starts_at),
        "ends_at": _iso(booking.ends_at),
        "status": booking.status,
        "purpose": booking.purpose,
        "requester": booking.requester.get_username(),
        "decided_by": booking.decided_by.get_username() if booking.decided_by else None,
        "reason": booking.reason,
    }


def _bookings():
    return Booking.objects.select_related(
        "environment", "application", "release__application", "requester", "decided_by"
    )


@require_GET
@permitted(LIST_PERMISSION)
def environment_list(request):
    links = Environment.components.through.objects.order_by("component_id")
    components: dict[int, list[int]] = {}
    for composite_id, component_id in links.values_list("composite_id", "component_id"):
        components.setdefault(composite_id, []).append(component_id)
    environments = Environment.objects.select_related("owner_group").order_by("name")
    return JsonResponse(
        {"environments": [environment_data(e, components.get(e.pk, [])) for e in environments]}
    )


@csrf_exempt
def booking_list_or_request(request):
    """/api/bookings: GET lists them, POST requests one."""
    if request.method == "POST":
        return booking_request(request)
    return booking_list(request)


@require_GET
@permitted(LIST_PERMISSION)
def booking_list(request):
    """?environment=<id or name>&from=<ISO>&to=<ISO>&status=approved: default the next four weeks."""
    try:
        since = params.moment(request.GET["from"], name="from") if "from" in request.GET else timezone.now()
        until = (
            params.moment(request.GET["to"], name="to")
            if "to" in request.GET
            else since + timedelta(days=DEFAULT_DAYS)
        )
    except DomainError as error:
        return JsonResponse({"detail": "Bad query parameters.", "errors": error_messages(error)}, status=400)
    rows = _bookings().overlapping(since, until).order_by("starts_at", "pk")
    if key := params.text(request.GET.get("environment"), name="environment"):
        env = _environment(key)
        if env is None:
            return detail(f"No environment {key!r}.", 404)
        rows = rows.filter(environment=env)
    if status := params.text(request.GET.get("status"), name="status"):
        rows = rows.filter(status=status)
    bookings = list(rows[: MAX_BOOKINGS + 1])
    return JsonResponse(
        {
            "bookings": [booking_data(b) for b in bookings[:MAX_BOOKINGS]],
            "truncated": len(bookings) > MAX_BOOKINGS,
        }
    )


def _environment(key) -> Environment | None:
    """An environment by id (a number) or by name."""
    key = params.text(key, name="environment")
    if key.isascii() and key.isdigit():
        return Environment.objects.filter(pk=params.object_id(key, name="environment")).first()
    return Environment.objects.filter(name=key).first()


@require_POST
@permitted(REQUEST_PERMISSION)
def booking_request(request):
    """JSON body: environment (id or name), application (key), version (optional), starts_at,
    ends_at (ISO 8601 with offset), purpose, freeze_override_reason (admins, optional)."""
    body = params.json_object(request.body, empty={})
    env = _environment(body.get("environment", ""))
    application_key = params.text(body.get("application"), name="application")
    application = Application.objects.filter(key=application_key).first()
    if env is None or application is None:
        return detail("Unknown environment or application.", 404)
    try:
        booking = booking_services.booking_request(
            environment=env,
            by=request.user,
            application=application,
            release=_release(application, body.get("version")),
            starts_at=params.moment(body.get("starts_at"), name="starts_at"),
            ends_at=params.moment(body.get("ends_at"), name="ends_at"),
            purpose=params.text(body.get("purpose"), name="purpose", max_length=10_000),
            freeze_override_reason=params.text(
                body.get("freeze_override_reason"), name="freeze_override_reason", max_length=1000
            ),
        )
    except booking_services.BookingConflict as conflict:
        return JsonResponse(
            {"detail": str(conflict), "winner": booking_data(_bookings().get(pk=conflict.winner.pk))},
            status=409,
        )
    except (DomainError, ValidationError) as error:
        errors = error_messages(error)
        return JsonResponse({"detail": "The booking was not made.", "errors": errors}, status=400)
    return JsonResponse({"booking": booking_data(_bookings().get(pk=booking.pk))}, status=201)


def _release(application: Application, version) -> Release | None:
    if not version:
        return None
    version = params.text(version, name="version")
    release = Release.objects.filter(application=application, version=version).first()
    if release is None:
        raise ValidationError({"version": f"{application.key} has no release {version}."})
    return release


@csrf_exempt
@require_POST
def booking_cancel(request, pk: int):
    """JSON body (optional): {"reason": "..."}."""
    booking = _bookings().filter(pk=pk, part_of__isnull=True).first()
    if booking is None:
        return detail(f"No booking with id {pk}.", 404)
    body = params.json_object(request.body, empty={}) if request.content_type == "application/json" else {}
    reason = params.text(str(body.get("reason", ""))[:1000], name="reason", max_length=1000)
    try:
        booking = booking_services.booking_cancel(booking=booking, by=request.user, reason=reason)
    except PermissionError as refusal:
        api_denied_record(request=request, permission="releases.decide_booking")
        return detail(str(refusal), 403)
    except ValidationError as error:
        return detail(" ".join(error.messages), 409)
    return JsonResponse({"booking": booking_data(_bookings().get(pk=booking.pk))})
