"""The signed-in user's profile: who they are, their time zone, their personal calendar feed, and
their API tokens for the pipeline API."""

import functools

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal import api_tokens as api_token_services
from portal.models import ApiToken, User, new_feed_token
from portal.roles import role_of
from releases.audit import audit_record
from releases.notifications.forms import NotificationPreferencesForm
from releases.notifications.services.preferences import (
    notification_preferences,
    notification_preferences_save,
)

REGIONS = ("Africa", "America", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
OTHER = "Other"


@functools.cache
def _zones_by_region() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Every zone the profile accepts (User.time_zone's choices), grouped by its region and labelled
    without it ("America/Argentina/Buenos_Aires" is "Argentina/Buenos Aires" under America); aliases
    and the like ("US/Eastern", "Etc/GMT+5") under Other with their full names. Built once."""
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in (*REGIONS, OTHER)}
    for name, _ in User._meta.get_field("time_zone").choices:
        region, _, place = name.partition("/")
        if region in REGIONS and place:
            groups[region].append((name, place.replace("_", " ")))
        else:
            groups[OTHER].append((name, name))
    return tuple((region, tuple(zones)) for region, zones in groups.items() if zones)


def time_zone_choices(current: str) -> list:
    """The select's optgroups: the user's current zone and UTC first, then each region's zones (the
    first two not repeated, so the select has one option per value)."""
    first = [name for name in dict.fromkeys((current, "UTC")) if name]
    return [
        ("Current and UTC", [(name, name) for name in first]),
        *((region, [zone for zone in zones if zone[0] not in first]) for region, zones in _zones_by_region()),
    ]


class TimeZoneForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["time_zone"]
        labels = {"time_zone": "Show dates in"}
        help_texts = {"time_zone": "Dates on the calendar and in your feed are days in this time zone."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices(self.instance.time_zone)


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name"]
        labels = {"name": "Token name"}


# The pipeline API answers users who may read gates; a token for anyone else would only ever get 403.
API_PERMISSION = "releases.view_gate"
TEMPLATE = "portal/profile.html"


@transaction.atomic
def feed_token_rotate(*, user: User) -> User:
    """Give the user a new feed token: the old feed address stops working at once."""
    user.feed_token = new_feed_token()
    user.save(update_fields=["feed_token"])
    # The token itself is a secret: the event says that it changed, never what to.
    audit_record(actor=user, action="user.feed_token_rotate", obj=user, after={"feed_token": "rotated"})
    return user


@require_http_methods(["GET", "POST"])
def profile_detail(request):
    user = request.user
    form = TimeZoneForm(instance=user)
    if request.method == "POST":
        if "rotate" in request.POST:
            feed_token_rotate(user=user)
            messages.success(request, "Your feed has a new address; the old one no longer works.")
            return redirect("profile")
        form = TimeZoneForm(request.POST, instance=user)
        if form.is_valid():
            form.save()
            messages.success(request, f"Time zone set to {user.time_zone}.")
            return redirect("profile")
    return render(request, TEMPLATE, profile_context(request, form=form), status=400 if form.errors else 200)


def profile_context(request, *, form=None, token_form=None, **extra) -> dict:
    user = request.user
    return {
        "profile_user": user,
        "role": role_of(user),
        "form": form or TimeZoneForm(instance=user),
        "feed_url": request.build_absolute_uri(reverse("calendar:ics")) + f"?token={user.feed_token}",
        "tokens": user.api_tokens.all(),
        "token_form": token_form or ApiTokenForm(),
        "can_have_tokens": user.has_perm(API_PERMISSION),
        "preferences_form": extra.pop("preferences_form", None)
        or NotificationPreferencesForm(initial_choices=notification_preferences(user=user)),
        **extra,
    }


def _tokens_response(request, *, status: int = 200, **context):
    """The tokens card for HTMX, the whole page without it."""
    template = TEMPLATE + "#api-tokens" if request.htmx else TEMPLATE
    return render(request, template, profile_context(request, **context), status=status)


@never_cache  # the answer holds the secret: no cache keeps a copy
@require_POST
def api_token_create(request):
    if not request.user.has_perm(API_PERMISSION):
        api_token_services.api_token_create_denied(user=request.user, permission=API_PERMISSION)
        raise PermissionDenied("Your role cannot use the pipeline API, so it gets no API token.")
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _tokens_response(request, status=422, token_form=form)
    token, secret = api_token_services.api_token_create(user=request.user, name=form.cleaned_data["name"])
    return _tokens_response(request, new_token=token, new_secret=secret)


@require_POST
def api_token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)  # only your own tokens
    api_token_services.api_token_revoke(token=token, by=request.user)
    if not request.htmx:
        messages.success(
            request, f"Token “{token.name}” revoked: pipelines using it are refused from now on."
        )
        return redirect("profile")
    return _tokens_response(request, revoked=token)


@require_POST
def notification_preferences_update(request):
    """Save how the user hears of each kind of notice: at once, in the daily digest, or no e-mail."""
    form = NotificationPreferencesForm(request.POST)
    if not form.is_valid():
        return _preferences_response(request, status=422, preferences_form=form)
    notification_preferences_save(user=request.user, choices=form.cleaned_data)
    if not request.htmx:
        messages.success(request, "Notification preferences saved.")
        return redirect("profile")
    return _preferences_response(request, preferences_saved=True)


def _preferences_response(request, *, status: int = 200, **context):
    """The preferences card for HTMX, the whole page without it."""
    template = TEMPLATE + "#notification-preferences" if request.htmx else TEMPLATE
    return render(request, template, profile_context(request, **context), status=status)
