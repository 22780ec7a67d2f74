"""Saved views: save the calendar's or the release list's filters under a name, list them, open,
rename, share, delete them, and each one's own ICS feed (rotate or revoke it without touching the
others). Only the owner changes a view; anyone else, shared or not, is told it is not there (404)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from releases.errors import DomainError, form_add_errors
from releases.models import SavedView
from releases.planning.filters import ReleaseFilter
from releases.planning.forms_saved_views import SavedViewCreateForm, SavedViewUpdateForm
from releases.planning.selectors import saved_views as saved_view_selectors
from releases.planning.services import saved_views as saved_view_services
from releases.planning.views import calendar

TEMPLATE = "releases/saved_views.html"
NAV_TEMPLATE = "releases/saved_views_nav.html"
PAGE_URLS = {SavedView.Page.CALENDAR: "calendar:month", SavedView.Page.LIST: "releases:list"}


def view_url(view: SavedView) -> str:
    """The page of a saved view, with its filters."""
    return reverse(PAGE_URLS[view.page]) + (f"?{view.query}" if view.query else "")


def feed_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("calendar:saved-view-ics", kwargs={"token": token}))


def personal_feed_url(request, view: SavedView) -> str:
    """A member's subscription to a view shared with them: their own personal feed, with its filters."""
    return (
        request.build_absolute_uri(reverse("calendar:ics"))
        + f"?token={request.user.feed_token}"
        + (f"&{view.query}" if view.query else "")
    )


@require_GET
def saved_view_list(request):
    return _page(request)


@never_cache  # the answer holds the feed's secret address
@require_POST
def saved_view_create(request):
    form = SavedViewCreateForm(request.POST)
    created = token = None
    if form.is_valid():
        try:
            created, token = saved_view_services.saved_view_create(
                owner=request.user,
                name=form.cleaned_data["name"],
                page=form.cleaned_data["page"],
                query=_posted_query(request, form.cleaned_data["query"]),
            )
        except DomainError as error:
            form_add_errors(form, error)
    status = 422 if form.errors else 200
    if request.htmx:
        page = form.cleaned_data.get("page") or request.POST.get("page", "")
        if page not in SavedView.Page.values:
            page = SavedView.Page.LIST
        context = {
            "saved_page": page,
            "saved_views": saved_view_selectors.nav_views(request.user, page),
            "save_form": form,
            "created": created,
            "created_url": view_url(created) if created else "",
            "new_feed_url": feed_url(request, token) if token else "",
            "query": form.cleaned_data.get("query", ""),  # absent when refused (a megabyte is not echoed)
        }
        return render(request, NAV_TEMPLATE, context, status=status)
    if created:
        return _page(request, created=created, new_feed_url=feed_url(request, token))
    return _page(request, create_form=form, status=status)


@require_GET
def saved_view_open(request, pk: int):
    """A saved view's page with its filters: for its owner and the members of the groups it is shared
    with (anyone else, or a member taken out of the group, gets a 404)."""
    view = get_object_or_404(saved_view_selectors.visible_to(request.user), pk=pk)
    return redirect(view_url(view))


@require_POST
def saved_view_update(request, pk: int):
    view = _own_view(request, pk)
    form = SavedViewUpdateForm(request.POST, groups=saved_view_services.sharable_groups(request.user))
    if form.is_valid():
        try:
            saved_view_services.saved_view_update(
                view=view,
                by=request.user,
                name=form.cleaned_data["name"],
                shared_with=form.cleaned_data["shared_with"],
            )
        except DomainError as error:
            form_add_errors(form, error)
    if form.errors:
        return _page(request, edit_forms={view.pk: form}, status=422)
    messages.success(request, f"View “{form.cleaned_data['name'].strip()}” saved.")
    return redirect("releases:saved-views")


@require_POST
def saved_view_delete(request, pk: int):
    view = _own_view(request, pk)
    saved_view_services.saved_view_delete(view=view, by=request.user)
    messages.success(request, f"View “{view.name}” deleted: its feed no longer works.")
    return redirect("releases:saved-views")


@never_cache  # the answer holds the feed's new secret address
@require_POST
def saved_view_feed_rotate(request, pk: int):
    view, token = saved_view_services.saved_view_feed_rotate(view=_own_view(request, pk), by=request.user)
    return _page(request, rotated=view, new_feed_url=feed_url(request, token))


@require_POST
def saved_view_feed_revoke(request, pk: int):
    view = saved_view_services.saved_view_feed_revoke(view=_own_view(request, pk), by=request.user)
    messages.success(
        request, f"The feed of “{view.name}” is revoked: calendars subscribed to it get nothing from now on."
    )
    return redirect("releases:saved-views")


@login_not_required  # calendar apps cannot log in: the view's own feed token authenticates instead
@require_GET
def saved_view_feed(request, token: str):
    view = saved_view_selectors.feed_view(token)
    if view is None:
        raise Http404("No calendar feed at this address.")
    return calendar.feed_response(
        request, user=view.owner, filters=QueryDict(view.query), name=f"Flightdeck: {view.name}"
    )


# --- helpers ----------------------------------------------------------------------------------------


def _own_view(request, pk: int) -> SavedView:
    return get_object_or_404(SavedView, pk=pk, owner=request.user)


def _posted_query(request, query: str) -> str:
    """The filters to save: the page's filter form when HTMX sent it along (it holds what the page shows
    now, after in-place filtering), else the query string the page was loaded with."""
    sent = QueryDict(mutable=True)
    for name in ReleaseFilter.base_filters:
        if name in request.POST:
            sent.setlist(name, request.POST.getlist(name))
    return sent.urlencode() if sent else query


def _page(request, *, status: int = 200, create_form=None, edit_forms=None, **extra):
    data = saved_view_selectors.saved_views_page(request.user)
    edit_forms = edit_forms or {}
    mine = [
        {
            "view": view,
            "url": view_url(view),
            "shared_with": view.shared_with.all(),  # prefetched
            "shared_ids": {group.pk for group in view.shared_with.all()},
            "errors": edit_forms[view.pk].errors if view.pk in edit_forms else None,
        }
        for view in data.mine
    ]
    shared = [
        {"view": view, "url": view_url(view), "personal_feed_url": personal_feed_url(request, view)}
        for view in data.shared
    ]
    context = {"mine": mine, "shared": shared, "groups": data.groups, "create_form": create_form, **extra}
    return render(request, TEMPLATE, context, status=status)
