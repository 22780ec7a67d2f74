"""The inbox: one's own notices, newest first; mark one or all read (POST, CSRF). Everyone signed in
has an inbox; nobody sees another's (their notices answer 404)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from releases import params
from releases.lists import paginate, render_list
from releases.notifications.selectors import inbox_rows, unread_count
from releases.notifications.services import inbox as inbox_services

TEMPLATE = "notifications/inbox.html"
PARTIAL = "inbox"


@require_GET
def notification_list(request):
    return _inbox(request, unread_only=request.GET.get("unread") == "1")


@require_POST
def notification_read(request, pk: int):
    inbox_services.notification_read(
        user=request.user, notification_id=params.integer(pk, name="notification")
    )
    return _after_write(request)


@require_POST
def notifications_read_all(request):
    count = inbox_services.notifications_read_all(user=request.user)
    if not request.htmx:
        messages.success(request, f"{count} notification{'' if count == 1 else 's'} marked read.")
    return _after_write(request)


def _inbox(request, *, unread_only: bool):
    page = paginate(request, inbox_rows(user=request.user, unread_only=unread_only))
    context = {"page": page, "unread_only": unread_only, "unread": unread_count(user=request.user)}
    return render_list(request, TEMPLATE, PARTIAL, context)


def _after_write(request):
    """HTMX gets the inbox list back, swapped in place; a form post goes back to the inbox."""
    if request.htmx:
        return _inbox(request, unread_only=False)
    return redirect("notifications:list")
