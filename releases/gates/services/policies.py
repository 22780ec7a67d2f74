"""Gate policies and the gates they give releases.

The effective policy of a portfolio is the global policy (portfolio NULL), overlaid by the policy of
each ancestor portfolio and then by its own: requirements are keyed by (kind, name), the nearest wins.

`gates_sync_for_release` makes a release's gates follow its effective policy: missing gates are
created, pending ones follow their requirement (due date, signer group, approvals), pending gates
without sign-offs whose requirement left the policy are deleted. Signers are not told per created
gate: one announcement run after the change tells each of them once about the gates now within their
lead time (releases.gates.services.notifications.gates_announce). Decided gates (passed, failed,
waived) are never touched, and neither are gates without a requirement (added by hand, or kept after
their requirement was deleted). Closed releases keep the gates they have.

A policy change can reach every release (the global policy does), so the policy services record the
change and queue `gate_policy_propagate_task` after the commit; the worker then syncs the open
releases in reach batch by batch: a fixed number of reads and writes per batch (the audit events of
the gates that changed included), each batch in its own short transaction (a rerun converges).
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count

from releases import tasks
from releases.audit import audit_record, audit_record_many, snapshot
from releases.gates.services import evidence
from releases.models import Gate, GatePolicy, GateRequirement, Portfolio, Release
from releases.querysets import CLOSED_STATUSES, SIGN_PERMISSION, portfolio_lineage, portfolio_subtree

PROPAGATION_BATCH = 500
SIGN_CODENAME = SIGN_PERMISSION.split(".")[1]
# The fields of a pending gate that follow its requirement.
FOLLOWED_FIELDS = ("requirement_id", "kind", "name", "due_date", "signer_group_id", "approvals_required")
REQUIREMENT_FIELDS = (
    "kind",
    "name",
    "signer_group",
    "approvals_required",
    "criteria",
    "due_days_before_target",
)


# --- the effective policy ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layers:
    """Each portfolio's parent, each policy by its portfolio (None: the global policy), and each
    policy's own requirements, by the same key."""

    parents: dict[int, int | None]
    policies: dict[int | None, GatePolicy]
    own: dict[int | None, list[GateRequirement]]


def policy_layers(parents: dict[int, int | None] | None = None) -> Layers:
    """Three queries (two when the caller has read the portfolios), whatever the data size."""
    if parents is None:
        parents = Portfolio.objects.parents()
    policies = {p.portfolio_id: p for p in GatePolicy.objects.prefetch_related("requirements")}
    return Layers(parents, policies, {pk: list(policy.requirements.all()) for pk, policy in policies.items()})


@dataclass(frozen=True)
class Layered:
    """An effective requirement, and the inherited one with the same (kind, name) it replaces."""

    requirement: GateRequirement
    overrides: GateRequirement | None = None


def overlay(pk: int | None, layers: Layers) -> list[Layered]:
    by_key: dict[tuple[str, str], Layered] = {}
    for layer in lineage(pk, layers.parents):
        for requirement in layers.own.get(layer, []):
            key = (requirement.kind, requirement.name)
            inherited = by_key.get(key)
            by_key[key] = Layered(requirement, inherited.requirement if inherited else None)
    return list(by_key.values())


def effective_requirements_by_portfolio() -> dict[int | None, list[GateRequirement]]:
    """Every portfolio's effective requirements, and the global ones under None."""
    layers = policy_layers()
    return {pk: [layered.requirement for layered in overlay(pk, layers)] for pk in [None, *layers.parents]}


def effective_requirements(portfolio: Portfolio | None) -> list[GateRequirement]:
    """The requirements a release of `portfolio` needs (None: the global policy alone)."""
    return effective_requirements_by_portfolio()[portfolio.pk if portfolio else None]


def lineage(pk: int | None, parents: dict[int, int | None]) -> list[int | None]:
    """None (global), then the ancestors from the top down, then the portfolio itself."""
    return [None, *reversed(portfolio_lineage(pk, parents))]


def policy_reach(portfolio_id: int | None, parents: dict[int, int | None] | None = None) -> list[int] | None:
    """The portfolio and its descendants (programmes): the releases a change of its policy reaches.
    None for the global policy, which reaches every portfolio."""
    if portfolio_id is None:
        return None
    return portfolio_subtree(portfolio_id, Portfolio.objects.parents() if parents is None else parents)


# --- gates of releases --------------------------------------------------------------------------------


@dataclass
class SyncResult:
    created: list[Gate] = field(default_factory=list)
    updated: list[Gate] = field(default_factory=list)
    deleted: int = 0

    def add(self, other: "SyncResult") -> None:
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted

    def as_dict(self) -> dict:
        return {"created": len(self.created), "updated": len(self.updated), "deleted": self.deleted}


