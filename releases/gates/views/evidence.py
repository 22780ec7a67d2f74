"""The auditor's download of a release's evidence package."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from releases.gates.evidence_package import PERMISSION, evidence_export, evidence_export_denied
from releases.models import Release


@require_GET
def evidence_package(request, pk: int):
    release = get_object_or_404(Release.objects.select_related("application__portfolio", "owner"), pk=pk)
    if not request.user.has_perm(PERMISSION):
        evidence_export_denied(release=release, by=request.user)
        raise PermissionDenied("Only auditors and administrators export evidence packages.")
    package = evidence_export(release=release, by=request.user)
    response = HttpResponse(package.content, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, package.filename)
    response["Cache-Control"] = "no-store"
    return response
