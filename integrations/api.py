"""POST /api/junit: a pipeline attaches a JUnit XML report to a release, and optionally to a build
and an environment.

    curl -H "Authorization: Bearer $FLIGHTDECK_TOKEN" --data-binary @target/TEST-report.xml \
         "$FLIGHTDECK/api/junit?release=42&build=1234&environment=uat"

The body is the XML itself, or a multipart form with the report in a field named `file`. The caller
is whoever their API token names (portal.api_auth authenticates all of /api/ and ignores sessions),
so there is no CSRF exposure to guard against: a cross-site page cannot add the Authorization header.
Sending the same report for the same release, build and environment again stores nothing new.
"""

import hashlib

from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.parse import ParseError
from integrations.parse.junit import JUnitReport, parse_junit
from releases import params
from releases.errors import DomainError
from releases.facts.services.reports import COUNT_FIELDS, testrun_record
from releases.gates.api import api_denied_record, detail
from releases.models import Build, Environment, Release, TestRun

UPLOAD_PERMISSION = "releases.add_testrun"
MAX_REPORT_BYTES = 10 * 1024 * 1024
SOURCE = "junit-upload"


class Refused(DomainError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message, status=status)


def _id(query, name: str) -> int | None:
    return params.integer(query.get(name), name=f"query parameter {name}")


def _target(query) -> tuple[Release, Build | None, Environment | None]:
    release_id, build_id = _id(query, "release"), _id(query, "build")
    if release_id is None:
        raise Refused("Missing query parameter: release (the id of the release the report is for).")
    release = Release.objects.select_related("application").filter(pk=release_id).first()
    if release is None:
        raise Refused(f"No release with id {release_id}.", 404)
    build = Build.objects.filter(pk=build_id).first() if build_id is not None else None
    if build_id is not None and build is None:
        raise Refused(f"No build with id {build_id}.", 404)
    name = params.text(query.get("environment"), name="environment")
    environment = Environment.objects.filter(name=name).first() if name else None
    if name and environment is None:
        raise Refused(f"No environment named {name[:100]!r}.", 404)
    return release, build, environment


def _report_bytes(request) -> bytes:
    """The XML from the body or the `file` field, refused past MAX_REPORT_BYTES before it is read."""
    too_big = Refused(f"The report is larger than the limit of {MAX_REPORT_BYTES:,} bytes.", 413)
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_REPORT_BYTES:
        raise too_big
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise Refused("The multipart form has no field named file.")
        body = upload.read(MAX_REPORT_BYTES + 1)
    else:
        body = request.read(MAX_REPORT_BYTES + 1)
    if len(body) > MAX_REPORT_BYTES:
        raise too_big
    return body


def _fingerprint(body: bytes, release: Release, build: Build | None, environment: Environment | None):
    target = f"{release.pk}:{build.pk if build else ''}:{environment.pk if environment else ''}:"
    return hashlib.sha256(target.encode() + body).hexdigest()


def _run_data(run: TestRun, report: JUnitReport, created: bool) -> dict:
    return {
        "id": run.pk,
        "release": run.release_id,
        "build": run.build_id,
        "environment": run.environment_id,
        "name": run.name,
        "passed": run.passed,
        "failed": run.failed,
        "skipped": run.skipped,
        "errors": run.errors,
        "flaky": report.flaky,
        "duration_ms": run.duration_ms,
        "pass_rate": run.pass_rate,
        "created": created,
    }


@csrf_exempt
@require_POST
def junit_upload(request):
    if not request.user.has_perm(UPLOAD_PERMISSION):
        api_denied_record(request=request, permission=UPLOAD_PERMISSION)
        return detail(f"Your account lacks the permission {UPLOAD_PERMISSION}.", 403)
    try:
        release, build, environment = _target(request.GET)
        body = _report_bytes(request)
        report = parse_junit(body)
        run, created = testrun_record(
            release=release,
            build=build,
            environment=environment,
            name=report.name,
            counts={field: getattr(report, field) for field in COUNT_FIELDS},
            executed_at=timezone.now(),
            source=SOURCE,
            external_id=_fingerprint(body, release, build, environment),
            by=request.user,
        )
    except Refused as refused:
        return detail(str(refused), refused.status)
    except ParseError as error:
        return detail(f"Not a readable JUnit report: {error}", 400)
    except ValidationError as invalid:
        return detail(" ".join(invalid.messages), 400)
    return JsonResponse(_run_data(run, report, created), status=201 if created else 200)
