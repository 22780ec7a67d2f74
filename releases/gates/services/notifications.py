"""E-mail about gates: one waits for a group, became overdue, or was decided.

Run by the worker (releases.tasks), enqueued after the commit of the change they announce, so a
rolled-back change sends nothing. Sending is network I/O: never inside a transaction. One message
per recipient, so nobody sees who else was told.
"""

from collections import defaultdict
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from releases.mail import mail_send_each
from releases.models import Gate
from releases.querysets import CLOSED_STATUSES, SIGN_PERMISSION

SUBJECT_PREFIX = "[Flightdeck]"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def gate_waiting_notify(*, gate_ids: list[int]) -> int:
    """Tell each pending gate's signer group that it waits for them; returns the messages sent."""
    gates = _gates().filter(pk__in=gate_ids, status=Gate.Status.PENDING, signer_group__isnull=False)
    return _send(gates, subject="{release}: “{gate}” waits for your sign-off", lead=_waiting_lead)


def gates_overdue_notify(*, today: date | None = None) -> int:
    """Tell the signer groups of pending gates now past their due date, once per gate.

    One UPDATE claims the gates by stamping them with this run's time, so an overlapping run finds
    nothing left to claim; the claimed gates are then read back by that stamp.
    """
    today = today or timezone.localdate()
    stamp = timezone.now()
    claimed = (
        Gate.objects.filter(status=Gate.Status.PENDING, due_date__lt=today, overdue_notified_at__isnull=True)
        .exclude(release__status__in=CLOSED_STATUSES)
        .update(overdue_notified_at=stamp)
    )
    if not claimed:
        return 0
    gates = _gates().filter(overdue_notified_at=stamp, signer_group__isnull=False)
    return _send(gates, subject="Overdue: {release} “{gate}” was due {due}", lead=_overdue_lead)


def gate_decided_notify(*, gate_id: int) -> int:
    """Tell the release owner and the signer group how a gate was decided."""
    gate = (
        _gates()
        .select_related("release__owner", "waived_by")
        .filter(pk=gate_id)
        .exclude(status=Gate.Status.PENDING)
    )
    return _send(gate, subject="{release}: “{gate}” {status}", lead=_decided_lead, decided=True)


# --- building the messages ------------------------------------------------------------------------


def _gates():
    return Gate.objects.select_related("release__application", "signer_group").order_by("pk")


def _send(gates, *, subject: str, lead, decided: bool = False) -> int:
    """Waiting and overdue notices go to the group members who may sign; decisions also to the owner."""
    gates = list(gates)
    members = _members_by_group({gate.signer_group_id for gate in gates} - {None})
    messages = []
    for gate in gates:
        release = gate.release
        recipients = [
            email
            for user_id, email in members[gate.signer_group_id]
            if decided or _may_sign(release, user_id)
        ]
        owner = release.owner if decided else None
        if owner is not None and owner.is_active and owner.email and owner.email not in recipients:
            recipients.insert(0, owner.email)
        words = {
            "release": f"{release.application.key} {release.version}",
            "gate": gate.name,
            "due": f"{gate.due_date:%Y-%m-%d}",
            "status": gate.get_status_display().lower(),
        }
        body = f"{lead(gate, words)}\n\nOpen the release: {release_url(release.pk)}\n"
        messages += [
            (f"{SUBJECT_PREFIX} {subject.format(**words)}", body, None, [email]) for email in recipients
        ]
    return mail_send_each(messages) if messages else 0


def _may_sign(release, user_id: int) -> bool:
    """Segregation of duties: the owner and the last scope changer are not asked to sign."""
    return user_id not in release.barred_signer_ids


def _members_by_group(group_ids: set[int]) -> dict[int, list[tuple[int, str]]]:
    """(user id, e-mail) of the active members of each group who have an address and may sign (a
    group that lacks the permission has nobody to ask): one query."""
    signers = get_user_model().objects.with_perm(SIGN_PERMISSION, backend=MODEL_BACKEND)
    memberships = (
        get_user_model()
        .groups.through.objects.filter(group_id__in=group_ids, user__is_active=True, user__in=signers)
        .exclude(user__email="")
        .order_by("group_id", "user_id")
        .values_list("group_id", "user_id", "user__email")
    )
    members = defaultdict(list)
    for group_id, user_id, email in memberships:
        members[group_id].append((user_id, email))
    return members


def release_url(pk: int) -> str:
    return settings.FLIGHTDECK_BASE_URL + reverse("releases:detail", args=[pk])


def _waiting_lead(gate: Gate, words: dict) -> str:
    return (
        f"The {words['gate']} gate of {words['release']} waits for a sign-off from "
        f"{gate.signer_group.name}. It is due on {words['due']}."
    )


def _overdue_lead(gate: Gate, words: dict) -> str:
    return (
        f"The {words['gate']} gate of {words['release']} was due on {words['due']} and still waits for a "
        f"sign-off from {gate.signer_group.name}."
    )


def _decided_lead(gate: Gate, words: dict) -> str:
    lines = [f"The {words['gate']} gate of {words['release']} is {words['status']}."]
    if gate.status == Gate.Status.WAIVED:
        waiver_by = gate.waived_by.get_full_name() or gate.waived_by.get_username()
        lines.append(f"Waived by {waiver_by}: {gate.waiver_reason}")
    for signoff in gate.signoffs.order_by("signed_at"):
        comment = f": {signoff.comment}" if signoff.comment else ""
        lines.append(f"{signoff.signer_name} signed “{signoff.decision}”{comment}")
    return "\n".join(lines)
