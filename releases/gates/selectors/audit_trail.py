"""The reads of the audit trail page: one page of events with the names their sentences need, in a
fixed number of queries whatever the data size (the events, then the gates and releases they name)."""

from dataclasses import dataclass

from releases.gates.audit_words import Change, event_changes, event_sentence
from releases.models import AuditEvent, Gate, Release


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor: str
    sentence: str
    changes: list[Change]


def audit_events():
    """Every event, newest first, with its actor (the filter set narrows it)."""
    return AuditEvent.objects.select_related("actor").order_by("-seq")


def audit_rows(
    events, *, gates: dict[int, str] | None = None, releases: dict[int, str] | None = None
) -> list[AuditRow]:
    """Each event of the page as a sentence with full names, gate names and release labels; the
    names are read in two queries unless the caller knows them (`gates`: id → name, `releases`:
    id → "KEY version")."""
    events = list(events)
    if gates is None:
        gate_ids = {_gate_id(event) for event in events} - {None}
        gates = dict(Gate.objects.filter(pk__in=gate_ids).values_list("pk", "name")) if gate_ids else {}
    if releases is None:
        release_ids = {event.release_id for event in events} - {None}
        releases = (
            {
                pk: f"{key} {version}"
                for pk, key, version in Release.objects.filter(pk__in=release_ids).values_list(
                    "pk", "application__key", "version"
                )
            }
            if release_ids
            else {}
        )
    rows = []
    for event in events:
        actor = actor_name(event)
        data = (
            event.after
            if isinstance(event.after, dict)
            else event.before
            if isinstance(event.before, dict)
            else {}
        )
        sentence = event_sentence(
            action=event.action,
            actor=actor,
            before=event.before,
            after=event.after,
            object_repr=event.object_repr,
            object_type=event.object_type,
            object_id=event.object_id,
            gate=gates.get(_gate_id(event), "")
            or (str(data.get("name") or "") if event.object_type == "releases.gate" else ""),
            release=releases.get(event.release_id, "")
            or (event.object_repr if event.object_type == "releases.release" else ""),
        )
        rows.append(AuditRow(event, actor, sentence, event_changes(event.before, event.after)))
    return rows


def actor_name(event: AuditEvent) -> str:
    if event.actor is not None:
        return event.actor.get_full_name() or event.actor.get_username()
    return "System" if event.actor_label == "system" else event.actor_label


def _gate_id(event: AuditEvent) -> int | None:
    if event.object_type == "releases.gate":
        return _as_int(event.object_id)
    if event.object_type == "releases.signoff":
        data = event.after if isinstance(event.after, dict) else {}
        return _as_int(data.get("gate_id"))
    return None


def _as_int(value) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None
