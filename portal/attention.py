"""Home's "Needs attention": what is wrong across the portfolios and applications a person follows
(everything when they follow nothing), ranked, each item saying why it is there, since when, what it
affects and where it is fixed; and "My queue", what waits for the person's own decision.

One function per rule. Each reads a fixed number of queries (none loops over rows in the database)
and returns at most CANDIDATES items, the most pressing of its kind first; `score` (pure) ranks them
all together. Lives in `portal` because two rules read `integrations` (syncs) and `portal` (the
worker's heartbeat), which `releases` may not import.
"""

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Exists, F, IntegerField, Min, OuterRef, Q, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.urls import reverse
from django.utils import timezone

from integrations.models import SyncRun
from portal.models import Follow, WorkerHeartbeat
from releases.environments.services.bookings import DECIDE_PERMISSION
from releases.freezes import frozen_days, occurrences
from releases.gates.services import policy_changes
from releases.models import (
    Booking,
    Build,
    FreezeWindow,
    Gate,
    PolicyChange,
    Portfolio,
    Release,
    ReleaseDependency,
    TestRun,
)
from releases.querysets import CLOSED_STATUSES, SIGN_PERMISSION, portfolio_subtree

CANDIDATES = 20  # items a rule offers to the ranking at most
SHOWN = 5  # items shown before "Show more"
SHOWN_MORE = 50
FREEZE_LOOKAHEAD = timedelta(days=30)  # bookings and release targets this close count
WORKER_SILENCE_LIMIT = timedelta(minutes=2)  # beat sends a heartbeat every 30 s
SYNC_SILENCE_LIMIT = timedelta(minutes=10)  # an active run silent this long has stalled

BLOCKER, HIGH, MEDIUM = 3, 2, 1
IMPACT_CAP = 5  # downstream releases counted at most
SEVERITY_WORDS = {BLOCKER: "blocker", HIGH: "high", MEDIUM: "medium"}


# --- ranking (pure) ------------------------------------------------------------------------------

WHY_THIS_ORDER = (
    "Severity first (a blocker 30 points, high 20, medium 10); then urgency (15 more when it is due "
    "today or overdue, 10 within 3 days, 5 within 2 weeks); then impact (2 points for each release "
    "waiting downstream, 10 at most; a worker that is down holds every release, so it counts the "
    "most). Equal scores: the longest-standing first."
)


def score(*, severity: int, due: date | None, today: date, downstream: int = 0) -> int:
    """The rank of an item: WHY_THIS_ORDER as arithmetic."""
    points = 10 * severity
    if due is not None:
        days_left = (due - today).days
        points += 15 if days_left <= 0 else 10 if days_left <= 3 else 5 if days_left <= 14 else 0
    return points + min(2 * max(downstream, 0), 2 * IMPACT_CAP)


@dataclass(frozen=True)
class Item:
    rule: str
    severity: int
    title: str
    why: str
    since: datetime | date | None
    affects: str
    url: str
    due: date | None = None
    downstream: int = 0
    release_id: int | None = None
    points: int = field(default=0, compare=False)

    @property
    def severity_word(self) -> str:
        return SEVERITY_WORDS[self.severity]


def _sort_since(item: Item) -> datetime:
    since = item.since
    if since is None:
        return datetime.max.replace(tzinfo=UTC)
    if not isinstance(since, datetime):
        since = datetime.combine(since, time(), tzinfo=UTC)
    return since


def rank(items: list[Item], *, today: date) -> list[Item]:
    """Items scored and sorted: highest score first, then the oldest."""
    scored = [replace(item, points=score(**_score_args(item), today=today)) for item in items]
    return sorted(scored, key=lambda item: (-item.points, _sort_since(item), item.title))


def _score_args(item: Item) -> dict:
    return {"severity": item.severity, "due": item.due, "downstream": item.downstream}


