"""An admin lets a release ship inside a freeze window, from the release page."""

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from releases.planning.selectors.release_page import release_for_page
from releases.planning.services import freezes as freeze_services
from releases.planning.views.release_detail import respond

REASON_LENGTH = 1000


@require_POST
@permission_required(freeze_services.OVERRIDE_PERMISSION, raise_exception=True)
def release_freeze_override(request, pk: int):
    release = release_for_page(pk)
    reason = request.POST.get("reason", "")[:REASON_LENGTH]
    try:
        freeze_services.release_freeze_override(release=release, by=request.user, reason=reason)
    except ValidationError as error:
        return respond(
            request, release, "release-plan", status=422, freeze_override_error=" ".join(error.messages)
        )
    if not request.htmx:
        return redirect(reverse("releases:detail", args=[pk]) + "#release-plan")
    return respond(request, release_for_page(pk), "release-plan", saved=True)
