"""The REST API's views: a list and a detail per resource, and the writes, each through its service.

Each view names the permissions its methods need (`permissions`, checked by
portal.api.permissions.ModelPermission): the same as the page that shows or changes the same thing.
Reads answer with an ETag and 304 when it still matches (ConditionalGet). View classes are named
<Noun><Verb>; portal.api.urls turns them into <noun>_<verb> view functions.
"""

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils.cache import get_conditional_response, patch_vary_headers, set_response_etag
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response

from integrations.models import SyncRun
from portal.api import filters, serializers
from releases import password_guesses, records
from releases.environments.services import bookings as booking_services
from releases.errors import Conflict
from releases.gates.forms import GateSignForm
from releases.gates.selectors.audit_trail import audit_events
from releases.gates.selectors.gate_panel import gate_queue
from releases.gates.services import signoffs as signoff_services
from releases.models import (
    Application,
    Booking,
    Build,
    Deployment,
    Environment,
    FreezeWindow,
    Gate,
    Portfolio,
    Release,
    ReleaseDependency,
    ReleaseTrain,
    SignOff,
    TestRun,
    WorkItem,
)
from releases.planning.filters import GateShow
from releases.planning.forms import ReleasePlanForm
from releases.planning.selectors.release_page import ReleasePage
from releases.planning.services import dependencies as dependency_services
from releases.planning.services import releases as release_services

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457), application/problem+json")
WRITE_PROBLEMS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}