# --- whose portfolios --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The applications and portfolios (their programmes included) a person follows; everything
    when `everything`."""

    everything: bool
    portfolio_ids: frozenset[int] = frozenset()
    application_ids: frozenset[int] = frozenset()

    def q(self, to_release: str = "") -> Q:
        """A filter on releases (or on rows reaching a release through `to_release`, e.g. "release__")."""
        if self.everything:
            return Q()
        return Q(**{f"{to_release}application_id__in": self.application_ids}) | Q(
            **{f"{to_release}application__portfolio_id__in": self.portfolio_ids}
        )


def follow_scope(user) -> Scope:
    """Two queries: the person's follows and the portfolio tree."""
    follows = list(Follow.objects.filter(user=user).values_list("portfolio_id", "application_id"))
    if not follows:
        return Scope(everything=True)
    parents = Portfolio.objects.parents()
    portfolios = {pk for top, _ in follows if top for pk in portfolio_subtree(top, parents)}
    return Scope(
        everything=False,
        portfolio_ids=frozenset(portfolios),
        application_ids=frozenset(app for _, app in follows if app),
    )


# --- the rules ----------------------------------------------------------------------------------

# The columns an item reads of a release (_release_words and the rules' own words): only these are
# loaded, a list of candidates never needs the rest of a wide row.
RELEASE_COLUMNS = (
    "application__key",
    "application__portfolio_id",
    "version",
    "target_date",
    "forecast_date",
    "forecast_slip_days",
    "forecast_state",
    "forecast_blocked_reason",
    "forecast_waiting_for",
    "forecast_updated_at",
    "forecast_baseline_date",
    "forecast_risk",
)
RELATED_RELEASE_COLUMNS = tuple(f"release__{name}" for name in RELEASE_COLUMNS)


