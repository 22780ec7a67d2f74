"""The auditor's download of a release's evidence package."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from releases.gates import evidence_package
from releases.models import Release


@require_GET
def evidence_export(request, pk: int):
    release = get_object_or_404(Release.objects.select_related("application__portfolio", "owner"), pk=pk)
    if not request.user.has_perm(evidence_package.PERMISSION):
        evidence_package.evidence_export_denied(release=release, by=request.user)
        raise PermissionDenied("Only auditors and administrators export evidence packages.")
    package = evidence_package.evidence_export(release=release, by=request.user)
    response = HttpResponse(package.content, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, package.filename)
    response["Cache-Control"] = "no-store"
    return response
