"""Reads of saved views: the ones a person may open (theirs and those shared with their groups), the
short list the calendar and the release list show, the saved views page, and a feed's view by token.
Each reads a fixed number of queries whatever the number of views and groups."""

from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, Q, QuerySet

from releases.models import SavedView
from releases.planning.services.saved_views import TOKEN_MAX_LENGTH, sharable_groups, token_hash


def visible_to(user) -> QuerySet[SavedView]:
    """The views `user` may open: their own, and those of active people shared with a group they are
    in. An Exists (not a join) so a view shared with two of their groups comes once, without DISTINCT."""
    shared = SavedView.shared_with.through.objects.filter(savedview_id=OuterRef("pk"), group__user=user)
    return SavedView.objects.filter(Q(owner=user) | Q(Exists(shared), owner__is_active=True))


def nav_rows(user, page: str) -> QuerySet[SavedView]:
    """The views of one page (calendar or list) the user may open, unordered: the calendar reads them
    in the UNION of its filter options, the list with nav_views."""
    return visible_to(user).filter(page=page).order_by()


def nav_row(pk: int, name: str, query: str, owner_id: int, *, user) -> dict:
    """One entry of a page's short list of saved views (templates/releases/saved_views_nav.html)."""
    return {"pk": pk, "name": name, "query": query, "mine": owner_id == user.pk}


def nav_sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: (row["name"], row["pk"]))


def nav_views(user, page: str) -> list[dict]:
    """The short list of one page's saved views: one query."""
    rows = nav_rows(user, page).values_list("pk", "name", "query", "owner_id")
    return nav_sorted([nav_row(*row, user=user) for row in rows])


def nav_lazy(user, page: str):
    """nav_views as a callable the template calls only when it draws the short list, so the pages'
    HTMX partials (which do not draw it) do not read it."""
    return lambda: nav_views(user, page)


@dataclass
class SavedViewsPage:
    mine: list[SavedView]
    shared: list[SavedView]
    groups: list[Group]


def saved_views_page(user) -> SavedViewsPage:
    """My views with the groups each is shared with, the views others share with my groups (with their
    owner), and the groups I may share with: four queries."""
    mine = list(SavedView.objects.filter(owner=user).prefetch_related("shared_with").order_by("name", "pk"))
    shared = list(
        visible_to(user).exclude(owner=user).select_related("owner").order_by("name", "owner__username", "pk")
    )
    return SavedViewsPage(mine=mine, shared=shared, groups=list(sharable_groups(user)))


def feed_view(token: str) -> SavedView | None:
    """The view whose live feed token this is, its owner active; None for anything else (unknown,
    rotated, revoked, its owner deactivated)."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    return (
        SavedView.objects.select_related("owner")
        .filter(feed_token_hash=token_hash(token), feed_revoked_at__isnull=True, owner__is_active=True)
        .first()
    )