def _downstream(release_ref: str):
    """How many releases wait on this one (direct dependencies), as a subquery."""
    counts = (
        ReleaseDependency.objects.filter(upstream=OuterRef(release_ref))
        .order_by()
        .values("upstream")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def _release_words(release: Release, downstream: int) -> str:
    words = f"{release.application.key} {release.version}, target {release.target_date:%d %b}"
    if release.forecast_risk:
        words += f", risk {release.forecast_risk}/100"
    if downstream:
        words += f"; {downstream} release{'s' if downstream != 1 else ''} downstream"
    return words


def _days(delta: timedelta) -> str:
    return f"{delta.days} day{'s' if delta.days != 1 else ''}"


def _release_url(release_id: int) -> str:
    return reverse("releases:detail", args=[release_id])


def gates_rule(scope: Scope, *, today: date, now: datetime) -> list[Item]:
    """Gates overdue (pending past their due day, Gate.objects.overdue) or failed (rejected by a
    signer or failed on evidence), on open releases."""
    failed = Gate.objects.filter(status=Gate.Status.FAILED).exclude(release__status__in=CLOSED_STATUSES)
    gates = (
        (Gate.objects.overdue(today) | failed)
        .filter(scope.q("release__"))
        .select_related("release__application")
        .only(
            "name",
            "status",
            "due_date",
            "decided_at",
            "evidence_ok",
            "evidence_summary",
            *RELATED_RELEASE_COLUMNS,
        )
        .annotate(downstream=_downstream("release_id"))
        .order_by("due_date", "pk")[:CANDIDATES]
    )
    items = []
    for gate in gates:
        failed = gate.status == Gate.Status.FAILED
        items.append(
            Item(
                rule="gate_failed" if failed else "gate_overdue",
                severity=BLOCKER if failed else HIGH,
                title=f"{gate.name} of {gate.release.application.key} {gate.release.version} "
                + ("failed" if failed else "is overdue"),
                why=(gate.evidence_summary if gate.evidence_ok is False else "rejected at sign-off")
                if failed
                else f"due {gate.due_date:%d %b}, not signed yet",
                since=gate.decided_at if failed else gate.due_date,
                affects=_release_words(gate.release, gate.downstream),
                url=reverse("gates:detail", args=[gate.pk]),
                release_id=gate.release_id,
                due=gate.due_date if not failed else gate.release.target_date,
                downstream=gate.downstream,
            )
        )
    return items


def _holds_words(release: Release) -> str:
    """What holds the release, as the forecast stored it (the upstream that moved it first)."""
    holds = [hold.get("text", "") for hold in release.forecast_waiting_for or [] if isinstance(hold, dict)]
    return "; ".join(text for text in holds[:2] if text)


def releases_rule(scope: Scope, *, today: date, now: datetime) -> list[Item]:
    """Open releases whose forecast is blocked or at risk."""
    base = Release.objects.open().filter(scope.q()).select_related("application").only(*RELEASE_COLUMNS)
    base = base.annotate(downstream=_downstream("pk")).order_by("target_date", "pk")
    blocked_ones = list(base.filter(forecast_state=Release.DeliveryState.BLOCKED)[:CANDIDATES])
    at_risk_ones = list(base.filter(forecast_state=Release.DeliveryState.AT_RISK)[:CANDIDATES])
    items = []
    for release in blocked_ones + at_risk_ones:
        blocked = release.forecast_state == Release.DeliveryState.BLOCKED
        late = f"forecast {release.forecast_date:%d %b}" if release.forecast_date else "no forecast date"
        if release.forecast_slip_days > 0:
            late += f", {release.forecast_slip_days} days after its target"
        items.append(
            Item(
                rule="release_blocked" if blocked else "release_at_risk",
                severity=BLOCKER if blocked else HIGH,
                title=f"{release.application.key} {release.version} is {'blocked' if blocked else 'at risk'}",
                why=release.forecast_blocked_reason or _holds_words(release) or late,
                since=release.forecast_updated_at,
                affects=_release_words(release, release.downstream),
                url=_release_url(release.pk),
                due=release.target_date,
                downstream=release.downstream,
                release_id=release.pk,
            )
        )
    return items


def slipped_rule(scope: Scope, *, today: date, now: datetime) -> list[Item]:
    """Open releases whose forecast date moved later since yesterday: forecast_date against the
    baseline the day's first forecast refresh kept (forecast_baseline_keep)."""
    releases = (
        Release.objects.open()
        .filter(
            scope.q(),
            forecast_baseline_on__gte=today - timedelta(days=1),
            forecast_date__gt=F("forecast_baseline_date"),
        )
        .select_related("application")
        .only(*RELEASE_COLUMNS)
        .annotate(downstream=_downstream("pk"))
        .order_by("target_date", "pk")[:CANDIDATES]
    )
    return [
        Item(
            rule="release_slipped",
            severity=MEDIUM,
            title=f"{release.application.key} {release.version} slipped "
            f"{_days(release.forecast_date - release.forecast_baseline_date)} since yesterday",
            why=f"forecast {release.forecast_baseline_date:%d %b} → {release.forecast_date:%d %b}"
            + (f" ({holds})" if (holds := _holds_words(release)) else ""),
            since=release.forecast_updated_at,
            affects=_release_words(release, release.downstream),
            url=_release_url(release.pk),
            due=release.target_date,
            downstream=release.downstream,
        )
        for release in releases
    ]


def _span(booking: Booking) -> str:
    start, end = timezone.localtime(booking.starts_at), timezone.localtime(booking.ends_at)
    return f"{start:%d %b %H:%M} to {end:%d %b %H:%M}"


def _booking_scope(scope: Scope) -> Q:
    if scope.everything:
        return Q()
    return (
        scope.q("release__")
        | Q(application_id__in=scope.application_ids)
        | Q(application__portfolio_id__in=scope.portfolio_ids)
    )


def bookings_rule(scope: Scope, *, today: date, now: datetime, queue_url: str) -> list[Item]:
    """Booking requests waiting for a decision: each one that overlaps an approved booking of its
    environment as an item of its own (a possible conflict; approving checks capacity exactly), and
    the others together as one."""
    waiting = Booking.objects.waiting(now).filter(_booking_scope(scope))
    clash = Booking.objects.approved().filter(
        environment_id=OuterRef("environment_id"),
        starts_at__lt=OuterRef("ends_at"),
        ends_at__gt=OuterRef("starts_at"),
    )
    conflicts = (
        waiting.filter(Exists(clash))
        .select_related("environment", "release__application", "application")
        .order_by("starts_at", "pk")[:CANDIDATES]
    )
    items = [
        Item(
            rule="booking_conflict",
            severity=HIGH,
            title=f"Booking request on {b.environment.name} overlaps an approved booking",
            why=f"{b.purpose}: {_span(b)}",
            since=b.created_at,
            affects=str(b.release or b.application or b.environment),
            url=queue_url,
            due=timezone.localtime(b.starts_at).date(),
        )
        for b in conflicts
    ]
    rest = (
        waiting.exclude(Exists(clash))
        .order_by()
        .aggregate(n=Count("pk"), first=Min("starts_at"), oldest=Min("created_at"))
    )
    if rest["n"]:
        first = timezone.localtime(rest["first"]).date()
        items.append(
            Item(
                rule="bookings_waiting",
                severity=MEDIUM,
                title=f"{rest['n']} booking request{'s' if rest['n'] != 1 else ''} wait for a decision",
                why=f"the first starts {first:%d %b}",
                since=rest["oldest"],
                affects="environments",
                url=queue_url,
                due=first,
            )
        )
    return items


def _freeze_windows(now: datetime) -> list[FreezeWindow]:
    return list(FreezeWindow.objects.may_overlap(now, now + FREEZE_LOOKAHEAD))


def freezes_rule(scope: Scope, *, today: date, now: datetime, queue_url: str) -> list[Item]:
    """Live bookings and open releases' targets inside a freeze in the next 30 days, without an
    override. The freezes' occurrences become one filter (a few terms per window), so the rows are
    never looped over in the database; only the items found are matched to the freeze that holds
    them, for its reason. Environment freezes hold bookings only: they hold no release."""
    end = now + FREEZE_LOOKAHEAD
    windows = _freeze_windows(now)
    if not windows:
        return []
    parents = Portfolio.objects.parents()
    booking_q, target_q, held = Q(pk__in=[]), Q(pk__in=[]), []
    for window in windows:
        family = portfolio_subtree(window.portfolio_id, parents) if window.portfolio_id else []
        if window.scope == FreezeWindow.Scope.ENVIRONMENT:
            where, release_where = Q(environment_id=window.environment_id), None
        elif window.scope == FreezeWindow.Scope.PORTFOLIO:
            where = Q(release__application__portfolio_id__in=family) | Q(application__portfolio_id__in=family)
            release_where = Q(application__portfolio_id__in=family)
        else:
            where, release_where = Q(), Q()
        spans = occurrences(window, start=now, end=end)
        days = frozen_days(window, start=now, end=end) if release_where is not None else []
        for start, stop in spans:
            booking_q |= where & Q(starts_at__lt=stop, ends_at__gt=start)
        for first, after in days:
            target_q |= release_where & Q(target_date__gte=first, target_date__lt=after)
        held.append((window, set(family), spans, days))
    bookings = (
        Booking.objects.live()
        .filter(part_of__isnull=True, ends_at__gt=now, freeze_override_by__isnull=True)
        .filter(_booking_scope(scope))
        .filter(booking_q)
        .select_related("environment", "release__application", "application")
        .order_by("starts_at", "pk")[:CANDIDATES]
    )
    releases = (
        Release.objects.open()
        .filter(scope.q(), freeze_override_by__isnull=True, target_date__gte=today)
        .filter(target_q)
        .select_related("application")
        .only(*RELEASE_COLUMNS)
        .annotate(downstream=_downstream("pk"))
        .order_by("target_date", "pk")[:CANDIDATES]
    )

    def booking_freeze(b: Booking) -> str:
        owner = b.release.application if b.release else b.application
        for window, family, spans, _ in held:
            if window.scope == FreezeWindow.Scope.ENVIRONMENT and window.environment_id != b.environment_id:
                continue
            if window.scope == FreezeWindow.Scope.PORTFOLIO and (
                owner is None or owner.portfolio_id not in family
            ):
                continue
            if any(start < b.ends_at and stop > b.starts_at for start, stop in spans):
                return window.reason
        return "a freeze"

    def target_freeze(r: Release) -> str:
        for window, family, _, days in held:
            if window.scope == FreezeWindow.Scope.PORTFOLIO and r.application.portfolio_id not in family:
                continue
            if any(first <= r.target_date < after for first, after in days):
                return window.reason
        return "a freeze"

    items = [
        Item(
            rule="booking_frozen",
            severity=HIGH,
            title=f"{b.get_status_display()} booking on {b.environment.name} falls in a freeze",
            why=f"{_span(b)}, frozen: {booking_freeze(b)}",
            since=b.created_at,
            affects=str(b.release or b.application or b.environment),
            url=queue_url if b.status == Booking.Status.REQUESTED else reverse("environments:board"),
            due=timezone.localtime(b.starts_at).date(),
        )
        for b in bookings
    ]
    items += [
        Item(
            rule="target_frozen",
            severity=HIGH,
            title=f"{r.application.key} {r.version} targets a frozen day",
            why=f"target {r.target_date:%d %b} is frozen: {target_freeze(r)}; move it or ask for an override",
            since=None,
            affects=_release_words(r, r.downstream),
            url=_release_url(r.pk),
            due=r.target_date,
            downstream=r.downstream,
        )
        for r in releases
    ]
    return items


def _superseded(rows, *, at: str, tie: str) -> Exists:
    """One of `rows` is a later row of the same release: later by `at`, then by `tie`."""
    later = Q(**{f"{at}__gt": OuterRef(at)}) | Q(**{at: OuterRef(at), f"{tie}__gt": OuterRef(tie)})
    return Exists(rows.filter(later, release_id=OuterRef("release_id")))


def builds_rule(scope: Scope, *, today: date, now: datetime) -> list[Item]:
    """Open releases whose latest finished build failed, and whose latest test run has failures.
    Read from the failures' side (a failure no later row of its release supersedes), so the work
    follows the failures, not every open release's history."""
    finished = Build.objects.exclude(result=Build.Result.RUNNING)
    builds = (
        finished.filter(scope.q("release__"), result=Build.Result.FAILURE)
        .exclude(release__status__in=CLOSED_STATUSES)
        .exclude(_superseded(finished, at="started_at", tie="number"))
        .select_related("release__application")
        .only("job", "number", "started_at", *RELATED_RELEASE_COLUMNS)
        .annotate(downstream=_downstream("release_id"))
        .order_by("-started_at", "pk")[:CANDIDATES]
    )
    runs = (
        TestRun.objects.filter(Q(failed__gt=0) | Q(errors__gt=0), scope.q("release__"))
        .exclude(release__status__in=CLOSED_STATUSES)
        .exclude(_superseded(TestRun.objects.all(), at="executed_at", tie="pk"))
        .select_related("release__application")
        .only("name", "passed", "failed", "errors", "executed_at", *RELATED_RELEASE_COLUMNS)
        .annotate(downstream=_downstream("release_id"))
        .order_by("-executed_at", "pk")[:CANDIDATES]
    )
    items = [
        Item(
            rule="build_failed",
            severity=BLOCKER,
            title=f"Latest build of {b.release.application.key} {b.release.version} failed",
            why=f"{b.job} #{b.number}",
            since=b.started_at,
            affects=_release_words(b.release, b.downstream),
            url=_release_url(b.release_id),
            release_id=b.release_id,
            due=b.release.target_date,
            downstream=b.downstream,
        )
        for b in builds
    ]
    items += [
        Item(
            rule="tests_failed",
            severity=HIGH,
            title=f"Latest test run of {t.release.application.key} {t.release.version} has failures",
            why=f"{t.name or 'test run'}: {t.failed} failed, {t.errors} errors, {t.passed} passed",
            since=t.executed_at,
            affects=_release_words(t.release, t.downstream),
            url=_release_url(t.release_id),
            due=t.release.target_date,
            downstream=t.downstream,
        )
        for t in runs
    ]
    return items


def syncs_rule(scope: Scope, *, today: date, now: datetime) -> list[Item]:
    """Enabled connections whose latest run failed, or whose active run has been silent too long
    (the beat sweep fails it later; this says so first). Syncs feed every portfolio: not scoped."""
    latest = SyncRun.objects.annotate(
        rank=Window(RowNumber(), partition_by=[F("connection_id")], order_by=[F("pk").desc()])
    )
    runs = (
        SyncRun.objects.filter(pk__in=Subquery(latest.filter(rank=1).values("pk")), connection__enabled=True)
        .filter(
            Q(status=SyncRun.Status.FAILED)
            | Q(
                status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING],
                heartbeat_at__lt=now - SYNC_SILENCE_LIMIT,
            )
        )
        .select_related("connection")
        .order_by("pk")[:CANDIDATES]
    )
    url = reverse("integrations:index")
    items = []
    for run in runs:
        failed = run.status == SyncRun.Status.FAILED
        items.append(
            Item(
                rule="sync_failed" if failed else "sync_stalled",
                severity=HIGH,
                title=f"Sync of {run.connection.name} " + ("failed" if failed else "has stalled"),
                why=(run.error.splitlines()[0][:200] if run.error else "no error recorded")
                if failed
                else "no sign of life for more than 10 minutes",
                since=run.finished_at if failed else run.heartbeat_at,
                affects=f"facts from {run.connection.get_kind_display()} ({run.connection.name})",
                url=url,
                due=today,
            )
        )
    return items


