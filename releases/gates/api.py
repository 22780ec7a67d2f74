"""The pipeline API: JSON for Jenkins or GitHub to ask whether a release may ship.

Who the caller is comes from their API token (portal.api_auth authenticates everything under /api/);
each view checks the permission here, and a refusal is recorded in the audit trail.
"""

from functools import wraps

from django.db import transaction
from django.db.models import Prefetch
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from releases.audit import audit_record
from releases.gates.services import deploy_check as deploy_check_services
from releases.models import Gate, Release, SignOff
from releases.planning.forecast import stored_hold_text

READ_PERMISSION = "releases.view_gate"
CAN_DEPLOY_PARAMETERS = ("application", "version", "environment")


def detail(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


@transaction.atomic
def api_denied_record(*, request, permission: str) -> None:
    audit_record(
        actor=request.user,
        action="api.denied",
        object_type="api",
        object_id=request.path[:64],
        after={"method": request.method, "path": request.get_full_path()[:500], "permission": permission},
    )


def permitted(permission: str):
    """Answer only users holding `permission`; anyone else gets 403 JSON, recorded in the audit trail."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                api_denied_record(request=request, permission=permission)
                return detail(f"Your account lacks the permission {permission}.", 403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def api_view(permission: str):
    """A GET endpoint for users holding `permission`."""

    def decorator(view):
        return require_GET(permitted(permission)(view))

    return decorator


@api_view(READ_PERMISSION)
def release_gate_list(request, pk: int):
    signoffs = Prefetch("signoffs", queryset=SignOff.objects.order_by("signed_at"))
    gates = (
        Gate.objects.select_related("waived_by")
        .prefetch_related(signoffs)
        .order_by("due_date", "kind", "name")
    )
    release = (
        Release.objects.select_related("application")
        .prefetch_related(Prefetch("gates", queryset=gates))
        .filter(pk=pk)
        .first()
    )
    if release is None:
        return detail(f"No release with id {pk}.", 404)
    return JsonResponse(
        {"release": release_data(release), "gates": [gate_data(g) for g in release.gates.all()]}
    )


@api_view(READ_PERMISSION)
def deploy_check(request):
    missing = [name for name in CAN_DEPLOY_PARAMETERS if not request.GET.get(name, "").strip()]
    if missing:
        return detail(f"Missing query parameter: {', '.join(missing)}.", 400)
    application, version, environment = (request.GET[name].strip() for name in CAN_DEPLOY_PARAMETERS)
    try:
        check = deploy_check_services.can_deploy(
            application_key=application, version=version, environment_name=environment
        )
    except deploy_check_services.UnknownTarget as unknown:
        return detail(str(unknown), 404)
    return JsonResponse(
        {
            "allowed": check.allowed,
            "reasons": check.reasons,
            "notes": check.notes,
            "release": check.release.pk,
        }
    )


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def release_data(release: Release) -> dict:
    return {
        "id": release.pk,
        "application": release.application.key,
        "version": release.version,
        "status": release.status,
        "target_date": _iso(release.target_date),
        "forecast_date": _iso(release.forecast_date),
        # The delivery state the list, the calendar and the home page show, and what the forecast waits
        # for, each line naming its gate, build, upstream release or freeze window.
        "delivery_state": release.delivery_state.value,
        "at_risk": release.at_risk,
        "blocked_by": release.forecast_blocked_reason or None,
        "waiting_for": [waiting_data(hold) for hold in release.forecast_waiting_for or ()],
    }


def waiting_data(stored: dict) -> dict:
    return {
        "kind": stored.get("kind"),
        "until": stored.get("until"),
        "name": stored.get("name", ""),
        "release": stored.get("release_id"),
        "text": stored_hold_text(stored),
    }


def gate_data(gate: Gate) -> dict:
    signoffs = list(gate.signoffs.all())
    return {
        "id": gate.pk,
        "kind": gate.kind,
        "name": gate.name,
        "status": gate.status,
        "due_date": _iso(gate.due_date),
        "decided_at": _iso(gate.decided_at),
        "approvals": {
            "given": sum(s.decision == SignOff.Decision.APPROVE for s in signoffs),
            "required": gate.approvals_required,
        },
        "evidence": {
            "ok": gate.evidence_ok,
            "summary": gate.evidence_summary,
            "pass_rate": gate.evidence_pass_rate,
            "failed_tests": gate.evidence_failed_tests,
            "open_blockers": gate.evidence_open_blockers,
            "build_result": gate.evidence_build_result,
            "source": gate.evidence_source,
            "at": _iso(gate.evidence_at),
        },
        "signoffs": [signoff_data(s) for s in signoffs],
        "waiver": {"by": _name(gate.waived_by), "reason": gate.waiver_reason} if gate.waived_by else None,
    }


def signoff_data(signoff: SignOff) -> dict:
    return {
        "signer": signoff.signer_name,
        "decision": signoff.decision,
        "meaning": signoff.meaning,
        "comment": signoff.comment,
        "signed_at": _iso(signoff.signed_at),
        "reauthenticated": signoff.reauthenticated,
        "state_hash": signoff.state_hash,
    }
