"""Planning releases in the portal: a new release, and a copy of one (its clone). Each write goes
through its service (releases.planning.services.releases) with its audit event."""

import re

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from releases.errors import DomainError, form_add_errors
from releases.models import Release
from releases.planning.forms import ReleaseCloneForm, ReleaseCreateForm
from releases.planning.services import releases as release_services

TEMPLATE = "releases/release_form.html"
PERMISSION = "releases.add_release"


@require_http_methods(["GET", "POST"])
@permission_required(PERMISSION, raise_exception=True)
def release_new(request):
    form = ReleaseCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            release = release_services.release_create(
                by=request.user, owner=request.user, **form.cleaned_data
            )
        except (ValidationError, DomainError) as refusal:
            form_add_errors(form, refusal)
        else:
            return redirect("releases:detail", pk=release.pk)
    status = 422 if form.errors else 200
    return render(request, TEMPLATE, {"form": form, "title": "New release"}, status=status)


@require_http_methods(["GET", "POST"])
@permission_required(PERMISSION, raise_exception=True)
def release_clone(request, pk: int):
    source = get_object_or_404(Release.objects.select_related("application", "train"), pk=pk)
    initial = {"version": next_version(source.version), "target_date": source.target_date}
    form = ReleaseCloneForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            clone = release_services.release_clone(source=source, by=request.user, **form.cleaned_data)
        except (ValidationError, DomainError) as refusal:
            form_add_errors(form, refusal)
        else:
            return redirect("releases:detail", pk=clone.pk)
    context = {"form": form, "source": source, "title": f"Clone {source}"}
    return render(request, TEMPLATE, context, status=422 if form.errors else 200)


def next_version(version: str) -> str:
    """The version with its last number one higher ("4.2.9" → "4.2.10"), or the same when it ends in
    no number: a suggestion the person edits."""
    match = re.search(r"(\d+)(\D*)$", version)
    if not match:
        return version
    return f"{version[: match.start(1)]}{int(match.group(1)) + 1}{match.group(2)}"