@transaction.atomic
def gates_sync_for_release(*, release: Release, by=None) -> list[Gate]:
    """Make the release's gates follow its portfolio's effective policy; returns its gates."""
    release = Release.objects.select_related("application").get(pk=release.pk)
    result = _sync_batch([release], effective_requirements_by_portfolio(), by=by)
    _announce_after_commit(result)
    return list(Gate.objects.filter(release=release).order_by("due_date", "kind", "name"))


def gates_propagate(
    *, portfolio_ids: list[int] | None, by=None, removed_gate_ids=(), batch_size: int = PROPAGATION_BATCH
) -> SyncResult:
    """Sync the open releases of these portfolios (None: all), one short transaction per batch.

    `removed_gate_ids` are gates whose requirement was deleted: those still pending without a
    sign-off go too (the requirement's deletion cleared their link)."""
    effective = effective_requirements_by_portfolio()
    releases = Release.objects.open()
    if portfolio_ids is not None:
        releases = releases.filter(application__portfolio_id__in=portfolio_ids)
    ids = list(releases.order_by("pk").values_list("pk", flat=True))
    total = SyncResult()
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            batch = Release.objects.select_related("application").filter(
                pk__in=ids[start : start + batch_size]
            )
            total.add(
                _sync_batch(list(batch), effective, by=by, removed=set(removed_gate_ids), policy_changed=True)
            )
    _announce_after_commit(total)
    return total


def _announce_after_commit(result: SyncResult) -> None:
    """New gates and moved due dates may bring gates into their lead time: one announcement run after
    the whole change (not one per batch, not one per gate), so each signer hears once, in a summary.
    Gates due later are announced by beat's gates_announce_task when they enter their lead time."""
    if result.created or result.updated:
        transaction.on_commit(lambda: tasks.gates_announce_task.delay())


@dataclass
class _Plan:
    created: list[Gate] = field(default_factory=list)
    updated: list[tuple[Gate, dict]] = field(default_factory=list)  # (gate, its state before)
    doomed: list[Gate] = field(default_factory=list)


def _sync_batch(
    releases: list[Release], effective: dict, *, by, removed: set[int] = frozenset(), policy_changed=False
) -> SyncResult:
    """One read of the batch's gates, then bulk create, bulk update and one delete."""
    open_releases = [r for r in releases if r.is_open]
    existing: dict[int, list[Gate]] = {r.pk: [] for r in open_releases}
    for gate in (
        Gate.objects.filter(release__in=open_releases)
        .annotate(signoff_count=Count("signoffs"))
        .order_by("pk")
    ):
        existing[gate.release_id].append(gate)
    plan = _Plan()
    for release in open_releases:
        requirements = effective.get(release.application.portfolio_id, effective[None])
        _plan_release(plan, release, requirements, existing[release.pk], removed)
    result = _write(plan, by=by)
    # New gates get their evidence; after a policy change, changed criteria give a new verdict too.
    refresh = [r.pk for r in open_releases] if policy_changed else {g.release_id for g in result.created}
    if refresh:
        evidence.gate_evidence_refresh(release_ids=refresh)
    return result


def _plan_release(plan: _Plan, release: Release, requirements, gates: list[Gate], removed: set[int]) -> None:
    """A gate matches its requirement by (kind, name), else by the requirement it points to (renamed)."""
    by_key = {(g.kind, g.name): g for g in gates}
    by_requirement = {g.requirement_id: g for g in gates if g.requirement_id}
    matched: set[int] = set()
    for requirement in requirements:
        wanted = _followed(release, requirement)
        gate = by_key.get((requirement.kind, requirement.name)) or by_requirement.get(requirement.pk)
        if gate is None or gate.pk in matched:
            plan.created.append(Gate(release=release, status=Gate.Status.PENDING, **wanted))
            continue
        matched.add(gate.pk)
        if gate.status == Gate.Status.PENDING and any(getattr(gate, k) != v for k, v in wanted.items()):
            plan.updated.append((gate, snapshot(gate)))
            if gate.signer_group_id != wanted["signer_group_id"]:
                gate.announced_at = None  # the new group has not heard of it: announce it again
            for name, value in wanted.items():
                setattr(gate, name, value)
    plan.doomed += [
        g
        for g in gates
        if g.pk not in matched
        and (g.requirement_id or g.pk in removed)
        and g.status == Gate.Status.PENDING
        and not g.signoff_count
    ]


def _followed(release: Release, requirement: GateRequirement) -> dict:
    return {
        "requirement_id": requirement.pk,
        "kind": requirement.kind,
        "name": requirement.name,
        "due_date": release.target_date - timedelta(days=requirement.due_days_before_target),
        "signer_group_id": requirement.signer_group_id,
        "approvals_required": requirement.approvals_required,
    }


