"""The signed-in user's profile: who they are, their time zone, and their personal calendar feed."""

from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from portal.models import User, new_feed_token
from portal.roles import role_of
from releases.services.audit import audit_record


class TimeZoneForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["time_zone"]
        labels = {"time_zone": "Show dates in"}
        help_texts = {"time_zone": "Dates on the calendar and in your feed are days in this time zone."}


@transaction.atomic
def feed_token_rotate(*, user: User) -> User:
    """Give the user a new feed token: the old feed address stops working at once."""
    user.feed_token = new_feed_token()
    user.save(update_fields=["feed_token"])
    # The token itself is a secret: the event says that it changed, never what to.
    audit_record(actor=user, action="user.feed_token_rotate", obj=user, after={"feed_token": "rotated"})
    return user


@require_http_methods(["GET", "POST"])
def profile(request):
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
    feed_url = request.build_absolute_uri(reverse("calendar:ics")) + f"?token={user.feed_token}"
    context = {"profile_user": user, "role": role_of(user), "form": form, "feed_url": feed_url}
    return render(request, "portal/profile.html", context, status=400 if form.errors else 200)
