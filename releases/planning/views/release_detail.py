"""The release page, and editing its dates and status."""

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from releases.errors import form_add_errors
from releases.planning import odds
from releases.planning.forms import DependencyAddForm, ReleasePlanForm
from releases.planning.selectors.release_page import ReleasePage, release_for_page
from releases.planning.services import releases as release_services

TEMPLATE = "releases/release_detail.html"
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


def page_context(request, release, *, plan_form=None, dependency_form=None, **extra) -> dict:
    page = ReleasePage(release, request.user)
    return {
        "release": release,
        "page": page,
        "odds_rule": odds.RULE,
        "plan_form": plan_form or ReleasePlanForm.for_release(release),
        "dependency_form": dependency_form or DependencyAddForm(),
        **extra,
    }


def respond(request, release, partial: str, *, status: int = 200, **context):
    """The named partial for HTMX; the whole page (with the same forms and messages) without it."""
    template = TEMPLATE + "#" + partial if request.htmx else TEMPLATE
    return render(request, template, page_context(request, release, **context), status=status)
