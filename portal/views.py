from datetime import timedelta
from functools import partial

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import broker_status, database_status
from portal.models import WorkerHeartbeat
from releases.querysets import week_summary

# Beat sends a heartbeat every 30 s; after this long without one the worker is shown as down.
WORKER_SILENCE_LIMIT = timedelta(minutes=2)


@require_GET
def dashboard_detail(request):
    """The home page: this week's numbers and whether the background worker is alive."""
    today = timezone.localdate()
    week_start = today - timedelta(days=today.weekday())
    heartbeat = WorkerHeartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    context = {
        "week_start": week_start,
        "summary": week_summary(week_start=week_start, today=today),
        "heartbeat": heartbeat,
        "worker_alive": heartbeat is not None and timezone.now() - heartbeat < WORKER_SILENCE_LIMIT,
    }
    return render(request, "portal/home.html", context)


@require_GET
def section_coming_soon(request, title: str, summary: str):
    """A section that is planned but not built yet says so, and what it will do."""
    return render(request, "portal/coming_soon.html", {"title": title, "summary": summary})


def soon_page(title: str, summary: str):
    """The view of a section that is planned but not built yet (login is still required)."""
    return partial(section_coming_soon, title=title, summary=summary)


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
