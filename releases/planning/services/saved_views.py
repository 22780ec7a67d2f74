"""Writes on saved views: a filtered calendar or release list kept under a name, shared with groups,
each with its own ICS feed token.

The feed token is a secret in the subscription address (calendar apps cannot log in). Like the API
tokens, only its SHA-256 is stored, so the address is shown once, when the token is made (create and
rotate). Rotating makes a new token and kills the old one; revoking kills the token and makes none.
Each view's token is its own, so neither touches the owner's other views nor their personal feed.

Sharing: a view is shared with Django groups (roles). Its owner may share it with the groups they
belong to; people who manage users' roles (the `portal.change_user` permission: admins, superusers)
may share with any group. A member of a group the view is shared with sees it on their saved views
page and opens it; taking them out of the group (or the group off the view) takes it away. The feed
token stays the owner's secret: members subscribe to the view's filter through their own personal
feed, which the owner's rotation or revocation does not affect.
"""

import hashlib
import secrets

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone
from django_filters import MultipleChoiceFilter

from releases.audit import audit_record
from releases.errors import Conflict, DomainError, NotFound
from releases.models import Release, SavedView
from releases.models.saved_view import NAME_MAX_LENGTH, QUERY_MAX_LENGTH
from releases.planning.filters import ReleaseFilter

SHARE_ANY_GROUP_PERMISSION = "portal.change_user"
TOKEN_BYTES = 32
TOKEN_MAX_LENGTH = 100  # token_urlsafe(32) is 43 characters; anything much longer is not ours


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def query_normalise(query: str) -> str:
    """The filter query string as a saved view keeps it: only ReleaseFilter's parameters (the period,
    the page, the sort order and anything else are dropped), no empty values, in the filter's own order
    (statuses sorted, once each), every value valid; a value the filter reads as "no filter" is dropped
    too. Refuses with a DomainError on `query` that names
    the values that do not filter anything (a deleted portfolio, a malformed date, a NUL byte)."""
    if len(query) > 2 * QUERY_MAX_LENGTH:
        raise DomainError("These filters are too long to save.", field="query")
    data = QueryDict(query)
    kept = QueryDict(mutable=True)
    for name, release_filter in ReleaseFilter.base_filters.items():
        values = [value for value in data.getlist(name) if value.strip()]
        if not values:
            continue
        if isinstance(release_filter, MultipleChoiceFilter):
            kept.setlist(name, sorted(set(values)))
        else:
            kept[name] = values[-1]  # a form field reads the last of repeated values
    filterset = ReleaseFilter(kept, queryset=Release.objects.none())
    if not filterset.is_valid():
        fields = filterset.form.fields
        problems = "; ".join(
            f"{fields[name].label} “{', '.join(kept.getlist(name))}”: {' '.join(messages)}"
            for name, messages in filterset.errors.items()
        )
        raise DomainError(f"These filters cannot be saved: {problems}", field="query")
    for name, value in filterset.form.cleaned_data.items():
        if value in (None, "", []) and name in kept:  # read as no filter at all (at_risk=maybe)
            del kept[name]
    normalised = kept.urlencode()
    if len(normalised) > QUERY_MAX_LENGTH:
        raise DomainError("These filters are too long to save.", field="query")
    return normalised


def sharable_groups(user) -> QuerySet[Group]:
    """The groups `user` may share a view with (see the module's docstring)."""
    if user.has_perm(SHARE_ANY_GROUP_PERMISSION):
        return Group.objects.order_by("name")
    return Group.objects.filter(user=user).order_by("name")


def _snapshot(view: SavedView, shared_with_ids: list[int] | None = None) -> dict:
    """What the audit trail keeps of a view: never its token, nor the token's hash."""
    if shared_with_ids is None:
        shared_with_ids = sorted(view.shared_with.values_list("pk", flat=True))
    return {
        "owner_id": view.owner_id,
        "name": view.name,
        "page": view.page,
        "query": view.query,
        "shared_with": shared_with_ids,
        "feed_revoked_at": view.feed_revoked_at.isoformat() if view.feed_revoked_at else None,
    }


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the view a name.", field="name")
    if len(name) > NAME_MAX_LENGTH or "\x00" in name:
        raise DomainError(f"A view's name is at most {NAME_MAX_LENGTH} characters of text.", field="name")
    return name