class ConditionalGet:
    """An ETag on every successful read (a hash of the body), and 304 Not Modified to a client whose
    If-None-Match still matches. The body depends on who asks, so caches vary on the credentials."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in ("GET", "HEAD") or response.status_code != status.HTTP_200_OK:
            return response
        response.render()
        set_response_etag(response)
        patch_vary_headers(response, ("Authorization", "Cookie"))
        return get_conditional_response(request._request, etag=response.get("ETag"), response=response)


class ReadList(ConditionalGet, generics.ListAPIView):
    pass


class ReadDetail(ConditionalGet, generics.RetrieveAPIView):
    pass


def read_permission(model) -> dict[str, str]:
    return {"GET": f"{model._meta.app_label}.view_{model._meta.model_name}"}


# --- planning -------------------------------------------------------------------------------------


class PortfolioList(ReadList):
    permissions = read_permission(Portfolio)
    queryset = Portfolio.objects.order_by("name", "pk")
    serializer_class = serializers.PortfolioSerializer
    filterset_fields = ["parent", "slug"]
    ordering_fields = ["name", "slug", "id"]


class PortfolioDetail(ReadDetail):
    permissions = PortfolioList.permissions
    queryset = PortfolioList.queryset
    serializer_class = PortfolioList.serializer_class


class ApplicationList(ReadList):
    permissions = read_permission(Application)
    queryset = Application.objects.order_by("key", "pk")
    serializer_class = serializers.ApplicationSerializer
    filterset_fields = ["portfolio", "key", "criticality"]
    ordering_fields = ["key", "name", "id"]


class ApplicationDetail(ReadDetail):
    permissions = ApplicationList.permissions
    queryset = ApplicationList.queryset
    serializer_class = ApplicationList.serializer_class


class TrainList(ReadList):
    permissions = read_permission(ReleaseTrain)
    queryset = ReleaseTrain.objects.order_by("starts_on", "pk")
    serializer_class = serializers.TrainSerializer
    filterset_fields = ["portfolio"]
    ordering_fields = ["starts_on", "ends_on", "name", "id"]


class TrainDetail(ReadDetail):
    permissions = TrainList.permissions
    queryset = TrainList.queryset
    serializer_class = TrainList.serializer_class


RELEASE_ORDERING = [
    "target_date",
    "forecast_date",
    "forecast_slip_days",
    "forecast_on_time",
    "forecast_p85",
    "forecast_risk",
    "version",
    "status",
    "id",
]


class ReleaseList(ReadList):
    """Releases with their forecast: the forecast date, the slip against the target, at risk, the
    delivery state every page shows, what blocks it and what it waits for. Filtered as the release list
    page filters (releases.planning.filters.ReleaseFilter)."""

    permissions = {"GET": "releases.view_release", "POST": "releases.add_release"}
    queryset = Release.objects.select_related("application").order_by("target_date", "pk")
    serializer_class = serializers.ReleaseSerializer
    filterset_class = filters.ReleaseFilter
    ordering_fields = RELEASE_ORDERING

    @extend_schema(
        request=serializers.ReleaseCreateSerializer,
        responses={201: serializers.ReleaseSerializer, **WRITE_PROBLEMS},
        description="Create a release (releases.planning.services.releases.release_create): audited, "
        "with the gates its portfolio's policy requires.",
    )
    def post(self, request):
        data = _valid(serializers.ReleaseCreateSerializer, request)
        fields = {k: v for k, v in data.items() if k not in ("application", "version", "target_date")}
        release = release_services.release_create(
            application=data["application"],
            version=data["version"],
            target_date=data["target_date"],
            by=request.user,
            **fields,
        )
        return Response(_release_data(release.pk), status=status.HTTP_201_CREATED)


class ReleaseDetail(ReadDetail):
    permissions = {"GET": "releases.view_release", "PATCH": ReleasePage.EDIT_PERMISSION}
    queryset = ReleaseList.queryset
    serializer_class = serializers.ReleaseSerializer

    @extend_schema(
        request=serializers.ReleaseUpdateSerializer,
        responses={200: serializers.ReleaseSerializer, **WRITE_PROBLEMS},
        description="Change the plan of a release, as its page does (status, target date, code freeze, "
        "shipped on): the page's form checks the values, release_update writes them. Only the fields "
        "sent change.",
    )
    def patch(self, request, pk: int):
        release = get_object_or_404(Release, pk=pk)
        data = _valid(serializers.ReleaseUpdateSerializer, request)
        plan = {name: data.get(name, getattr(release, name)) for name in ReleasePlanForm.base_fields}
        form = ReleasePlanForm.for_release(
            release, {f"plan-{name}": "" if value is None else value for name, value in plan.items()}
        )
        if not form.is_valid():
            raise ValidationError(form.errors.as_data())
        release_services.release_update(release=release, by=request.user, **form.cleaned_data)
        return Response(_release_data(pk))


def _release_data(pk: int) -> dict:
    return serializers.ReleaseSerializer(ReleaseList.queryset.get(pk=pk)).data


class DependencyList(ReadList):
    permissions = {"GET": "releases.view_releasedependency", "POST": ReleasePage.EDIT_PERMISSION}
    queryset = ReleaseDependency.objects.order_by("pk")
    serializer_class = serializers.DependencySerializer
    filterset_class = filters.DependencyFilter
    ordering_fields = ["id"]

    @extend_schema(
        request=serializers.DependencyCreateSerializer,
        responses={201: serializers.DependencySerializer, **WRITE_PROBLEMS},
        description="downstream ships before (ships_before) or with (ships_with) upstream "
        "(dependency_add). A cycle is 409; another refusal 422.",
    )
    def post(self, request):
        data = _valid(serializers.DependencyCreateSerializer, request)
        try:
            dependency = dependency_services.dependency_add(
                downstream=data["downstream"],
                upstream=data["upstream"],
                kind=data["kind"],
                note=data.get("note", ""),
                by=request.user,
            )
        except dependency_services.DependencyCycle:
            raise
        except dependency_services.DependencyRefused as refusal:  # the page: 422 on the upstream field
            raise ValidationError({"upstream": str(refusal)}) from refusal
        return Response(serializers.DependencySerializer(dependency).data, status=status.HTTP_201_CREATED)


class DependencyDetail(ReadDetail):
    permissions = {"GET": "releases.view_releasedependency", "DELETE": ReleasePage.EDIT_PERMISSION}
    queryset = DependencyList.queryset
    serializer_class = serializers.DependencySerializer

    @extend_schema(responses={204: None, **WRITE_PROBLEMS}, description="dependency_remove, audited.")
    def delete(self, request, pk: int):
        dependency = get_object_or_404(ReleaseDependency, pk=pk)
        dependency_services.dependency_remove(dependency=dependency, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- gates ----------------------------------------------------------------------------------------


def _gates():
    signoffs = Prefetch("signoffs", queryset=SignOff.objects.order_by("signed_at", "pk"))
    return Gate.objects.select_related("signer_group", "waived_by").prefetch_related(signoffs)


class GateList(ReadList):
    """Gates with their evidence and sign-offs. ?show=mine|pending|decided is the reviewer queue's
    (releases.gates.selectors.gate_panel.gate_queue); without it, every gate."""

    permissions = {"GET": "releases.view_gate"}
    serializer_class = serializers.GateSerializer
    filterset_class = filters.GateFilter
    ordering_fields = ["due_date", "decided_at", "id"]

    def get_queryset(self):
        show = self.request.query_params.get("show")
        if show in dict(GateShow.CHOICES):
            gates = gate_queue(self.request.user, show)
        else:
            gates = Gate.objects.order_by("due_date", "pk")
        signoffs = Prefetch("signoffs", queryset=SignOff.objects.order_by("signed_at", "pk"))
        return gates.select_related("signer_group", "waived_by").prefetch_related(signoffs)


class GateDetail(ReadDetail):
    permissions = {"GET": "releases.view_gate"}
    serializer_class = serializers.GateSerializer

    def get_queryset(self):
        return _gates()


class GateSign(generics.GenericAPIView):
    """GET: what a signature needs (the gate's state hash, the meaning of each decision, whether you
    may sign and why not). POST: sign, re-entering your password (see docs/api.md)."""

    permissions = {"GET": "releases.view_gate", "POST": "releases.view_gate"}  # the service says who signs
    serializer_class = serializers.GateSignSerializer

    def _gate(self, pk: int) -> Gate:
        return get_object_or_404(_gates().select_related("release__application"), pk=pk)

    @extend_schema(responses={200: serializers.GateSignStateSerializer, 404: PROBLEM})
    def get(self, request, pk: int):
        gate = self._gate(pk)
        blockers = signoff_services.sign_blockers(gate=gate, user=request.user)
        state = {
            "gate": gate.pk,
            "state_hash": signoff_services.gate_state_hash(gate),
            "meanings": {d: signoff_services.signoff_meaning(gate, d) for d in SignOff.Decision.values},
            "may_sign": not blockers,
            "blockers": blockers,
        }
        return Response(serializers.GateSignStateSerializer(state).data)

    @extend_schema(
        request=serializers.GateSignSerializer,
        responses={201: serializers.SignOffSerializer, 429: PROBLEM, **WRITE_PROBLEMS},
        description="Sign the gate (gate_sign). The body re-enters the signer's password, checked as the "
        "gate panel checks it; wrong passwords count towards the sign-in lockout (django-axes). "
        "A wrong password is 422, too many 429, a signer the rules refuse 403, a gate that changed "
        "since state_hash was read 409.",
    )
    def post(self, request, pk: int):
        gate = self._gate(pk)
        signoff_services.gate_sign_check(gate=gate, by=request.user)  # a refusal outranks bad input
        data = _valid(serializers.GateSignSerializer, request)
        if not data["agree"]:
            raise ValidationError({"agree": GateSignForm.base_fields["agree"].error_messages["required"]})
        if not password_guesses.signing_allowed(request._request):
            raise exceptions.Throttled(detail=password_guesses.SIGNING_PAUSED)
        try:
            signoff = signoff_services.gate_sign(
                gate=gate,
                by=request.user,
                decision=data["decision"],
                meaning=signoff_services.signoff_meaning(gate, data["decision"]),
                comment=data["comment"],
                password=data["password"],
                state_hash=data["state_hash"],
            )
        except signoff_services.BadPassword as wrong:
            tries_left = password_guesses.signing_failed(request._request)
            raise ValidationError({"password": [str(wrong), tries_left]}) from wrong
        return Response(serializers.SignOffSerializer(signoff).data, status=status.HTTP_201_CREATED)


# --- environments and bookings --------------------------------------------------------------------


class EnvironmentList(ReadList):
    permissions = read_permission(Environment)
    queryset = (
        Environment.objects.select_related("owner_group").prefetch_related("components").order_by("name")
    )
    serializer_class = serializers.EnvironmentSerializer
    filterset_class = filters.EnvironmentFilter
    ordering_fields = ["name", "kind", "id"]


class EnvironmentDetail(ReadDetail):
    permissions = EnvironmentList.permissions
    queryset = EnvironmentList.queryset
    serializer_class = EnvironmentList.serializer_class


class FreezeWindowList(ReadList):
    """Freeze windows, written as the admin writes them (releases.records: validated and audited)."""

    permissions = {"GET": "releases.view_freezewindow", "POST": "releases.add_freezewindow"}
    queryset = FreezeWindow.objects.order_by("starts_at", "pk")
    serializer_class = serializers.FreezeWindowSerializer
    filterset_fields = ["scope", "portfolio", "environment"]
    ordering_fields = ["starts_at", "ends_at", "id"]

    @extend_schema(responses={201: serializers.FreezeWindowSerializer, **WRITE_PROBLEMS})
    def post(self, request):
        data = _valid(serializers.FreezeWindowSerializer, request)
        window = records.record_save(obj=FreezeWindow(**data), by=request.user)
        return Response(serializers.FreezeWindowSerializer(window).data, status=status.HTTP_201_CREATED)


class FreezeWindowDetail(ReadDetail):
    permissions = {
        "GET": "releases.view_freezewindow",
        "PATCH": "releases.change_freezewindow",
        "DELETE": "releases.delete_freezewindow",
    }
    queryset = FreezeWindowList.queryset
    serializer_class = serializers.FreezeWindowSerializer

    @extend_schema(responses={200: serializers.FreezeWindowSerializer, **WRITE_PROBLEMS})
    def patch(self, request, pk: int):
        window = get_object_or_404(FreezeWindow, pk=pk)
        serializer = serializers.FreezeWindowSerializer(window, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        for field, value in serializer.validated_data.items():
            setattr(window, field, value)
        window = records.record_save(obj=window, by=request.user)
        return Response(serializers.FreezeWindowSerializer(window).data)

    @extend_schema(responses={204: None, **WRITE_PROBLEMS})
    def delete(self, request, pk: int):
        records.record_delete(obj=get_object_or_404(FreezeWindow, pk=pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _bookings():
    return Booking.objects.select_related("requester", "decided_by").order_by("starts_at", "pk")


class BookingList(ReadList):
    permissions = {"GET": "releases.view_booking", "POST": "releases.add_booking"}
    serializer_class = serializers.BookingSerializer
    filterset_class = filters.BookingFilter
    ordering_fields = ["starts_at", "ends_at", "created_at", "id"]

    def get_queryset(self):
        return _bookings()

    @extend_schema(
        request=serializers.BookingRequestSerializer,
        responses={201: serializers.BookingSerializer, **WRITE_PROBLEMS},
        description="Request a booking (booking_request): approved at once when the environment needs "
        "no approval and the slot is free. A taken slot is 409 naming the winning booking (`winner`); "
        "a slot in a freeze window needs freeze_override_reason (422 otherwise).",
    )
    def post(self, request):
        data = _valid(serializers.BookingRequestSerializer, request)
        booking = booking_services.booking_request(by=request.user, **data)
        return Response(_booking_data(booking.pk), status=status.HTTP_201_CREATED)


class BookingDetail(ReadDetail):
    permissions = {"GET": "releases.view_booking"}
    serializer_class = serializers.BookingSerializer

    def get_queryset(self):
        return _bookings()


def _booking_data(pk: int) -> dict:
    return serializers.BookingSerializer(_bookings().get(pk=pk)).data


class BookingDecision(generics.GenericAPIView):
    """approve, reject, cancel: a booking's state that no longer allows it is 409, as on the pages."""

    serializer_class = serializers.BookingDecisionSerializer
    decide = None

    @extend_schema(responses={200: serializers.BookingSerializer, **WRITE_PROBLEMS})
    def post(self, request, pk: int):
        booking = get_object_or_404(
            Booking.objects.select_related("environment"), pk=pk, part_of__isnull=True
        )
        data = _valid(serializers.BookingDecisionSerializer, request, empty_ok=True)
        try:
            type(self).decide(booking=booking, by=request.user, reason=data["reason"])
        except booking_services.BookingFrozen:
            raise
        except ValidationError as error:
            if hasattr(error, "error_dict"):  # a field to fill in (a rejection's reason): 422
                raise
            raise Conflict(" ".join(error.messages)) from error
        return Response(_booking_data(pk))