def worker_rule(*, today: date, now: datetime) -> list[Item]:
    """The background worker has sent no heartbeat for WORKER_SILENCE_LIMIT (or never has)."""
    seen = WorkerHeartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    if seen is not None and now - seen < WORKER_SILENCE_LIMIT:
        return []
    return [
        Item(
            rule="worker_down",
            severity=BLOCKER,
            title="The background worker is down",
            why="never seen" if seen is None else "no heartbeat for more than 2 minutes",
            since=seen,
            affects="syncs, forecasts, e-mails and reminders stop",
            url=reverse("healthz"),
            due=today,
            downstream=IMPACT_CAP,  # every open release waits on it: the most impact there is
        )
    ]


# --- the page's reads --------------------------------------------------------------------------


def needs_attention(user, *, today: date, now: datetime, queue_url: str) -> dict:
    """Every rule's items, ranked, with the scope they cover. A fixed number of queries."""
    scope = follow_scope(user)
    items = [
        *gates_rule(scope, today=today, now=now),
        *releases_rule(scope, today=today, now=now),
        *slipped_rule(scope, today=today, now=now),
        *bookings_rule(scope, today=today, now=now, queue_url=queue_url),
        *freezes_rule(scope, today=today, now=now, queue_url=queue_url),
        *builds_rule(scope, today=today, now=now),
        *syncs_rule(scope, today=today, now=now),
        *worker_rule(today=today, now=now),
    ]
    return {"items": rank(without_echoes(items), today=today), "scope": scope}


