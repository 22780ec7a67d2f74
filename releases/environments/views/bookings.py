"""Booking pages: the request form with its live conflict check, the admins' queue, and the decisions
(approve, reject, cancel, shorten). Every write goes through releases.environments.services.bookings."""

from datetime import timedelta
from functools import wraps
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from releases import lists, params
from releases.environments.forms import (
    BookingApproveForm,
    BookingRejectForm,
    BookingRequestForm,
    BookingShortenForm,
)
from releases.environments.selectors import booking_queue
from releases.environments.services import bookings as booking_services
from releases.errors import DomainError, form_add_errors
from releases.models import Booking

REQUEST_PERMISSION = "releases.add_booking"
REQUEST_TEMPLATE = "releases/booking_request.html"
QUEUE_TEMPLATE = "releases/booking_queue.html"
DETAIL_TEMPLATE = "releases/environment_detail.html"
SLOT_FIELDS = ("environment", "application", "version", "purpose")


def user_zone(user) -> ZoneInfo:
    return ZoneInfo(user.time_zone or "UTC")


def in_user_zone(view):
    """Times are typed and shown in the user's time zone; the database keeps UTC."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        with timezone.override(user_zone(request.user)):
            return view(request, *args, **kwargs)

    return wrapped


# --- the request form ---------------------------------------------------------------------------


def _form(request, data=None, **kwargs) -> BookingRequestForm:
    return BookingRequestForm(
        data, may_override=request.user.has_perm(booking_services.DECIDE_PERMISSION), **kwargs
    )


def slot_check(form: BookingRequestForm) -> dict | None:
    """What the slot typed so far collides with, and the next free slot of the same length."""
    if not form.is_bound or not {"environment", "starts_at", "ends_at"} <= form.cleaned_data.keys():
        return None
    data = form.cleaned_data
    if not timedelta(0) < data["ends_at"] - data["starts_at"] <= booking_services.MAX_LENGTH:
        return None  # the form says what is wrong with the times
    target = {"release": data.get("release"), "application": data.get("application")}
    slot = {"environment": data["environment"], "starts_at": data["starts_at"], "ends_at": data["ends_at"]}
    conflicts = booking_services.booking_conflicts(**slot, **target)
    free = booking_services.next_free_slot(**slot, **target) if conflicts.any else None
    return {
        "conflicts": conflicts,
        "free": free,
        "take_url": _take_url(form, free) if free else "",
        "environment": data["environment"],
    }


def _take_url(form: BookingRequestForm, free) -> str:
    zone = timezone.get_current_timezone()
    query = {name: form.data.get(name, "") for name in SLOT_FIELDS}
    query |= {
        "starts_at": free[0].astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": free[1].astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
    }
    return reverse("environments:booking-request") + "?" + urlencode(query)


@require_http_methods(["GET", "POST"])
@permission_required(REQUEST_PERMISSION, raise_exception=True)
@in_user_zone
def booking_request(request):
    if request.method == "GET":
        # Values in the address fill the form in: "take the next free slot" carries the whole form
        # (checked at once); a board cell only the environment and the times (nothing to complain of yet).
        if "starts_at" in request.GET and "purpose" in request.GET:
            form = _form(request, request.GET)
        else:
            names = (*SLOT_FIELDS, "starts_at", "ends_at")
            form = _form(request, initial={name: request.GET[name] for name in names if name in request.GET})
        return _render_request(request, form)
    form = _form(request, request.POST)
    if not form.is_valid():
        return _render_request(request, form, status=422)
    try:
        booking = booking_services.booking_request(by=request.user, **form.service_arguments())
    except booking_services.BookingConflict as conflict:
        return _render_request(request, form, status=conflict.status, conflict=conflict)
    except ValidationError as error:
        form_add_errors(form, error)
        return _render_request(request, form, status=422)
    state = "booked" if booking.status == Booking.Status.APPROVED else "requested: it waits for an admin"
    messages.success(request, f"Booking #{booking.pk} {state}.")
    return redirect(reverse("environments:detail", args=[booking.environment_id]) + f"#booking-{booking.pk}")


def _render_request(request, form, *, status: int = 200, conflict=None):
    if form.is_bound:
        form.is_valid()  # errors and cleaned data for the check panel
    template = REQUEST_TEMPLATE
    if request.htmx and request.htmx.target == "booking-form":
        template += "#booking-form"
    context = {"form": form, "check": slot_check(form), "conflict": conflict}
    return render(request, template, context, status=status)


@require_GET
@permission_required(REQUEST_PERMISSION, raise_exception=True)
@in_user_zone
def booking_check(request):
    """The live warning under the form, as the user types (HTMX), without saving anything."""
    form = _form(request, request.GET)
    form.is_valid()
    return render(request, REQUEST_TEMPLATE + "#booking-check", {"form": form, "check": slot_check(form)})


# --- the admins' queue ----------------------------------------------------------------------------


@require_GET
@permission_required(booking_services.DECIDE_PERMISSION, raise_exception=True)
@in_user_zone
def booking_list(request):
    """The admins' approval queue: the requests waiting for a decision, soonest first."""
    page = lists.paginate(request, booking_queue.waiting_requests())
    context = {"page": page, "rows": booking_queue.queue_rows(list(page.object_list))}
    return lists.render_list(request, QUEUE_TEMPLATE, "booking-queue", context)


def _decided(request, booking: Booking, *, status: int = 200, error: str = ""):
    if request.htmx:
        context = {"row": {"booking": booking, "clash": [], "frozen": []}, "error": error}
        return render(request, QUEUE_TEMPLATE + "#queue-row", context, status=status)
    if error:
        messages.error(request, error)
    return redirect("environments:queue")