class BookingApprove(BookingDecision):
    permissions = {"POST": booking_services.DECIDE_PERMISSION}
    decide = booking_services.booking_approve


class BookingReject(BookingDecision):
    permissions = {"POST": booking_services.DECIDE_PERMISSION}
    decide = booking_services.booking_reject


class BookingCancel(BookingDecision):
    """The requester or an environment admin (the service says who: may_change)."""

    permissions = {"POST": "releases.view_booking"}
    decide = booking_services.booking_cancel


def _valid(serializer_class, request, *, empty_ok: bool = False) -> dict:
    data = request.data if (request.data or not empty_ok) else {}
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- what the tools report ------------------------------------------------------------------------


class DeploymentList(ReadList):
    permissions = read_permission(Deployment)
    queryset = Deployment.objects.order_by("-deployed_at", "pk")
    serializer_class = serializers.DeploymentSerializer
    filterset_class = filters.DeploymentFilter
    ordering_fields = ["deployed_at", "id"]


class WorkItemList(ReadList):
    permissions = read_permission(WorkItem)
    # The serializer shows the fix releases' ids only: no need to build whole releases.
    queryset = WorkItem.objects.prefetch_related(
        Prefetch("fix_releases", queryset=Release.objects.only("pk"))
    ).order_by("key", "pk")
    serializer_class = serializers.WorkItemSerializer
    filterset_class = filters.WorkItemFilter
    ordering_fields = ["key", "created_at", "updated_at", "resolved_at", "id"]


