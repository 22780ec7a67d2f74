"""Slip alerts: a release's forecast moved past its target (by its own facts, or because an upstream
release slipped and moved it), and its owner hears once per change, with what moved it.

`slips_claim` runs inside forecast_refresh, which knows each open release's stored forecast before
the refresh and the new one. A release's `slip_alerted_date` keeps the late date last alerted: a
refresh that finds the same slip (or a smaller one) sends nothing, a later date alerts again, and a
forecast back on target clears it (the next slip alerts). Each alert is claimed by a conditional
UPDATE (the stored value must still be the one read), so overlapping refreshes do not both alert.
The messages are sent by the worker (slip_alerts_notify_task), queued after the commit.
"""

from datetime import date

from django.db import transaction
from django.db.models import Q

from releases.models import Release
from releases.notifications.services.chat import chat_announce
from releases.notifications.services.delivery import Kind, Notice, deliver, release_url
from releases.planning.forecast import Forecast


def slips_claim(rows: dict[int, dict], forecasts: dict[int, Forecast], *, notify: bool = True) -> list[dict]:
    """Claim the alerts of the releases in `rows` (their columns before the refresh, with
    `slip_alerted_date`) whose new forecast is later than their target and than what was alerted;
    queue them after the commit (unless `notify` is False: then they are only recorded). Returns the
    alerts (JSON-safe dicts)."""
    alerts, back_on_time = [], []
    for rid, row in rows.items():
        forecast = forecasts.get(rid)
        new, alerted, target = (
            (forecast.ship_date if forecast else None),
            row["slip_alerted_date"],
            row["target_date"],
        )
        if new is None:
            continue  # blocked: no date to compare (the block itself is told by its own notice)
        if new <= target:
            if alerted is not None:
                back_on_time.append(rid)
            continue
        if alerted is not None and new == alerted:
            continue
        claimed = (
            Release.objects.filter(pk=rid)
            .filter(Q(slip_alerted_date__isnull=True) if alerted is None else Q(slip_alerted_date=alerted))
            .update(slip_alerted_date=new)
        )
        if claimed and (alerted is None or new > alerted):  # an earlier, still late date: quietly kept
            alerts.append(_alert(rid, row, forecast))
    if back_on_time:
        Release.objects.filter(pk__in=back_on_time).update(slip_alerted_date=None)
    if alerts and notify:
        from releases import tasks  # releases.tasks imports the forecast, which imports this module

        transaction.on_commit(lambda: tasks.slip_alerts_notify_task.delay(alerts=alerts))
    return alerts


def _alert(rid: int, row: dict, forecast: Forecast) -> dict:
    was = row.get("forecast_date")
    return {
        "release_id": rid,
        "release": f"{row['application__key']} {row['version']}",
        "target": row["target_date"].isoformat(),
        "forecast": forecast.ship_date.isoformat(),
        "was": was.isoformat() if was else None,
        "because": _cause(forecast),
    }


def _cause(forecast: Forecast) -> str:
    """The hold that sets the date (the last one to clear), in words: "waits for LED 4.1 to ship
    first"; an upstream hold wins a tie, since it is the one that moved with another release."""
    holds = [h for h in forecast.waiting_for if h.until == forecast.ship_date] or list(forecast.waiting_for)
    if not holds:
        return ""
    hold = next((h for h in holds if h.kind == "upstream"), holds[0])
    text = hold.text
    return text[:1].lower() + text[1:]


def slip_alerts_notify(*, alerts: list[dict]) -> int:
    """Tell each alerted release's owner: "PAY 4.2.0 now forecast 2026-12-14, 5 days after its
    target: waits for LED 4.1 to ship first". One message per alert; returns the messages sent."""
    owners = dict(
        Release.objects.filter(
            pk__in=[a["release_id"] for a in alerts], owner__is_active=True, owner__isnull=False
        )
        .exclude(owner__email="")
        .values_list("pk", "owner_id")
    )
    emails = dict(Release.objects.filter(pk__in=owners).values_list("owner_id", "owner__email").distinct())
    notices = []
    for alert in alerts:
        owner_id = owners.get(alert["release_id"])
        if owner_id is None:
            continue
        subject, body = slip_words(alert)
        notices.append(Notice(owner_id, emails[owner_id], Kind.SLIP, subject, body))
    sent = deliver(notices)
    for alert in alerts:  # the channels hear of every slip, owned or not
        chat_announce(
            kind=Kind.SLIP, text=slip_words(alert)[1].split("\n\n")[0], link=release_url(alert["release_id"])
        )
    return sent


def slip_words(alert: dict) -> tuple[str, str]:
    forecast, target = date.fromisoformat(alert["forecast"]), date.fromisoformat(alert["target"])
    late = (forecast - target).days
    subject = f"{alert['release']} now forecast {forecast:%Y-%m-%d}, {_days(late)} after its target"
    lines = [subject + (f": {alert['because']}" if alert["because"] else "") + "."]
    if alert["was"]:
        moved = (forecast - date.fromisoformat(alert["was"])).days
        lines.append(f"It was forecast {alert['was']}: {_days(moved)} later now.")
    lines.append(f"Its target is {target:%Y-%m-%d}.")
    body = "\n".join(lines) + f"\n\nOpen the release: {release_url(alert['release_id'])}\n"
    return subject, body


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"
