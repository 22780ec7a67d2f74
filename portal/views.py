from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import follows
from portal.attention import (
    CANDIDATES,
    SHOWN,
    SHOWN_MORE,
    WHY_THIS_ORDER,
    WORKER_SILENCE_LIMIT,
    my_queue,
    needs_attention,
)
from portal.health import broker_status, database_status
from portal.models import WorkerHeartbeat
from releases.environments.services import bookings as booking_services
from releases.models import Release
from releases.querysets import week_summary


@require_GET
def dashboard_detail(request):
    """The home page: what needs attention (ranked), my queue, this week's numbers, the worker."""
    user = request.user
    now = timezone.now()
    today = timezone.localdate(timezone=ZoneInfo(user.time_zone or "UTC"))
    week_start = today - timedelta(days=today.weekday())
    more = request.GET.get("more") == "1"
    queue_url = (
        reverse("environments:queue")
        if user.has_perm(booking_services.DECIDE_PERMISSION)
        else reverse("environments:board")
    )
    attention = needs_attention(user, today=today, now=now, queue_url=queue_url)
    shown = SHOWN_MORE if more else SHOWN
    context = {
        "attention": attention["items"][:shown],
        "attention_total": len(attention["items"]),
        "attention_hidden": max(min(len(attention["items"]), SHOWN_MORE) - shown, 0),
        "more": more,
        "scope": attention["scope"],
        "why_this_order": WHY_THIS_ORDER,
        "candidates": CANDIDATES,
    }
    if request.htmx and request.htmx.target == "attention-list":
        return render(request, "portal/home.html#attention-list", context)
    heartbeat = WorkerHeartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    context |= {
        "week_start": week_start,
        "summary": week_summary(week_start=week_start, today=today, now=now),
        "links": home_links(week_start),
        "queue_url": queue_url,
        "heartbeat": heartbeat,
        "worker_alive": heartbeat is not None and now - heartbeat < WORKER_SILENCE_LIMIT,
        "queue": my_queue(user, now=now),
        **follows.follow_context(user),
    }
    return render(request, "portal/home.html", context)


def home_links(week_start) -> dict:
    """Where each of Home's numbers goes: a page that lists exactly what the number counts."""
    open_statuses = "".join(
        f"&status={status}" for status in Release.Status.values if status not in Release.CLOSED_STATUSES
    )
    return {
        "week": f"{reverse('calendar:month')}?week={week_start:%G-W%V}{open_statuses}",
        "overdue_gates": f"{reverse('gates:queue')}?show=pending&overdue=true",
        "blocked": f"{reverse('releases:list')}?state=blocked&when=",
        "at_risk": f"{reverse('releases:list')}?state=at_risk&when=",
    }


@login_not_required
@never_cache
@require_GET
def health_check(request):
    database, broker = database_status(), broker_status()
    heartbeat = None
    if database["ok"]:
        seen = WorkerHeartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
        heartbeat = seen.isoformat() if seen else None
    ok = database["ok"] and broker["ok"]
    body = {
        "status": "ok" if ok else "unavailable",
        "database": database,
        "broker": broker,
        "worker_heartbeat": heartbeat,
    }
    return JsonResponse(body, status=200 if ok else 503)