def _queued_booking(pk: int) -> Booking:
    return get_object_or_404(Booking.objects.select_related("environment"), pk=pk, part_of__isnull=True)


@require_POST
@permission_required(booking_services.DECIDE_PERMISSION, raise_exception=True)
@in_user_zone
def booking_approve(request, pk: int):
    return _decide(
        request,
        pk,
        BookingApproveForm,
        booking_services.booking_approve,
        "approved",
        "The reason is too long.",
    )


@require_POST
@permission_required(booking_services.DECIDE_PERMISSION, raise_exception=True)
@in_user_zone
def booking_reject(request, pk: int):
    why = "Say why the request is rejected."
    return _decide(request, pk, BookingRejectForm, booking_services.booking_reject, "rejected", why)


def _decide(request, pk: int, form_class, decide, decided: str, invalid: str):
    """Approve or reject a queued request: 422 for a bad form or a freeze, 409 when it no longer fits."""
    booking = _queued_booking(pk)
    form = form_class(request.POST)
    if not form.is_valid():
        return _decided(request, booking, status=422, error=invalid)
    try:
        booking = decide(booking=booking, by=request.user, reason=form.cleaned_data["reason"])
    except booking_services.BookingConflict as conflict:
        return _decided(request, booking, status=conflict.status, error=str(conflict))
    except booking_services.BookingFrozen as frozen:
        return _decided(request, booking, status=frozen.status, error=" ".join(frozen.messages))
    except ValidationError as error:
        return _decided(request, booking, status=409, error=" ".join(error.messages))
    if not request.htmx:
        messages.success(request, f"Booking #{booking.pk} {decided}.")
    return _decided(request, booking)


BULK_TEMPLATE = "releases/booking_approve_many.html"


def _selected_ids(request) -> list[int] | None:
    """The ticked request ids, parsed at the edge; None when any is not an id or there are too many."""
    values = request.POST.getlist("booking")
    if len(values) > booking_queue.MAX_SELECTED:
        return None
    try:
        ids = [params.object_id(value, name="booking") for value in values]
    except DomainError:
        return None
    return None if None in ids else ids


@require_POST
@permission_required(booking_services.DECIDE_PERMISSION, raise_exception=True)
@in_user_zone
def booking_approve_many(request):
    """Bulk approval from the queue, in two steps: the ticked requests with their conflicts (a
    preview), then on confirmation the conflict-free ones approved in one transaction."""
    ids = _selected_ids(request)
    if not ids:
        message = f"Tick between 1 and {booking_queue.MAX_SELECTED} requests of the queue."
        return render(request, BULK_TEMPLATE, {"error": message, "rows": []}, status=400)
    selected = booking_queue.selected_requests(ids)
    gone = sorted(set(ids) - {b.pk for b in selected})
    if "confirm" not in request.POST:
        rows = booking_queue.preview_rows(selected)
        context = {"rows": rows, "gone": gone, "fit": [row["booking"] for row in rows if row["ok"]]}
        return render(request, BULK_TEMPLATE, context)
    outcome = booking_services.booking_approve_many(bookings=selected, by=request.user)
    if outcome.approved:
        numbers = ", ".join(f"#{b.pk}" for b in outcome.approved)
        messages.success(request, f"Approved {len(outcome.approved)}: {numbers}.")
    for booking, reason in outcome.left_out:
        messages.warning(request, f"Left out #{booking.pk}: {reason}")
    for pk in gone:
        messages.warning(request, f"Left out #{pk}: it no longer waits for a decision.")
    return redirect("environments:queue")


# --- cancel and shorten, from the environment's page ------------------------------------------------


def changeable(booking: Booking, user) -> bool:
    """Whether to offer cancel and shorten: a live booking not over yet, the user's or an admin's."""
    live = booking.status in Booking.LIVE_STATUSES
    return (
        live
        and booking.ends_at > timezone.now()
        and booking.part_of_id is None
        and booking_services.may_change(booking, user)
    )


def _changeable(request, pk: int) -> Booking:
    booking = _queued_booking(pk)
    if not booking_services.may_change(booking, request.user):
        raise PermissionDenied("Only the requester or an environment admin may change this booking.")
    return booking


def _changed(request, booking: Booking, *, status: int = 200, error: str = ""):
    if request.htmx:
        booking = Booking.objects.select_related(
            "requester", "decided_by", "application", "release__application", "environment"
        ).get(pk=booking.pk)
        context = {"booking": booking, "error": error, "may_change": changeable(booking, request.user)}
        return render(request, DETAIL_TEMPLATE + "#booking-row", context, status=status)
    if error:
        messages.error(request, error)
    return redirect(reverse("environments:detail", args=[booking.environment_id]) + f"#booking-{booking.pk}")


@require_POST
@in_user_zone
def booking_cancel(request, pk: int):
    booking = _changeable(request, pk)
    try:
        booking = booking_services.booking_cancel(
            booking=booking, by=request.user, reason=request.POST.get("reason", "")[:1000]
        )
    except ValidationError as error:
        return _changed(request, booking, status=409, error=" ".join(error.messages))
    return _changed(request, booking)


@require_POST
@in_user_zone
def booking_shorten(request, pk: int):
    booking = _changeable(request, pk)
    form = BookingShortenForm(request.POST)
    if not form.is_valid():
        return _changed(request, booking, status=422, error="Give the new end as a date and time.")
    try:
        booking = booking_services.booking_shorten(
            booking=booking, by=request.user, ends_at=form.cleaned_data["ends_at"]
        )
    except ValidationError as error:
        return _changed(request, booking, status=422, error=" ".join(error.messages))
    return _changed(request, booking)