def _check_groups(owner, groups) -> list[Group]:
    groups = list(groups)
    allowed = set(sharable_groups(owner).filter(pk__in=[g.pk for g in groups]).values_list("pk", flat=True))
    if refused := [g.name for g in groups if g.pk not in allowed]:
        raise DomainError(
            f"You can share a view only with groups you belong to, not with {', '.join(sorted(refused))}.",
            field="shared_with",
        )
    return groups


def _check_owner(view: SavedView, by) -> SavedView:
    """The view locked for the change; only its owner changes it (anyone else is told it is not there)."""
    locked = SavedView.objects.select_for_update().filter(pk=view.pk).first()
    if locked is None or locked.owner_id != by.pk:
        raise NotFound("There is no such saved view of yours.")
    return locked


def _name_taken(owner_id: int, name: str, *, exclude_pk: int | None = None) -> bool:
    return SavedView.objects.filter(owner_id=owner_id, name=name).exclude(pk=exclude_pk).exists()


def _taken(name: str) -> Conflict:
    return Conflict(f"You already have a view called “{name}”: choose another name.", field="name")


@transaction.atomic
def saved_view_create(*, owner, name: str, page: str, query: str, shared_with=()) -> tuple[SavedView, str]:
    """A new saved view of `owner`; returns it and its feed token (the only time the token exists)."""
    name = _clean_name(name)
    if page not in SavedView.Page.values:
        raise DomainError("A view is of the calendar or of the release list.", field="page")
    query = query_normalise(query)
    groups = _check_groups(owner, shared_with)
    if _name_taken(owner.pk, name):
        raise _taken(name)
    token, hashed = _new_token()
    view = SavedView(owner=owner, name=name, page=page, query=query, feed_token_hash=hashed)
    try:
        with transaction.atomic():  # a concurrent create of the same name loses here, not with a 500
            view.save(force_insert=True)
    except IntegrityError:
        raise _taken(name) from None
    view.shared_with.set(groups)
    audit_record(
        actor=owner, action="savedview.create", obj=view, after=_snapshot(view, sorted(g.pk for g in groups))
    )
    return view, token


@transaction.atomic
def saved_view_update(*, view: SavedView, by, name: str | None = None, shared_with=None) -> SavedView:
    """Rename the view and/or set the groups it is shared with (None leaves either as it is)."""
    view = _check_owner(view, by)
    before = _snapshot(view)
    if name is not None:
        name = _clean_name(name)
        if name != view.name and _name_taken(view.owner_id, name, exclude_pk=view.pk):
            raise _taken(name)
        view.name = name
    groups_ids = before["shared_with"]
    if shared_with is not None:
        groups = _check_groups(by, shared_with)
        groups_ids = sorted(g.pk for g in groups)
    after = _snapshot(view, groups_ids)
    if after == before:
        return view
    try:
        with transaction.atomic():
            view.save(update_fields=["name"])
    except IntegrityError:
        raise _taken(view.name) from None
    if shared_with is not None:
        view.shared_with.set(groups)
    audit_record(actor=by, action="savedview.update", obj=view, before=before, after=after)
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, by) -> None:
    """Delete the view; its feed stops with it, and the groups no longer see it."""
    view = _check_owner(view, by)
    before, pk = _snapshot(view), view.pk
    view.delete()
    audit_record(
        actor=by,
        action="savedview.delete",
        object_type=SavedView._meta.label_lower,
        object_id=str(pk),
        before=before,
        after={},
    )


@transaction.atomic
def saved_view_feed_rotate(*, view: SavedView, by) -> tuple[SavedView, str]:
    """A new feed token for the view (also for a revoked feed: it comes back at a new address); the old
    address is dead at once. Returns the view and the new token (the only time it exists)."""
    view = _check_owner(view, by)
    before = _snapshot(view)
    token, view.feed_token_hash = _new_token()
    view.feed_revoked_at = None
    view.save(update_fields=["feed_token_hash", "feed_revoked_at"])
    after = before | {"feed_revoked_at": None, "feed_token": "rotated"}
    audit_record(actor=by, action="savedview.feed_rotate", obj=view, before=before, after=after)
    return view, token


@transaction.atomic
def saved_view_feed_revoke(*, view: SavedView, by) -> SavedView:
    """Kill the view's feed address; revoking a revoked feed changes nothing. Rotate to get a new one."""
    view = _check_owner(view, by)
    if view.feed_revoked_at is not None:
        return view
    before = _snapshot(view)
    view.feed_revoked_at = timezone.now()
    view.save(update_fields=["feed_revoked_at"])
    audit_record(actor=by, action="savedview.feed_revoke", obj=view, before=before, after=_snapshot(view))
    return view
