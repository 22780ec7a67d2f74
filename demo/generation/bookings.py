"""Booking requests for the environments, decided against their capacity and the freezes."""

import bisect
import random
from datetime import datetime, timedelta

from demo.generation.world import DemoApp, DemoEnv, DemoRelease, World, utc_at
from releases.environments.services.bookings import peak
from releases.freezes import occurrences
from releases.models import Booking


def environment_bookings(world: World) -> None:
    """Requests per environment, decided in start order: a request is approved only where it fits the
    environment's capacity by the domain's count (releases.environments.services.bookings.peak), so approved
    bookings never exceed capacity at any instant. A composite's booking must fit every component
    too, and books them as its parts."""
    rng = world.rng("bookings")
    candidates = []
    for env in world.envs:
        if env.bookable:
            candidates += _booking_candidates(world, rng, env)
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    running: dict[int, list[tuple]] = {env.idx: [] for env in world.envs}  # approved, not yet ended
    bookings, parts = [], []
    for starts_at, env_idx, _seq, ends_at in candidates:
        env = world.envs[env_idx]
        override = _booking_freeze(world, rng, env, starts_at, ends_at)
        if override is None:
            continue
        booking = _booking(world, rng, env, starts_at, ends_at, running, override)
        parts += [
            booking
            | {"part_of_id": len(bookings), "environment_id": c, "exclusive": world.envs[c].capacity == 1}
            for c in env.components
        ]
        bookings.append(booking)
    refs = {
        "environment_id": "environment",
        "release_id": "release",
        "application_id": "application",
        "requester_id": "user",
        "decided_by_id": "user",
        "freeze_override_by_id": "user",
    }
    world.add("booking", Booking, bookings, **refs)
    world.add("booking_part", Booking, parts, part_of_id="booking", **refs)


def _booking_candidates(world: World, rng: random.Random, env: DemoEnv) -> list[tuple]:
    """(starts_at, env, seq, ends_at) requests on working days: one stream per unit of capacity, each
    now and then overlapping its previous request (a team asks for days another team holds)."""
    first, last = (world.anchor + timedelta(days=d) for d in world.scale.booking_days)
    durations = {"perf": (1, 1, 2, 3), "staging": (1, 2, 3)}.get(env.kind, (1, 2, 3, 5, 5, 10))
    spacing = 3 if env.components else 1  # composites are booked less often than their parts
    found = []
    for _stream in range(env.capacity):
        day = first + timedelta(days=rng.randint(0, 5))
        while day < last:
            length = rng.choice(durations)
            if day.weekday() < 5:
                found.append(
                    (utc_at(day, 8), env.idx, len(found), utc_at(day + timedelta(days=length - 1), 18))
                )
            overlap = rng.randint(1, 3) if rng.random() < 0.12 else 0
            day += timedelta(days=max(1, length + rng.choice((0, 1, 2, 3, 4, 7)) * spacing - overlap))
    return found


def _booking_freeze(world: World, rng: random.Random, env: DemoEnv, starts_at, ends_at) -> bool | None:
    """Whether a request inside a global or environment freeze carries an admin's override; None drops
    it (teams plan around freezes). A few future requests stay in a freeze unresolved, as exceptions."""
    scopes = (None, env.idx, *env.components)
    windows = [window for scope in scopes for window in world.booking_freezes.get(scope, [])]
    if not any(occurrences(window, start=starts_at, end=ends_at) for window in windows):
        return False
    roll = rng.random()
    if roll < 0.15:
        return True
    return False if roll < 0.25 and starts_at > world.now else None


def _booking(world: World, rng: random.Random, env: DemoEnv, starts_at, ends_at, running, override) -> dict:
    envs = (env.idx, *env.components)
    for e in envs:  # requests come in start order: a booking that has ended meets no later one
        running[e] = [(s, end) for s, end in running[e] if end > starts_at]
    fits = all(peak(running[e], starts_at, ends_at) < world.envs[e].capacity for e in envs)
    status = _booking_status(rng, world.now, starts_at, ends_at, fits)
    if status == "approved":
        for e in envs:
            running[e].append((starts_at, ends_at))
    app, release = _booking_subject(world, rng, env, starts_at)
    decided = status in ("approved", "rejected")
    decided_at = min(
        starts_at - timedelta(days=rng.randint(1, 6)), world.now - timedelta(hours=rng.randint(2, 48))
    )
    reason = ""
    if status == "rejected":
        reason = "Conflicts with an approved booking." if not fits else "Test cycle re-planned."
    return {
        "environment_id": env.idx,
        "exclusive": env.capacity == 1,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "status": status,
        "release_id": release.idx if release else None,
        "application_id": app.idx,
        "requester_id": world.portfolios[app.portfolio].manager,
        "purpose": _booking_purpose(rng, env, app, release),
        "decided_by_id": world.user("envadmin") if decided else None,
        "decided_at": decided_at if decided else None,
        "created_at": _requested_at(world, starts_at, decided_at if decided else None),
        "reason": reason,
        "freeze_override_by_id": world.user("admin") if override else None,
        "freeze_override_reason": "Agreed with the CAB: regression run for an emergency fix."
        if override
        else "",
    }


def _requested_at(world: World, starts_at: datetime, decided_at: datetime | None) -> datetime:
    """Some hours before its decision (or before today, while it waits), varied by the slot."""
    hours = 2 + (starts_at.toordinal() * 7 + starts_at.hour) % 70
    return (decided_at or world.now) - timedelta(hours=hours)


def _booking_status(rng: random.Random, now: datetime, starts_at, ends_at, fits: bool) -> str:
    roll = rng.random()
    if starts_at < now:  # in the past, or running now
        if not fits:
            return "rejected" if roll < 0.7 else "cancelled"
        if ends_at > now or roll < 0.9:
            return "approved"
        return "cancelled" if roll < 0.97 else "rejected"
    if not fits:  # waiting, in conflict: an exception for the environment admin
        return "requested" if roll < 0.6 else "rejected"
    if roll < (0.7 if (starts_at - now).days <= 30 else 0.35):
        return "approved"
    return "requested" if roll < 0.95 else "cancelled"


def _booking_subject(world: World, rng: random.Random, env: DemoEnv, starts_at: datetime):
    """An application of the environment's portfolio, and its next release if one is due soon after."""
    apps = [a for a in world.apps if env.portfolio in (None, a.top)]
    app = rng.choice(apps)
    at = bisect.bisect_left(app.targets, starts_at.date())
    if at < len(app.releases):
        release = world.releases[app.releases[at]]
        if (release.target - starts_at.date()).days <= 45 and release.status != "cancelled":
            return app, release
    return app, None


def _booking_purpose(rng: random.Random, env: DemoEnv, app: DemoApp, release: DemoRelease | None) -> str:
    what = f"{app.spec.key} {release.version}" if release else app.spec.name
    if env.kind == "perf":
        return f"Performance test of {what} at year-end volumes"
    if env.components:
        return f"End-to-end test of {what} with the connected systems"
    purposes = (
        "System integration test",
        "UAT with business users",
        "Regression run",
        "Data migration rehearsal",
    )
    return f"{rng.choice(purposes)} for {what}"
