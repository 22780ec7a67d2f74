"""E-mail about gates: they wait for a group, became overdue, or were decided.

Run by the worker (releases.tasks), enqueued after the commit of the change they announce, so a
rolled-back change sends nothing. Sending is network I/O: never inside a transaction. One message
per recipient, so nobody sees who else was told.

No storms: a gate is announced ("waits for your sign-off") when it enters its lead time (due within
settings.GATE_ANNOUNCE_LEAD_DAYS), not when a policy creates it a year ahead, and once (its
`announced_at` stamp). Waiting and overdue notices are summarised per person: a policy change that
gives 50 releases a gate their group signs is one message to each member, listing the gates.
"""

from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from releases.models import Gate
from releases.notifications.services.chat import chat_announce
from releases.notifications.services.delivery import Kind, Notice, deliver, release_url
from releases.querysets import CLOSED_STATUSES, SIGN_PERMISSION

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SUMMARY_LINES = 100  # a summary lists this many gates, then says how many more


def gates_announce(*, gate_ids: list[int] | None = None, today: date | None = None) -> int:
    """Announce the pending gates (of `gate_ids`, or all) that entered their lead time and were never
    announced: one message per signer, listing their gates. Returns the messages sent.

    One UPDATE claims the gates by stamping them with this run's time, so an overlapping run finds
    nothing left to claim; the claimed gates are then read back by that stamp.
    """
    today = today or timezone.localdate()
    horizon = today + timedelta(days=settings.GATE_ANNOUNCE_LEAD_DAYS)
    stamp = timezone.now()
    due = Gate.objects.filter(
        status=Gate.Status.PENDING,
        announced_at__isnull=True,
        due_date__lte=horizon,
        approvals_required__gt=0,
        signer_group__isnull=False,
    ).exclude(release__status__in=CLOSED_STATUSES)
    if gate_ids is not None:
        due = due.filter(pk__in=gate_ids)
    if not due.update(announced_at=stamp):
        return 0
    gates = _gates().filter(announced_at=stamp)
    return _send_summaries(gates, kind=Kind.GATE_WAITING, one=_waiting_one, many=_waiting_many)


def gate_waiting_notify(*, gate_ids: list[int]) -> int:
    """The gates of `gate_ids` that are due within their lead time, announced (see gates_announce)."""
    return gates_announce(gate_ids=gate_ids)


def gates_overdue_notify(*, today: date | None = None) -> int:
    """Tell the signer groups of pending gates now past their due date, once per gate, one message
    per person (claimed like gates_announce)."""
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
    return _send_summaries(gates, kind=Kind.GATE_OVERDUE, one=_overdue_one, many=_overdue_many)


def gate_decided_notify(*, gate_id: int) -> int:
    """Tell the release owner and the signer group how a gate was decided."""
    gate = (
        _gates()
        .select_related("release__owner", "waived_by")
        .filter(pk=gate_id)
        .exclude(status=Gate.Status.PENDING)
        .first()
    )
    if gate is None:
        return 0
    release = gate.release
    recipients = list(_members_by_group({gate.signer_group_id} - {None})[gate.signer_group_id])
    owner = release.owner
    if owner is not None and owner.is_active and owner.email and owner.pk not in {u for u, _ in recipients}:
        recipients.insert(0, (owner.pk, owner.email))
    words = _words(gate)
    subject = "{release}: “{gate}” {status}".format(**words)
    body = f"{_decided_lead(gate, words)}\n\nOpen the release: {release_url(release.pk)}\n"
    sent = deliver([Notice(uid, email, Kind.GATE_DECIDED, subject, body) for uid, email in recipients])
    chat_announce(kind=Kind.GATE_DECIDED, text=_decided_lead(gate, words), link=release_url(release.pk))
    return sent


# --- building the messages ------------------------------------------------------------------------


def _gates():
    return Gate.objects.select_related("release__application", "signer_group").order_by("pk")


def _send_summaries(gates, *, kind: str, one, many) -> int:
    """Each signer who may sign hears once: `one(gate, words)` (subject, body) for a single gate,
    `many(lines)` (subject, lead) for several."""
    gates = list(gates)
    members = _members_by_group({gate.signer_group_id for gate in gates} - {None})
    by_person: dict[tuple[int, str], list[Gate]] = defaultdict(list)
    for gate in gates:
        for user_id, email in members[gate.signer_group_id]:
            if _may_sign(gate.release, user_id):
                by_person[(user_id, email)].append(gate)
    notices = []
    for (user_id, email), theirs in by_person.items():
        if len(theirs) == 1:
            gate = theirs[0]
            subject, lead = one(gate, _words(gate))
            body = f"{lead}\n\nOpen the release: {release_url(gate.release_id)}\n"
        else:
            lines = [_gate_line(gate) for gate in theirs[:SUMMARY_LINES]]
            if len(theirs) > SUMMARY_LINES:
                lines.append(f"… and {len(theirs) - SUMMARY_LINES} more.")
            subject, lead = many(len(theirs))
            body = lead + "\n\n" + "\n".join(lines) + "\n"
        notices.append(Notice(user_id, email, kind, subject, body))
    return deliver(notices)


def _words(gate: Gate) -> dict:
    release = gate.release
    return {
        "release": f"{release.application.key} {release.version}",
        "gate": gate.name,
        "due": f"{gate.due_date:%Y-%m-%d}",
        "status": gate.get_status_display().lower(),
    }


def _gate_line(gate: Gate) -> str:
    words = _words(gate)
    return f"- {words['release']}: {words['gate']}, due {words['due']}: {release_url(gate.release_id)}"


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


def _waiting_one(gate: Gate, words: dict) -> tuple[str, str]:
    return (
        "{release}: “{gate}” waits for your sign-off".format(**words),
        f"The {words['gate']} gate of {words['release']} waits for a sign-off from "
        f"{gate.signer_group.name}. It is due on {words['due']}.",
    )


def _waiting_many(count: int) -> tuple[str, str]:
    return (f"{count} new gates wait for your sign-off", f"{count} gates now wait for your sign-off:")


def _overdue_one(gate: Gate, words: dict) -> tuple[str, str]:
    return (
        "Overdue: {release} “{gate}” was due {due}".format(**words),
        f"The {words['gate']} gate of {words['release']} was due on {words['due']} and still waits for a "
        f"sign-off from {gate.signer_group.name}.",
    )


def _overdue_many(count: int) -> tuple[str, str]:
    return (f"Overdue: {count} gates wait for your sign-off", f"{count} gates are past due and still wait:")


def _decided_lead(gate: Gate, words: dict) -> str:
    lines = [f"The {words['gate']} gate of {words['release']} is {words['status']}."]
    if gate.status == Gate.Status.WAIVED:
        waiver_by = gate.waived_by.get_full_name() or gate.waived_by.get_username()
        lines.append(f"Waived by {waiver_by}: {gate.waiver_reason}")
    for signoff in gate.signoffs.order_by("signed_at"):
        comment = f": {signoff.comment}" if signoff.comment else ""
        lines.append(f"{signoff.signer_name} signed “{signoff.decision}”{comment}")
    return "\n".join(lines)
