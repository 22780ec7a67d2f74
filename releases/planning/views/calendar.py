"""The release calendar (month and ISO-week grids, a day's full list) and its ICS feed.

Reads for these pages live here: the grid's releases come in ONE query (a window function cuts each
day to its first few and counts the rest), the freeze windows in one more.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.db.models import Case, CharField, Count, F, Q, Value, When, Window
from django.db.models.functions import Cast, Coalesce, Concat, RowNumber
from django.forms import CheckboxSelectMultiple
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from releases import params
from releases.errors import DomainError
from releases.freezes import frozen_days, horizon_from
from releases.models import Application, FreezeWindow, Portfolio, Release, ReleaseTrain, SavedView
from releases.planning import ics
from releases.planning.calendar import BadPeriod, Day, FreezeDays, Period, build_grid, period_from
from releases.planning.filters import GateState, ReleaseFilter
from releases.planning.forecast import STATE_LABELS, ForecastState, delivery_state, odds_words
from releases.planning.selectors import saved_views as saved_view_selectors
from releases.querysets import delivery_state_q

TEMPLATE = "releases/calendar.html"
PERIOD_PARAMS = ("month", "week", "view")
# What a grid cell shows of a release; the feed's events also say the forecast and when it changed.
GRID_FIELDS = (
    "id",
    "target_date",
    "version",
    "summary",
    "status",
    "at_risk",
    "forecast_state",
    "forecast_blocked_reason",
    "forecast_on_time",
    "forecast_p85",
    "application__key",
    "application__name",
)
FEED_FIELDS = (
    *GRID_FIELDS,
    "forecast_date",
    "forecast_slip_days",
    "forecast_p50",
    "forecast_p95",
    "updated_at",
)
# Within a day the releases at risk come first, so the few shown are the ones to look at.
DAY_ORDER = (F("at_risk").desc(), F("application__key").asc(), F("version").asc())
URL_PLACEHOLDER = "2147483647"
# A release's delivery state on the grid, in the words of the list and the release page.
STATE_BADGES = {
    ForecastState.AT_RISK: ' <span class="badge badge-alert cal-risk">{}</span>',
    ForecastState.BLOCKED: ' <span class="badge badge-alert badge-blocked cal-risk">{}</span>',
}
STATE_BADGES = {state: badge.format(STATE_LABELS[state].lower()) for state, badge in STATE_BADGES.items()}
FEED_DAYS_BACK, FEED_DAYS_AHEAD = 92, 366  # about 3 months back and 12 ahead keep feeds small
# Calendar apps (and icalendar, ~1 ms an event) choke on tens of thousands of events: an unfiltered
# enterprise feed keeps the releases nearest to today and says so.
FEED_MAX_RELEASES = 2000
TRUNCATED_NOTE = (
    f"Only the {FEED_MAX_RELEASES} releases nearest to today are in this feed: "
    "filter it (portfolio, application, train) to see them all."
)


@require_GET
def calendar_month(request):
    """Month view (default: this month in the user's time zone) or ISO week view, filtered."""
    today = _user_today(request.user)
    try:
        period = period_from(request.GET, today=today)
    except BadPeriod as exc:
        return _bad_request(request, str(exc))
    filterset = _filterset(request)
    freezes = _freeze_occurrences(_relevant_freezes(filterset, period.start, period.end), period.start)
    weeks = build_grid(period, _grid_rows(filterset, period), freezes, today=today)
    release_items = _release_items_renderer()
    for week in weeks:
        for day in week:
            day.items = release_items(day.releases)
    context = {**_page_context(request, filterset, period, today), "weeks": weeks}
    if request.htmx and request.htmx.target == "calendar-grid":
        return render(request, f"{TEMPLATE}#calendar-grid", context)
    return render(request, TEMPLATE, context | _filter_options(request))


@require_GET
def calendar_day(request, day: str):
    """Every release of one day: the "+N more" of a grid cell, swapped in place or as its own page."""
    try:
        the_day = params.day(day, name="day", required=True)
    except DomainError:
        return _bad_request(request, f"“{day}” is not a day: use YYYY-MM-DD, e.g. 2030-01-07.")
    today = _user_today(request.user)
    filterset = _filterset(request)
    rows = list(filterset.qs.filter(target_date=the_day).order_by(*DAY_ORDER).values(*GRID_FIELDS))
    day_cell = Day(
        the_day,
        in_period=True,
        is_today=the_day == today,
        releases=rows,
        items=_release_items_renderer()(rows),
        total=len(rows),
    )
    if request.htmx:
        return render(request, f"{TEMPLATE}#day-releases", {"day": day_cell})
    period = period_from({"week": the_day.strftime("%G-W%V")}, today=today)
    context = {
        **_page_context(request, filterset, period, today),
        "day": day_cell,
        "view": "day",
        **_filter_options(request),
    }
    return render(request, TEMPLATE, context)


@login_not_required  # calendar apps cannot log in: the personal feed token authenticates instead
@require_GET
def calendar_feed(request):
    return feed_response(request, user=_feed_owner(request.GET.get("token", "")), filters=request.GET)


def feed_response(request, *, user, filters, name: str = "Flightdeck releases") -> HttpResponse:
    """The ICS feed of the releases and freezes that `filters` (a QueryDict of ReleaseFilter's
    parameters) select, around today in `user`'s time zone: the personal feed and each saved view's."""
    today = _user_today(user)
    start, end = today - timedelta(days=FEED_DAYS_BACK), today + timedelta(days=FEED_DAYS_AHEAD)
    filterset = ReleaseFilter(filters, queryset=Release.objects.all())
    releases = list(_feed_rows(filterset.qs.filter(target_date__gte=start, target_date__lt=end), today))
    truncated = len(releases) > FEED_MAX_RELEASES
    occurrences = [
        (window.pk, days, window.starts_at)
        for window in _relevant_freezes(filterset, start, end)
        for days in _occurrences(window, start, end)
    ]
    calendar = ics.feed_calendar(
        releases=releases[:FEED_MAX_RELEASES],
        note=TRUNCATED_NOTE if truncated else "",
        freezes=occurrences,
        instance=settings.INSTANCE_NAME,
        release_url=lambda pk: request.build_absolute_uri(reverse("releases:detail", args=[pk])),
        status_labels=dict(Release.Status.choices),
        name=name,
    )
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="flightdeck-releases.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


# --- reads ------------------------------------------------------------------------------------------


def _feed_owner(token: str):
    """The active user whose feed token this is; a missing, unknown or rotated token is a 404."""
    user = get_user_model().objects.filter(feed_token=token, is_active=True).first() if token else None
    if user is None:
        raise Http404("No calendar feed at this address.")
    return user


def _feed_rows(releases, today: date):
    """Upcoming releases soonest first, then past ones most recent first; one more than the cap,
    to tell whether the feed was cut."""
    upcoming = Q(target_date__gte=today)
    return releases.order_by(
        Case(When(upcoming, then=Value(0)), default=Value(1)),
        Case(When(upcoming, then=F("target_date"))).asc(),
        F("target_date").desc(),
        "id",
    ).values(*FEED_FIELDS)[: FEED_MAX_RELEASES + 1]


def _filterset(request) -> ReleaseFilter:
    filterset = ReleaseFilter(request.GET, queryset=Release.objects.all())
    fields = filterset.form.fields
    fields["status"].widget = CheckboxSelectMultiple(choices=Release.Status.choices)
    fields["gate_state"].empty_label = "Any"
    fields["gate_state"].choices = GateState.CHOICES  # rebinds the options to this form's field
    return filterset


def _grid_rows(filterset: ReleaseFilter, period: Period):
    """The period's releases, each day cut to its first few, with the day's counts: one query."""
    cap = {"month": 4, "week": 25}[period.kind]
    by_day = {"partition_by": F("target_date")}
    return (
        filterset.qs.targeting(period.start, period.end)
        .annotate(
            day_rank=Window(RowNumber(), order_by=DAY_ORDER, **by_day),
            day_total=Window(Count("id"), **by_day),
            day_at_risk=Window(Count("id", filter=delivery_state_q("at_risk")), **by_day),
            day_blocked=Window(Count("id", filter=delivery_state_q("blocked")), **by_day),
        )
        .filter(day_rank__lte=cap)
        .order_by("target_date", *DAY_ORDER)
        .values(*GRID_FIELDS, "day_total", "day_at_risk", "day_blocked")
    )


def _release_items_renderer():
    """A function turning a day's rows into list items of links. The address pattern is reversed once
    for the whole page, and the markup built with html.escape (Django's escape() wraps every call for
    lazy strings; with format_html that was a fifth of a peak month's time, and the template engine's
    per-variable cost most of the rest)."""
    labels = dict(Release.Status.choices)
    url = reverse("releases:detail", kwargs={"pk": URL_PLACEHOLDER}).replace(URL_PLACEHOLDER, "{}")

    def render(rows) -> str:
        items = "".join(_release_item(row, labels, url) for row in rows)
        return mark_safe(items)  # noqa: S308 (every value in them went through escape())

    return render


def _release_item(row: dict, labels: dict, url: str) -> str:
    title = f"{row['application__name']} {row['version']} · {labels[row['status']]}"
    if row["summary"]:
        title += f" · {row['summary']}"
    state = delivery_state(row["status"], row["forecast_state"])
    risk = STATE_BADGES.get(state, "")
    if state is ForecastState.BLOCKED and row["forecast_blocked_reason"]:
        title += f" · blocked: {row['forecast_blocked_reason']}"
    elif row["forecast_p85"]:
        title += f" · {odds_words(row['forecast_on_time'])} by target, P85 {row['forecast_p85']:%-d %b}"
    return (
        f'<li><a class="cal-release status-{escape(row["status"])}" href="{url.format(row["id"])}" '
        f'title="{escape(title)}"><span class="cal-key">{escape(row["application__key"])}</span> '
        f'<span class="cal-version">{escape(row["version"])}</span>{risk}</a></li>'
    )


def _filter_options(request) -> dict:
    """The portfolio, application and train selects, and the user's saved views of the calendar, read
    in ONE query (a UNION of plain rows: no model instance or widget template per option). Programmes
    follow their portfolio."""
    text = CharField()
    saved_views = saved_view_selectors.nav_rows(request.user, SavedView.Page.CALENDAR).values_list(
        Value("saved_view", text), "id", "name", "query", "owner_id"
    )
    portfolios = Portfolio.objects.order_by().values_list(
        Value("portfolio", text), "id", "name", Coalesce("parent__name", "name"), "parent_id"
    )
    applications = Application.objects.order_by().values_list(
        Value("application", text), "id", Concat("name", Value(" ("), "key", Value(")")), "name", "id"
    )
    trains = ReleaseTrain.objects.order_by().values_list(
        Value("train", text), "id", "name", Cast("starts_on", text), "id"
    )
    options, saved = defaultdict(list), []
    for kind, pk, label, sort_key, parent in portfolios.union(applications, trains, saved_views, all=True):
        if kind == "saved_view":
            saved.append(saved_view_selectors.nav_row(pk, label, sort_key, parent, user=request.user))
            continue
        programme = kind == "portfolio" and parent is not None
        options[kind].append(((sort_key, programme, label), pk, f"— {label}" if programme else label))
    labels = {"portfolio": "Portfolio", "application": "Application", "train": "Release train"}
    selects = [
        {
            "name": name,
            "label": label,
            "options": _options_html(sorted(options[name]), chosen=request.GET.get(name)),
        }
        for name, label in labels.items()
    ]
    return {"filter_selects": selects, "saved_views": saved_view_selectors.nav_sorted(saved)}


def _options_html(options, *, chosen: str | None) -> str:
    """<option>s rendered in one pass, escaped like the release items (the template engine spent a
    tenth of the page on them). `pk` is an integer from the database."""
    html = "".join(
        f'<option value="{pk}"{" selected" if str(pk) == chosen else ""}>{escape(text)}</option>'
        for _, pk, text in options
    )
    return mark_safe(html)  # noqa: S308 (the only text in it went through escape())


def _relevant_freezes(filterset: ReleaseFilter, start: date, end: date):
    """Filtered to a portfolio (or an application): the global freezes, plus those of that portfolio,
    all its ancestors and all its programmes. Unfiltered ("All"): the global freezes and every
    portfolio's, each named with its portfolio (_occurrences). One query either way. A recurring
    freeze may have started long before the period, so it is always read."""
    if portfolio := _filtered_portfolio_id(filterset):
        windows = FreezeWindow.objects.in_scope(
            portfolio_ids=Portfolio.objects.family(portfolio).values("pk")
        )
    else:
        windows = FreezeWindow.objects.filter(
            scope__in=[FreezeWindow.Scope.GLOBAL, FreezeWindow.Scope.PORTFOLIO]
        )
    return windows.may_overlap(_midnight(start), _midnight(end)).select_related("portfolio")


def _filtered_portfolio_id(filterset: ReleaseFilter) -> int | None:
    data = _cleaned(filterset)
    if data.get("portfolio"):
        return data["portfolio"].pk
    if data.get("application"):
        return data["application"].portfolio_id
    return None


def _cleaned(filterset: ReleaseFilter) -> dict:
    """The filter values that were understood (validation runs once; invalid values are absent)."""
    filterset.is_valid()
    return filterset.form.cleaned_data


def _freeze_occurrences(windows, start: date) -> list[FreezeDays]:
    return [days for window in windows for days in _occurrences(window, start, None)]


def _occurrences(window: FreezeWindow, start: date, end: date | None) -> list[FreezeDays]:
    reason = f"{window.portfolio.name} freeze: {window.reason}" if window.portfolio else window.reason
    return [
        FreezeDays(first, day_after, reason)
        for first, day_after in frozen_days(window, start=None, end=horizon_from(start))
        if day_after > start and (end is None or first < end)
    ]


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time()))