def _write(plan: _Plan, *, by) -> SyncResult:
    """Deletes first (a renamed requirement's new gate may take a removed gate's name), then bulk
    inserts and updates, each change audited; a fixed number of queries whatever the batch holds."""
    entries = [
        {
            "action": "gate.delete",
            "object_type": "releases.gate",
            "object_id": str(g.pk),
            "before": snapshot(g) | {"repr": str(g)},
        }
        for g in plan.doomed
    ]
    if plan.doomed:
        Gate.objects.filter(pk__in=[g.pk for g in plan.doomed]).delete()
    created = Gate.objects.bulk_create(plan.created) if plan.created else []
    entries += [{"action": "gate.create", "obj": gate} for gate in created]
    if plan.updated:
        Gate.objects.bulk_update([gate for gate, _ in plan.updated], [*FOLLOWED_FIELDS, "announced_at"])
    entries += [{"action": "gate.update", "obj": gate, "before": before} for gate, before in plan.updated]
    audit_record_many(actor=by, entries=entries)
    return SyncResult(created, [gate for gate, _ in plan.updated], len(plan.doomed))


# --- policy writes ----------------------------------------------------------------------------------


@transaction.atomic
def gate_policy_create(*, portfolio: Portfolio | None, by, name: str = "") -> GatePolicy:
    """A portfolio's own policy (empty: it inherits everything until requirements are added)."""
    policy = GatePolicy(portfolio=portfolio, name=name or f"{portfolio or 'Global'} release policy")
    policy.full_clean()
    policy.save()
    audit_record(actor=by, action="gatepolicy.create", obj=policy)
    return policy


@transaction.atomic
def gate_requirement_save(
    *, policy: GatePolicy, by, requirement: GateRequirement | None = None, **values
) -> GateRequirement:
    """Add a requirement to the policy, or change one of its requirements; open releases in the
    policy's reach follow after the commit. Raises ValidationError (nothing written) for bad values.
    People's changes come here through policy_changes (a weakening waits for a second person)."""
    unknown = set(values) - set(REQUIREMENT_FIELDS)
    if unknown:
        raise TypeError(f"gate_requirement_save() got fields it does not set: {sorted(unknown)}")
    before = None
    if requirement is None:
        requirement = GateRequirement(policy=policy)
    else:
        requirement = GateRequirement.objects.select_for_update().get(pk=requirement.pk, policy=policy)
        before = snapshot(requirement)
    for name, value in values.items():
        setattr(requirement, name, value)
    if before is not None and snapshot(requirement) == before:
        return requirement
    requirement_validate(requirement)
    requirement.save()
    verb = "create" if before is None else "update"
    audit_record(actor=by, action=f"gaterequirement.{verb}", obj=requirement, before=before)
    _propagate_after_commit(policy, by)
    return requirement


def requirement_validate(requirement: GateRequirement) -> None:
    """ValidationError, by field, for values a requirement may not hold: bad criteria, a clash with
    another requirement of the policy, or a signer group whose members cannot sign (a gate nobody
    can ever sign would wait for a waiver on every release)."""
    errors = {}
    if problems := evidence.criteria_problems(requirement.criteria):
        errors["criteria"] = problems
    group = requirement.signer_group
    if (
        group is not None
        and not group.permissions.filter(content_type__app_label="releases", codename=SIGN_CODENAME).exists()
    ):
        errors["signer_group"] = (
            f"Members of {group.name} cannot sign gates: the group lacks the sign-off permission. "
            "Choose a group that signs (a reviewer or change manager role)."
        )
    try:
        requirement.full_clean()
    except ValidationError as invalid:
        errors = invalid.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def gate_requirement_delete(*, requirement: GateRequirement, by) -> None:
    """Remove a requirement. Its pending gates without a sign-off go (after the commit, with the rest
    of the propagation); decided or signed ones stay, without a requirement, as the record."""
    requirement = GateRequirement.objects.select_for_update().select_related("policy").get(pk=requirement.pk)
    removable = list(
        requirement.gates.filter(status=Gate.Status.PENDING, signoffs__isnull=True)
        .exclude(release__status__in=CLOSED_STATUSES)
        .values_list("pk", flat=True)
    )
    before = snapshot(requirement) | {"repr": str(requirement)}
    pk, policy = requirement.pk, requirement.policy
    requirement.delete()
    audit_record(
        actor=by,
        action="gaterequirement.delete",
        object_type="releases.gaterequirement",
        object_id=str(pk),
        before=before,
    )
    _propagate_after_commit(policy, by, removed_gate_ids=removable)


@transaction.atomic
def gate_policy_change_denied(*, by, attempt: str, target: dict) -> None:
    """Record a refused attempt to change a policy (`attempt`: the view; `target`: its arguments)."""
    audit_record(
        actor=by,
        action="gatepolicy.change.denied",
        object_type="releases.gatepolicy",
        after={"attempt": attempt, **target},
    )


def _propagate_after_commit(policy: GatePolicy, by, removed_gate_ids=()) -> None:
    reach = policy_reach(policy.portfolio_id)
    by_id = by.pk if by is not None and by.is_authenticated else None
    removed = list(removed_gate_ids)
    transaction.on_commit(
        lambda: tasks.gate_policy_propagate_task.delay(
            portfolio_ids=reach, by_id=by_id, removed_gate_ids=removed
        )
    )
