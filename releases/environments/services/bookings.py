"""Booking shared environments: request, approve, reject, cancel, shorten.

The invariant: at no instant do the approved bookings of an environment exceed its capacity. Every
write that can approve a booking locks the environment rows it touches first (the composite and its
components, in id order, so two writers never wait on each other crosswise) and then re-checks
capacity: on PostgreSQL by SELECT ... FOR UPDATE, on SQLite because every transaction starts with
BEGIN IMMEDIATE (portal/settings.py), which already lets one writer in at a time. On PostgreSQL the
exclusion constraint of migration releases 0002 also refuses an overlap on an exclusive environment.

A request by someone who may decide bookings is approved at once; anyone else's waits in the queue.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from releases import tasks
from releases.audit import audit_record, snapshot
from releases.errors import Conflict, DomainError
from releases.freezes import applies, occurrences
from releases.models import (
    Application,
    Booking,
    Environment,
    EnvironmentComponent,
    FreezeWindow,
    Portfolio,
    Release,
)
from releases.querysets import portfolio_lineage

DECIDE_PERMISSION = "releases.decide_booking"
MAX_LENGTH = timedelta(days=28)
# A form is filled in over a minute or two: a start this little in the past still counts as now.
PAST_GRACE = timedelta(minutes=15)
SEARCH_HORIZON = timedelta(days=120)  # how far ahead next_free_slot looks
PURPOSE_LENGTH = Booking._meta.get_field("purpose").max_length


class BookingConflict(Conflict):
    """The slot is taken: `winner` is an approved booking that holds it."""

    def __init__(self, *, winner: Booking, environment: Environment):
        self.winner, self.environment = winner, environment
        super().__init__(
            f"{environment.name} is taken from {winner.starts_at:%Y-%m-%d %H:%M} to "
            f"{winner.ends_at:%Y-%m-%d %H:%M} UTC by booking #{winner.pk} ({winner.purpose})."
        )


class BookingFrozen(DomainError, ValidationError):
    """The slot lies in a freeze window and nobody allowed to override it gave a reason: the form
    needs one (422, like any form the user must complete)."""

    status = 422


@dataclass(frozen=True)
class FreezeHit:
    freeze: FreezeWindow
    starts_at: datetime
    ends_at: datetime


@dataclass
class Conflicts:
    """What [starts_at, ends_at) collides with on an environment and its components."""

    full: list[Booking] = field(default_factory=list)  # approved bookings of an environment left without room
    waiting: list[Booking] = field(default_factory=list)  # other requests for the same time
    freezes: list[FreezeHit] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.full or self.freezes)


# --- reads ----------------------------------------------------------------------------------------


def booked_environments(environment: Environment) -> list[Environment]:
    """The environment and, for a composite, every component: what one booking of it holds."""
    return [environment, *environment.components.order_by("pk")]


def peak(intervals: list[tuple[datetime, datetime]], starts_at: datetime, ends_at: datetime) -> int:
    """The most intervals that overlap one another at any instant of [starts_at, ends_at)."""
    edges = []
    for start, end in intervals:
        start, end = max(start, starts_at), min(end, ends_at)
        if start < end:
            edges += [(start, 1), (end, -1)]
    level = top = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):  # an end before a start at one instant
        level += step
        top = max(top, level)
    return top


def _overlapping(environments, starts_at, ends_at, *, statuses, exclude_ids=()):
    return (
        Booking.objects.filter(environment__in=environments, status__in=statuses)
        .overlapping(starts_at, ends_at)
        .exclude(pk__in=exclude_ids)
        .select_related("environment", "requester", "application", "release__application")
        .order_by("starts_at", "pk")
    )


def _full(environments, approved: list[Booking], starts_at, ends_at) -> list[Booking]:
    """The approved bookings of each environment that one more booking over the slot would exceed."""
    full = []
    for env in environments:
        mine = [b for b in approved if b.environment_id == env.pk]
        if peak([(b.starts_at, b.ends_at) for b in mine], starts_at, ends_at) >= env.capacity:
            full += mine
    return full


def _freezes(starts_at: datetime, ends_at: datetime) -> list[FreezeWindow]:
    """Every freeze that may have an occurrence in [starts_at, ends_at): a recurring one always may."""
    return list(FreezeWindow.objects.may_overlap(starts_at, ends_at))


def _hits(freezes, environment_ids, lineage, starts_at, ends_at) -> list[FreezeHit]:
    """The occurrences of the freezes in scope (global, these environments, these portfolios)."""
    hits = [
        FreezeHit(freeze, s, e)
        for freeze in freezes
        if applies(freeze, portfolio_ids=lineage, environment_ids=environment_ids)
        for s, e in occurrences(freeze, start=starts_at, end=ends_at)
    ]
    return sorted(hits, key=lambda hit: hit.starts_at)


def freeze_hits(
    *, environments, portfolio_id: int | None, starts_at: datetime, ends_at: datetime
) -> list[FreezeHit]:
    """The freeze occurrences (RRULEs expanded) that overlap [starts_at, ends_at)."""
    environment_ids = {env.pk for env in environments}
    lineage = Portfolio.objects.lineage_ids(portfolio_id)
    return _hits(_freezes(starts_at, ends_at), environment_ids, lineage, starts_at, ends_at)


def freeze_hits_of(bookings: list[Booking]) -> dict[int, list[FreezeHit]]:
    """freeze_hits for many bookings (with their environment, application and release loaded) in three
    queries: the approval queue marks the requests that need an override."""
    if not bookings:
        return {}
    components = defaultdict(set)
    links = EnvironmentComponent.objects.filter(composite_id__in={b.environment_id for b in bookings})
    for composite_id, component_id in links.values_list("composite_id", "component_id"):
        components[composite_id].add(component_id)
    parents = Portfolio.objects.parents()
    freezes = _freezes(min(b.starts_at for b in bookings), max(b.ends_at for b in bookings))
    return {
        b.pk: _hits(
            freezes,
            {b.environment_id, *components[b.environment_id]},
            portfolio_lineage(_portfolio_of(b.release, b.application), parents),
            b.starts_at,
            b.ends_at,
        )
        for b in bookings
    }


def _portfolio_of(release: Release | None, application: Application | None) -> int | None:
    if release is not None:
        return release.application.portfolio_id
    return application.portfolio_id if application is not None else None


def booking_conflicts(
    *,
    environment: Environment,
    starts_at: datetime,
    ends_at: datetime,
    release: Release | None = None,
    application: Application | None = None,
    exclude: Booking | None = None,
) -> Conflicts:
    """What the slot collides with: approved bookings that leave no room, other requests, freezes."""
    environments = booked_environments(environment)
    exclude_ids = [exclude.pk, *exclude.parts.values_list("pk", flat=True)] if exclude else []
    live = list(
        _overlapping(
            environments, starts_at, ends_at, statuses=Booking.LIVE_STATUSES, exclude_ids=exclude_ids
        )
    )
    approved = [b for b in live if b.status == Booking.Status.APPROVED]
    return Conflicts(
        full=_full(environments, approved, starts_at, ends_at),
        waiting=[b for b in live if b.status == Booking.Status.REQUESTED and b.part_of_id is None],
        freezes=freeze_hits(
            environments=environments,
            portfolio_id=_portfolio_of(release, application),
            starts_at=starts_at,
            ends_at=ends_at,
        ),
    )


def next_free_slot(
    *,
    environment: Environment,
    starts_at: datetime,
    ends_at: datetime,
    release: Release | None = None,
    application: Application | None = None,
) -> tuple[datetime, datetime] | None:
    """The earliest slot of the same length, starting at or after `starts_at`, inside the
    environment's working hours (releases.environments.working_hours), that has room on the
    environment and every component and lies outside every freeze; None within the horizon."""
    length, horizon = ends_at - starts_at, starts_at + SEARCH_HORIZON
    environments = booked_environments(environment)
    approved = list(
        _overlapping(environments, starts_at, horizon + length, statuses=[Booking.Status.APPROVED])
    )
    freezes = freeze_hits(
        environments=environments,
        portfolio_id=_portfolio_of(release, application),
        starts_at=starts_at,
        ends_at=horizon + length,
    )
    hours = environment.working_hours
    windows = list(hours.windows(starts_at, horizon + length))
    # A free slot starts at the asked time, where something ends, or where working time lets it.
    candidates = sorted(
        {starts_at}
        | {b.ends_at for b in approved if b.ends_at > starts_at}
        | {h.ends_at for h in freezes if h.ends_at > starts_at}
        | hours.candidates(starts_at, horizon, length)
    )
    for start in candidates:
        end = start + length
        if start > horizon:
            break
        if not hours.fits(start, end, windows):
            continue
        frozen = any(h.starts_at < end and h.ends_at > start for h in freezes)
        if not frozen and not _full(environments, approved, start, end):
            return start, end
    return None


# --- checks ----------------------------------------------------------------------------------------


def check_slot(*, environment: Environment, starts_at: datetime, ends_at: datetime, purpose: str) -> None:
    """Input a booking can never have, whatever else is booked: raised as field errors."""
    errors = {}
    if not environment.bookable:
        errors["environment"] = f"{environment.name} is not bookable."
    if ends_at <= starts_at:
        errors["ends_at"] = "The end must be after the start."
    elif ends_at - starts_at > MAX_LENGTH:
        errors["ends_at"] = f"A booking lasts at most {MAX_LENGTH.days} days."
    if starts_at < timezone.now() - PAST_GRACE:
        errors["starts_at"] = "The start is in the past."
    if not purpose.strip() or len(purpose) > PURPOSE_LENGTH:
        errors["purpose"] = f"Say what the booking is for, in at most {PURPOSE_LENGTH} characters."
    if errors:
        raise ValidationError(errors)


def _needs_override(hits: list[FreezeHit], *, reason: str, field: str) -> bool:
    """Whether the booking lies in a freeze (and the decider gave the override's reason); refused
    when it does and no reason was given."""
    if not hits:
        return False
    if reason.strip():
        return True
    first = hits[0]
    raise BookingFrozen(
        {
            field: f"The slot is inside the freeze “{first.freeze.reason}” "
            f"({first.starts_at:%Y-%m-%d %H:%M} to {first.ends_at:%Y-%m-%d %H:%M} UTC): "
            "an environment admin must override it with a reason."
        }
    )


def _lock(environment: Environment) -> list[Environment]:
    """Lock the environment and its components, in id order (the same order for every writer)."""
    ids = [environment.pk, *environment.components.values_list("pk", flat=True)]
    locked = {
        env.pk: env for env in Environment.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    return [locked[pk] for pk in ids]


def _ensure_room(environments: list[Environment], starts_at, ends_at, *, exclude_ids=()) -> None:
    """Refuse when approved bookings leave no room; read lean, the winner only when there is one."""
    approved = list(
        Booking.objects.filter(environment__in=environments, status=Booking.Status.APPROVED)
        .overlapping(starts_at, ends_at)
        .exclude(pk__in=exclude_ids)
        .only("pk", "environment_id", "part_of_id", "starts_at", "ends_at")
        .order_by("starts_at", "pk")
    )
    full = _full(environments, approved, starts_at, ends_at)
    if full:
        winner = Booking.objects.select_related("environment").get(pk=full[0].part_of_id or full[0].pk)
        holder = next(env for env in environments if env.pk == full[0].environment_id)
        raise BookingConflict(winner=winner, environment=holder)


def _save(booking: Booking, **kwargs) -> None:
    """Save in a savepoint: the PostgreSQL exclusion constraint is the last line of defence."""
    try:
        with transaction.atomic():
            booking.save(**kwargs)
    except IntegrityError as error:
        if "booking_exclusive_no_overlap" not in str(error):
            raise
        _ensure_room([booking.environment], booking.starts_at, booking.ends_at, exclude_ids=[booking.pk])
        raise


def _notify(booking: Booking, event: str) -> None:
    transaction.on_commit(lambda: tasks.booking_notify_task.delay(booking_id=booking.pk, event=event))


# --- writes ----------------------------------------------------------------------------------------


@transaction.atomic
def booking_request(
    *,
    environment: Environment,
    by,
    starts_at: datetime,
    ends_at: datetime,
    purpose: str,
    release: Release | None = None,
    application: Application | None = None,
    freeze_override_reason: str = "",
) -> Booking:
    """Request [starts_at, ends_at) of an environment (all of its components too, or none).

    Refused with field errors (ValidationError) for impossible input or an unallowed freeze, with
    BookingConflict when approved bookings leave no room. Approved at once when `by` decides bookings.
    """
    if release is None and application is None:
        raise ValidationError({"application": "Say which release or application the booking is for."})
    application = release.application if release is not None else application
    check_slot(environment=environment, starts_at=starts_at, ends_at=ends_at, purpose=purpose)
    environments = _lock(environment)
    hits = freeze_hits(
        environments=environments,
        portfolio_id=application.portfolio_id,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    approve = by.has_perm(DECIDE_PERMISSION)
    # An admin overrides at once; anyone else's request waits for an admin to override at approval.
    overridden = approve and _needs_override(
        hits, reason=freeze_override_reason, field="freeze_override_reason"
    )
    _ensure_room(environments, starts_at, ends_at)
    now = timezone.now()
    booking = None
    for env in environments:
        part = Booking(
            environment=env,
            part_of=booking,
            release=release,
            application=application,
            requester=by,
            starts_at=starts_at,
            ends_at=ends_at,
            exclusive=env.capacity == 1,
            purpose=purpose,
            status=Booking.Status.APPROVED if approve else Booking.Status.REQUESTED,
            decided_by=by if approve else None,
            decided_at=now if approve else None,
            freeze_override_by=by if overridden else None,
            freeze_override_reason=freeze_override_reason.strip() if overridden else "",
        )
        _save(part)
        booking = booking or part
    audit_record(actor=by, action="booking.request", obj=booking)
    if approve:
        audit_record(actor=by, action="booking.approve", obj=booking, before=None)
    if overridden:
        audit_record(actor=by, action="booking.freeze_override", obj=booking)
    _notify(booking, "approved" if approve else "requested")
    return booking


def _locked_booking(booking: Booking) -> tuple[Booking, list[Environment]]:
    """Lock the environments first, then read the booking as it is now (another writer may have
    decided it while this one waited). A composite's part is decided with the composite's booking."""
    if booking.part_of_id:
        raise ValidationError(
            f"Booking #{booking.pk} is part of booking #{booking.part_of_id}: decide that one."
        )
    environments = _lock(booking.environment)
    booking = Booking.objects.select_related("environment", "application", "release__application").get(
        pk=booking.pk
    )
    return booking, environments


def _set_status(booking: Booking, *, status: str, by, reason: str, **more) -> None:
    """Decide the booking and its parts alike."""
    fields = {"status": status, "decided_by": by, "decided_at": timezone.now(), "reason": reason, **more}
    for part in [booking, *booking.parts.all()]:
        for name, value in fields.items():
            setattr(part, name, value)
        _save(part, update_fields=list(fields))


def _refuse_unless(booking: Booking, statuses, verb: str) -> None:
    if booking.status not in statuses:
        raise ValidationError(f"Booking #{booking.pk} is {booking.status}: it cannot be {verb}.")


def _check_decider(by) -> None:
    if not by.has_perm(DECIDE_PERMISSION):
        raise PermissionError("Only an environment admin may approve or reject booking requests.")


@transaction.atomic
def booking_approve(*, booking: Booking, by, reason: str = "") -> Booking:
    _check_decider(by)
    booking, environments = _locked_booking(booking)
    _refuse_unless(booking, [Booking.Status.REQUESTED], "approved")
    if booking.ends_at <= timezone.now():
        raise ValidationError(f"Booking #{booking.pk} is over: it cannot be approved.")
    part_ids = list(booking.parts.values_list("pk", flat=True))
    _ensure_room(environments, booking.starts_at, booking.ends_at, exclude_ids=[booking.pk, *part_ids])
    hits = freeze_hits(
        environments=environments,
        portfolio_id=_portfolio_of(booking.release, booking.application),
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
    )
    overridden = not booking.freeze_override_by_id and _needs_override(hits, reason=reason, field="reason")
    before = snapshot(booking)
    override = {"freeze_override_by": by, "freeze_override_reason": reason.strip()} if overridden else {}
    _set_status(booking, status=Booking.Status.APPROVED, by=by, reason=reason.strip(), **override)
    audit_record(actor=by, action="booking.approve", obj=booking, before=before)
    if overridden:
        audit_record(actor=by, action="booking.freeze_override", obj=booking)
    _notify(booking, "approved")
    return booking


@dataclass
class BulkOutcome:
    approved: list[Booking] = field(default_factory=list)
    left_out: list[tuple[Booking, str]] = field(default_factory=list)  # each with the reason


@transaction.atomic
def booking_approve_many(*, bookings: list[Booking], by) -> BulkOutcome:
    """Approve the requests that fit, in one transaction, each through booking_approve (its lock, its
    checks, its audit event): one that collides with an approved booking (or with one approved earlier
    in this call), or lies in a freeze, is left out with the reason and nothing of it is written.
    A freeze needs an override reason, which is given one request at a time, in the queue."""
    _check_decider(by)
    outcome = BulkOutcome()
    for booking in sorted(bookings, key=lambda b: (b.starts_at, b.pk)):
        try:
            outcome.approved.append(booking_approve(booking=booking, by=by))
        except BookingConflict as conflict:
            outcome.left_out.append((booking, str(conflict)))
        except ValidationError as error:  # a freeze without an override, decided meanwhile, over
            outcome.left_out.append((booking, " ".join(error.messages)))
    return outcome


@transaction.atomic
def booking_reject(*, booking: Booking, by, reason: str) -> Booking:
    _check_decider(by)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the request is rejected."})
    booking, _ = _locked_booking(booking)
    _refuse_unless(booking, [Booking.Status.REQUESTED], "rejected")
    before = snapshot(booking)
    _set_status(booking, status=Booking.Status.REJECTED, by=by, reason=reason.strip())
    audit_record(actor=by, action="booking.reject", obj=booking, before=before)
    _notify(booking, "rejected")
    return booking


def may_change(booking: Booking, user) -> bool:
    """The requester, or whoever decides bookings, may cancel or shorten a booking."""
    return booking.requester_id == user.pk or user.has_perm(DECIDE_PERMISSION)


def _check_may_change(booking: Booking, by, verb: str, done: str) -> None:
    if not may_change(booking, by):
        raise PermissionError(f"Only the requester or an environment admin may {verb} booking #{booking.pk}.")
    _refuse_unless(booking, Booking.LIVE_STATUSES, done)
    if booking.ends_at <= timezone.now():
        raise ValidationError(f"Booking #{booking.pk} is over: it cannot be {done}.")


@transaction.atomic
def booking_cancel(*, booking: Booking, by, reason: str = "") -> Booking:
    booking, _ = _locked_booking(booking)
    _check_may_change(booking, by, "cancel", "cancelled")
    before = snapshot(booking)
    for part in [booking, *booking.parts.all()]:
        part.status, part.reason = Booking.Status.CANCELLED, reason.strip()
        _save(part, update_fields=["status", "reason"])
    audit_record(actor=by, action="booking.cancel", obj=booking, before=before)
    _notify(booking, "cancelled")
    return booking


@transaction.atomic
def booking_shorten(*, booking: Booking, by, ends_at: datetime) -> Booking:
    """End the booking earlier; it never grows (that would need a fresh check for room)."""
    booking, _ = _locked_booking(booking)
    _check_may_change(booking, by, "shorten", "shortened")
    if not booking.starts_at < ends_at < booking.ends_at:
        raise ValidationError({"ends_at": "The new end must be after the start and before the current end."})
    if ends_at < timezone.now() - PAST_GRACE:
        raise ValidationError({"ends_at": "The new end is in the past."})
    before = snapshot(booking)
    for part in [booking, *booking.parts.all()]:
        part.ends_at = ends_at
        _save(part, update_fields=["ends_at"])
    audit_record(actor=by, action="booking.shorten", obj=booking, before=before)
    _notify(booking, "shortened")
    return booking