def _user_today(user) -> date:
    return timezone.localdate(timezone=ZoneInfo(user.time_zone))


# --- presentation -----------------------------------------------------------------------------------


def _page_context(request, filterset: ReleaseFilter, period: Period, today: date) -> dict:
    filters = request.GET.copy()
    for name in PERIOD_PARAMS:
        filters.pop(name, None)
    filter_query = filters.urlencode()

    def link(target: Period) -> str:
        name, value = target.param
        return f"?{name}={value}" + (f"&{filter_query}" if filter_query else "")

    today_period = period_from({"view": period.kind}, today=today)
    return {
        "period": period,
        "filterset": filterset,
        "notices": _ignored_filters(request, filterset),
        "and_filters": f"&{filter_query}" if filter_query else "",
        "query_filters": f"?{filter_query}" if filter_query else "",
        # A day's address is this prefix and the ISO date (one reverse() for every cell).
        "day_url": reverse("calendar:day", kwargs={"day": "0"})[:-2],
        "links": {
            "previous": link(period.previous()),
            "next": link(period.following()),
            "today": link(today_period),
            "month": link(period.as_month()),
            "week": link(period.as_week(today)),
        },
        "feed_url": request.build_absolute_uri(reverse("calendar:ics"))
        + f"?token={request.user.feed_token}"
        + (f"&{filter_query}" if filter_query else ""),
        "statuses": Release.Status.choices,
        "at_risk_only": _cleaned(filterset).get("at_risk") is True,
    }


def _ignored_filters(request, filterset: ReleaseFilter) -> list[str]:
    """Filter values that name nothing (a deleted portfolio, a typo in a bookmark) are dropped."""
    fields = filterset.form.fields
    return [
        f"{fields[name].label}: “{', '.join(request.GET.getlist(name))}” matches nothing, so it is ignored."
        for name in filterset.errors
    ]


def _bad_request(request, message: str) -> HttpResponse:
    return render(request, TEMPLATE, {"error": message, "view": "error"}, status=400)
