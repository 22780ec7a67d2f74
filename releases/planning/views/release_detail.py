"""The release page, and editing its dates and status."""

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from releases.errors import form_add_errors
from releases.models import Release
from releases.planning import odds
from releases.planning.forms import DependencyAddForm, ReleasePlanForm, WhatIfForm
from releases.planning.selectors.release_page import ReleasePage, release_for_page
from releases.planning.selectors.what_if import NoDateToMove, what_if
from releases.planning.services import releases as release_services

TEMPLATE = "releases/release_detail.html"
WHAT_IF_TEMPLATE = "releases/what_if.html"
# Parts of the page an HTMX request may ask for by their DOM id.
REFRESHABLE = {
    "release-header",
    "release-plan",
    "release-forecast",
    "dependencies",
    "audit-timeline",
    "pull-requests",
}


@require_GET
def release_detail(request, pk: int):
    release = release_for_page(pk)
    template = TEMPLATE
    if request.htmx and request.htmx.target in REFRESHABLE:
        template += "#" + request.htmx.target
    # The page asks for its pull requests once it has loaded (their query is not in its budget);
    # without JavaScript, "?pull_requests=1" shows them in the page.
    show_pull_requests = request.GET.get("pull_requests") == "1"
    return render(request, template, page_context(request, release, show_pull_requests=show_pull_requests))


@require_POST
@permission_required(ReleasePage.EDIT_PERMISSION, raise_exception=True)
def release_update(request, pk: int):
    release = release_for_page(pk)
    form = ReleasePlanForm.for_release(release, request.POST)
    if form.is_valid():
        try:
            release_services.release_update(release=release, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_add_errors(form, error)
    if form.errors:
        return respond(request, release, "release-plan", status=422, plan_form=form)
    if not request.htmx:
        return redirect("releases:detail", pk=pk)
    release = release_for_page(pk)
    return respond(request, release, "release-updated", saved=True)


@require_GET
def release_what_if(request, pk: int):
    """The downstream releases a slip or a new target would move, nothing saved: a partial of the
    release page (400 with the form's words for bad input, 409 for a release with no date to move)."""
    release = get_object_or_404(Release.objects.select_related("application"), pk=pk)
    form = WhatIfForm.from_query(request.GET)
    context = {"release": release, "what_if_form": form, "odds_rule": odds.RULE}
    if not form.is_valid():
        return render(request, WHAT_IF_TEMPLATE, context, status=400)
    days, target = form.cleaned_data["days"] or 0, form.cleaned_data["target_date"]
    try:
        changes = what_if(release, today=timezone.localdate(), slip_days=days, target=target)
    except NoDateToMove as refusal:
        return render(request, WHAT_IF_TEMPLATE, context | {"refusal": str(refusal)}, status=409)
    return render(request, WHAT_IF_TEMPLATE, context | {"changes": changes, "days": days, "target": target})


def page_context(request, release, *, plan_form=None, dependency_form=None, **extra) -> dict:
    page = ReleasePage(release, request.user)
    return {
        "release": release,
        "page": page,
        "odds_rule": odds.RULE,
        "what_if_form": WhatIfForm(),
        "plan_form": plan_form or ReleasePlanForm.for_release(release),
        "dependency_form": dependency_form or DependencyAddForm(),
        **extra,
    }


def respond(request, release, partial: str, *, status: int = 200, **context):
    """The named partial for HTMX; the whole page (with the same forms and messages) without it."""
    template = TEMPLATE + "#" + partial if request.htmx else TEMPLATE
    return render(request, template, page_context(request, release, **context), status=status)
