"""The pipeline API's five endpoints, kept at their paths and described in the OpenAPI schema.

/api/can-deploy, /api/releases/<id>/gates, /api/junit, /api/bookings (and /api/bookings/<id>/cancel)
and /api/environments answer exactly as before: each class below only describes its endpoint to
drf-spectacular, and its dispatch hands the request, untouched, to the original view (token-only
authentication by portal.api_auth.ApiTokenMiddleware, JSON {"detail": ...} errors). New scripts
should prefer /api/v1/ (docs/api.md).
"""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from integrations import api as integrations_api
from portal.api.auth import BearerTokenAuthentication
from releases.environments import urls as environments_urls
from releases.gates import urls as gates_urls

DETAIL = OpenApiResponse(
    inline_serializer("LegacyDetail", {"detail": serializers.CharField()}),
    description='{"detail": "..."}: what is wrong, in words',
)
ERRORS = {400: DETAIL, 401: DETAIL, 403: DETAIL, 404: DETAIL}
TAGS = ["pipeline (kept paths)"]


class LegacyView(APIView):
    authentication_classes = [BearerTokenAuthentication]  # described; the middleware authenticates
    permission_classes = []
    original = None

    def dispatch(self, request, *args, **kwargs):
        return self.original(request, *args, **kwargs)


HOLD_FIELDS = {
    "kind": serializers.CharField(allow_null=True),
    "until": serializers.CharField(allow_null=True),
    "name": serializers.CharField(),
    "release": serializers.IntegerField(allow_null=True),
    "text": serializers.CharField(),
}
LegacyRelease = inline_serializer(
    "LegacyRelease",
    {
        "id": serializers.IntegerField(),
        "application": serializers.CharField(),
        "version": serializers.CharField(),
        "status": serializers.CharField(),
        "target_date": serializers.DateField(allow_null=True),
        "forecast_date": serializers.DateField(allow_null=True),
        "delivery_state": serializers.CharField(),
        "at_risk": serializers.BooleanField(),
        "blocked_by": serializers.CharField(allow_null=True),
        "waiting_for": inline_serializer("LegacyHold", HOLD_FIELDS, many=True),
    },
)
GATE_FIELDS = {
    "id": serializers.IntegerField(),
    "kind": serializers.CharField(),
    "name": serializers.CharField(),
    "status": serializers.CharField(),
    "due_date": serializers.DateField(allow_null=True),
    "decided_at": serializers.DateTimeField(allow_null=True),
    "approvals": serializers.DictField(child=serializers.IntegerField()),
    "evidence": serializers.DictField(),
    "signoffs": serializers.ListField(child=serializers.DictField()),
    "waiver": serializers.DictField(allow_null=True),
}


class LegacyBooking(serializers.Serializer):
    id = serializers.IntegerField()
    environment = serializers.CharField()
    environment_id = serializers.IntegerField()
    part_of = serializers.IntegerField(allow_null=True)
    application = serializers.CharField(allow_null=True)
    release = serializers.CharField(allow_null=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    status = serializers.CharField()
    purpose = serializers.CharField()
    requester = serializers.CharField()
    decided_by = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class LegacyBookingAnswer(serializers.Serializer):
    booking = LegacyBooking()


class DeployCheck(LegacyView):
    @extend_schema(
        tags=TAGS,
        operation_id="can_deploy",
        parameters=[
            OpenApiParameter("application", str, required=True, description="The application's key"),
            OpenApiParameter("version", str, required=True),
            OpenApiParameter("environment", str, required=True, description="The environment's name"),
        ],
        responses={
            200: inline_serializer(
                "CanDeploy",
                {
                    "allowed": serializers.BooleanField(),
                    "reasons": serializers.ListField(child=serializers.CharField()),
                    "notes": serializers.ListField(child=serializers.CharField()),
                    "release": serializers.IntegerField(),
                },
            ),
            **ERRORS,
        },
        description="May this version of the application go to the environment now? Gates, freezes, "
        "upstream releases. Needs releases.view_gate.",
    )
    def get(self, request):
        raise NotImplementedError  # described only: dispatch answers


class ReleaseGateList(LegacyView):
    @extend_schema(
        tags=TAGS,
        operation_id="release_gates",
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH, description="The release's id")],
        responses={
            200: inline_serializer(
                "LegacyReleaseGates",
                {"release": LegacyRelease, "gates": inline_serializer("LegacyGate", GATE_FIELDS, many=True)},
            ),
            **ERRORS,
        },
        description="A release and its gates with evidence and sign-offs. Needs releases.view_gate.",
    )
    def get(self, request, pk: int):
        raise NotImplementedError


