"""Adding and removing the dependencies of a release, from its page."""

from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from releases.models import ReleaseDependency
from releases.planning.forms import DependencyAddForm
from releases.planning.selectors.release_page import ReleasePage, release_for_page
from releases.planning.services import dependencies as dependency_services
from releases.planning.views.release_detail import respond


@require_POST
@permission_required(ReleasePage.EDIT_PERMISSION, raise_exception=True)
def dependency_add(request, pk: int):
    release = release_for_page(pk)
    form = DependencyAddForm(request.POST)
    if not form.is_valid():
        return respond(request, release, "dependencies", status=422, dependency_form=form)
    try:
        dependency_services.dependency_add(
            downstream=release,
            upstream=form.cleaned_data["upstream"],
            kind=form.cleaned_data["kind"],
            note=form.cleaned_data["note"],
            by=request.user,
        )
    except dependency_services.DependencyCycle as cycle:
        form.add_error(None, str(cycle))
        return respond(request, release, "dependencies", status=cycle.status, dependency_form=form)
    except dependency_services.DependencyRefused as refusal:
        form.add_error("upstream", str(refusal))
        return respond(request, release, "dependencies", status=422, dependency_form=form)
    return _updated(request, release)


@require_POST
@permission_required(ReleasePage.EDIT_PERMISSION, raise_exception=True)
def dependency_remove(request, pk: int, dependency_pk: int):
    release = release_for_page(pk)
    link = get_object_or_404(ReleaseDependency, pk=dependency_pk, downstream=release)
    dependency_services.dependency_remove(dependency=link, by=request.user)
    return _updated(request, release)


def _updated(request, release):
    if not request.htmx:
        return redirect(reverse("releases:detail", args=[release.pk]) + "#dependencies")
    return respond(request, release_for_page(release.pk), "dependencies-updated")  # as stored now