class BuildList(ReadList):
    permissions = read_permission(Build)
    queryset = Build.objects.order_by("-started_at", "pk")
    serializer_class = serializers.BuildSerializer
    filterset_class = filters.BuildFilter
    ordering_fields = ["started_at", "number", "id"]


class TestRunList(ReadList):
    permissions = read_permission(TestRun)
    queryset = TestRun.objects.select_related("supplied_by").order_by("-executed_at", "pk")
    serializer_class = serializers.TestRunSerializer
    filterset_class = filters.TestRunFilter
    ordering_fields = ["executed_at", "id"]


class SyncRunList(ReadList):
    """Everyone signed in reads the sync runs, as on /integrations/ (a failing sync is everybody's)."""

    permissions = {}
    queryset = SyncRun.objects.order_by("-started_at", "-pk")
    serializer_class = serializers.SyncRunSerializer
    filterset_class = filters.SyncRunFilter
    ordering_fields = ["started_at", "finished_at", "id"]


class AuditEventList(ReadList):
    """The audit trail, for those who may read it (Auditor, Governance officer, Admin), filtered as
    /audit/ filters it."""

    permissions = {"GET": "releases.view_auditevent"}
    serializer_class = serializers.AuditEventSerializer
    filterset_class = filters.AuditEventFilter
    ordering_fields = ["seq", "created_at"]

    def get_queryset(self):
        return audit_events()
