"""The release calendar as an RFC 5545 feed (built with the icalendar library), from plain rows.

Each release is an all-day event on its TARGET date (the date people plan around; the forecast is in
the description). UIDs are stable (`release-<id>@<instance>`), so a calendar app updates an event in
place when its date moves. DTSTAMP is the row's last change, so an unchanged release reads the same.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta

from icalendar import Calendar, Event

from releases.planning.calendar import FreezeDays
from releases.planning.forecast import (
    NEEDS_ATTENTION,
    STATE_LABELS,
    ForecastState,
    delivery_state,
    odds_words,
)

PRODID = "-//Flightdeck//Release calendar//EN"


def feed_calendar(
    *,
    releases: Iterable[Mapping],
    freezes: Iterable[tuple[int, FreezeDays, object]],
    instance: str,
    release_url: Callable[[int], str],
    status_labels: Mapping[str, str],
    name: str = "Flightdeck releases",
    note: str = "",
) -> Calendar:
    """`releases`: rows with id, application__key, application__name, version, summary, status,
    target_date, forecast_date, forecast_slip_days, at_risk, forecast_state, forecast_blocked_reason,
    updated_at, and the odds (forecast_on_time, forecast_p50, _p85, _p95) when drawn. `freezes`: (freeze id,
    occurrence days, the freeze's last change) per occurrence."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    if note:
        calendar.add("x-wr-caldesc", note)
    for row in releases:
        calendar.add_component(_release_event(row, instance, release_url(row["id"]), status_labels))
    for freeze_id, days, stamp in freezes:
        calendar.add_component(_freeze_event(freeze_id, days, stamp, instance))
    return calendar


def _release_event(row: Mapping, instance: str, url: str, status_labels: Mapping[str, str]) -> Event:
    event = Event()
    event.add("uid", f"release-{row['id']}@{instance}")
    event.add("dtstamp", row["updated_at"])
    event.add("dtstart", row["target_date"])
    event.add("dtend", row["target_date"] + timedelta(days=1))
    event.add("summary", f"{row['application__key']} {row['version']}")
    event.add("description", _description(row, url, status_labels))
    event.add("url", url)
    state = _state(row)
    event.add("categories", [STATE_LABELS[state]] if state in NEEDS_ATTENTION else ["Release"])
    event.add("transp", "TRANSPARENT")  # a release day does not make anyone busy
    return event


def _description(row: Mapping, url: str, status_labels: Mapping[str, str]) -> str:
    lines = [f"{row['application__name']} {row['version']}"]
    if row["summary"]:
        lines.append(row["summary"])
    lines.append(f"Status: {status_labels.get(row['status'], row['status'])}")
    if row["forecast_date"]:
        slip = row["forecast_slip_days"]
        late = f" ({slip} days late)" if slip > 0 else ""
        lines.append(f"Forecast: {row['forecast_date']:%Y-%m-%d}{late}")
    if row.get("forecast_p85"):
        odds = f"{odds_words(row['forecast_on_time'])} by the target"
        lines.append(
            f"Odds: {odds}; P50 {row['forecast_p50']:%Y-%m-%d}, P85 {row['forecast_p85']:%Y-%m-%d}, "
            f"P95 {row['forecast_p95']:%Y-%m-%d}"
        )
    state = _state(row)
    if state is ForecastState.BLOCKED:
        reason = row.get("forecast_blocked_reason")
        lines.append(f"Blocked: {reason}" if reason else "Blocked")
    elif state is ForecastState.AT_RISK:
        lines.append("At risk")
    lines.append(url)
    return "\n".join(lines)


def _state(row: Mapping) -> ForecastState:
    """The delivery state (rows read before the state was stored fall back on the at-risk flag)."""
    if "forecast_state" in row:
        return delivery_state(row["status"], row["forecast_state"])
    return ForecastState.AT_RISK if row["at_risk"] else delivery_state(row["status"], "on_track")


def _freeze_event(freeze_id: int, days: FreezeDays, stamp, instance: str) -> Event:
    event = Event()
    event.add("uid", f"freeze-{freeze_id}-{days.first:%Y%m%d}@{instance}")
    event.add("dtstamp", stamp)
    event.add("dtstart", days.first)
    event.add("dtend", days.day_after)
    event.add("summary", f"Freeze: {days.reason}")
    event.add("categories", ["Freeze"])
    event.add("transp", "TRANSPARENT")
    return event