class JunitUpload(LegacyView):
    @extend_schema(
        tags=TAGS,
        operation_id="junit_upload",
        parameters=[
            OpenApiParameter("release", int, required=True),
            OpenApiParameter("build", int),
            OpenApiParameter("environment", str, description="The environment's name"),
        ],
        request={"application/xml": OpenApiTypes.BINARY, "multipart/form-data": OpenApiTypes.BINARY},
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="The test run recorded"),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The same report again: the stored run"),
            413: DETAIL,
            **ERRORS,
        },
        description="Record a JUnit XML report as a test run of the release. Needs releases.add_testrun.",
    )
    def post(self, request):
        raise NotImplementedError


class EnvironmentList(LegacyView):
    @extend_schema(
        tags=TAGS,
        operation_id="legacy_environments",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description='{"environments": [...]}'),
            **ERRORS,
        },
        description="Every environment with its components. Needs releases.view_booking.",
    )
    def get(self, request):
        raise NotImplementedError


class BookingListOrRequest(LegacyView):
    @extend_schema(
        tags=TAGS,
        operation_id="legacy_bookings",
        parameters=[
            OpenApiParameter("environment", str, description="An id or a name"),
            OpenApiParameter("from", OpenApiTypes.DATETIME),
            OpenApiParameter("to", OpenApiTypes.DATETIME),
            OpenApiParameter("status", str),
        ],
        responses={
            200: inline_serializer(
                "LegacyBookings",
                {
                    "bookings": LegacyBooking(many=True),
                    "truncated": serializers.BooleanField(),
                },
            ),
            **ERRORS,
        },
        description="Bookings overlapping [from, to) (default: the next four weeks), at most 1,000.",
    )
    def get(self, request):
        raise NotImplementedError

    @extend_schema(
        tags=TAGS,
        operation_id="legacy_booking_request",
        request=inline_serializer(
            "LegacyBookingRequest",
            {
                "environment": serializers.CharField(help_text="An id or a name"),
                "application": serializers.CharField(help_text="The application's key"),
                "version": serializers.CharField(required=False),
                "starts_at": serializers.DateTimeField(),
                "ends_at": serializers.DateTimeField(),
                "purpose": serializers.CharField(),
                "freeze_override_reason": serializers.CharField(required=False),
            },
        ),
        responses={201: LegacyBookingAnswer, 409: DETAIL, **ERRORS},
        description="Request a booking (booking_request). Needs releases.add_booking.",
    )
    def post(self, request):
        raise NotImplementedError


class BookingCancel(LegacyView):
    @extend_schema(
        tags=TAGS,
        operation_id="legacy_booking_cancel",
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH, description="The booking's id")],
        request=inline_serializer("LegacyCancel", {"reason": serializers.CharField(required=False)}),
        responses={200: LegacyBookingAnswer, 409: DETAIL, **ERRORS},
        description="Cancel a booking: its requester or an environment admin.",
    )
    def post(self, request, pk: int):
        raise NotImplementedError


DESCRIBED = {
    "can-deploy": DeployCheck,
    "release-gates": ReleaseGateList,
    "environments": EnvironmentList,
    "bookings": BookingListOrRequest,
    "booking-cancel": BookingCancel,
}


def _described(view_class, original):
    function = view_class.as_view(original=original)
    function.__name__, function.__module__ = original.__name__, original.__module__
    return function


def described(patterns) -> list:
    """The areas' /api/ routes, each answered by its own view and described by its class above."""
    return [path(str(p.pattern), _described(DESCRIBED[p.name], p.callback), name=p.name) for p in patterns]


api_urlpatterns = described(gates_urls.api_urlpatterns + environments_urls.api_urlpatterns)
junit_upload = _described(JunitUpload, integrations_api.junit_upload)