CAUSES = ("gate_failed", "build_failed")


def without_echoes(items: list[Item]) -> list[Item]:
    """A release blocked by a failed gate or build is one problem, fixed at its cause: the "blocked"
    item goes, and the cause's item says that it blocks the release."""
    caused = {item.release_id for item in items if item.rule in CAUSES}
    return [
        replace(item, why=f"{item.why} (blocks the release)") if item.rule in CAUSES else item
        for item in items
        if not (item.rule == "release_blocked" and item.release_id in caused)
    ]


def my_queue(user, *, now: datetime) -> dict:
    """What waits for this person's decision: gates they may sign now, booking requests they may
    decide, weakening policy changes they may approve (not their own). Counts and the first few."""
    gates = Gate.objects.signable_by(user).exclude(release__status__in=CLOSED_STATUSES)
    queue = {
        "may_sign": user.has_perm(SIGN_PERMISSION),
        "gates": list(gates.select_related("release__application").order_by("due_date", "pk")[:SHOWN]),
        "gate_count": gates.count(),
        "may_decide_bookings": user.has_perm(DECIDE_PERMISSION),
        "booking_count": 0,
        "may_approve_changes": policy_changes.can_approve(user),
        "changes": [],
        "change_count": 0,
    }
    if queue["may_decide_bookings"]:
        queue["booking_count"] = Booking.objects.waiting(now).count()
    if queue["may_approve_changes"]:
        changes = PolicyChange.objects.filter(status=PolicyChange.Status.PENDING).exclude(proposed_by=user)
        queue["change_count"] = changes.count()
        queue["changes"] = list(
            changes.select_related("policy", "proposed_by").order_by("proposed_at")[:SHOWN]
        )
    return queue


def follow_choices(user) -> dict:
    """What the person follows (for the toggles), two queries."""
    follows = list(Follow.objects.filter(user=user).select_related("portfolio", "application"))
    return {
        "portfolios": [f.portfolio for f in follows if f.portfolio_id],
        "applications": [f.application for f in follows if f.application_id],
    }
