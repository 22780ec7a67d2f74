"""Gates from each portfolio's effective policy, their evidence and their sign-offs."""

import hashlib
import json
import random
from datetime import timedelta

from demo.catalogue import REJECT_COMMENTS, WAIVER_REASONS
from demo.generation.world import DemoRelease, World, pick, utc_at
from portal.roles import ROLES
from releases.gates.services.evidence import NO_EVIDENCE, build_evidence, qa_evidence, scope_evidence
from releases.models import Gate, SignOff

GATE_DAYS_BACK = 90  # older releases predate the gate policy


def gates_and_sign_offs(world: World) -> None:
    """Gates from the portfolio's effective policy for the releases under way and those shipped since
    the policy took effect, with the latest evidence (test run, build, work items) and the human
    sign-offs. Planned releases get theirs from the first policy change (the propagation task): at
    enterprise scale they would add 51,000 rows to the seed's slowest stage."""
    rng = world.rng("gates")
    since = world.anchor - timedelta(days=GATE_DAYS_BACK)
    gates, sign_offs = [], []
    for r in world.releases:
        if r.status in ("planned", "cancelled") or (r.status == "released" and r.target < since):
            continue
        for requirement_row, req in world.requirements[world.apps[r.app].portfolio]:
            gate = _gate(world, rng, r, requirement_row, req)
            signed = _sign_offs(world, rng, r, req, gate)
            sign_offs += [s | {"gate_id": len(gates)} for s in signed]
            gates.append(gate)
    world.add(
        "gate",
        Gate,
        gates,
        release_id="release",
        requirement_id="gate_requirement",
        signer_group_id="group",
        waived_by_id="user",
    )
    world.add("sign_off", SignOff, sign_offs, gate_id="gate", signer_id="user")


def _gate(world: World, rng: random.Random, r: DemoRelease, requirement_row: int, req: dict) -> dict:
    due = r.target - timedelta(days=req["due"])
    evidence = _evidence(r, req)
    status = _gate_status(rng, r, req, due < world.anchor, evidence, late=r.target < world.anchor)
    decided_day = min(due, r.actual or due, world.anchor - timedelta(days=1)) - timedelta(
        days=rng.randint(0, 3)
    )
    decided_at = None if status == "pending" else utc_at(decided_day, rng.randint(10, 17), rng.randrange(60))
    if status in ("passed", "failed") and not req["approvals"] and _evidence_time(evidence, world):
        decided_at = evidence["evidence_at"]  # the evidence decided it, when it arrived
    waived = status == "waived"
    return {
        "release_id": r.idx,
        "requirement_id": requirement_row,
        "kind": req["kind"],
        "name": req["name"],
        "status": status,
        "due_date": due,
        "signer_group_id": req["group"],
        "approvals_required": req["approvals"],
        "decided_at": decided_at,
        **evidence,
        "waived_by_id": world.user("admin") if waived else None,
        "waiver_reason": rng.choice(WAIVER_REASONS) if waived else "",
    }


def _evidence_time(evidence: dict, world: World) -> bool:
    return evidence["evidence_at"] is not None and evidence["evidence_at"] <= world.now


def _evidence(r: DemoRelease, req: dict) -> dict:
    """The latest automatic evidence, computed by the same rules as releases.gates.services.evidence (so a
    refresh of the seeded gates finds nothing to change)."""
    criteria, kind = req["criteria"], req["kind"]
    if kind == "qa":
        evidence = qa_evidence(criteria, list(r.last_runs.values()))
    elif kind == "build":
        build = r.last_build
        evidence = (
            NO_EVIDENCE
            if build is None
            else build_evidence(
                criteria,
                **{name: build[name] for name in ("job", "number", "result", "started_at", "duration_ms")},
            )
        )
    elif kind == "scope":
        evidence = scope_evidence(
            criteria, in_scope=r.in_scope, open_items=r.open_items, descoped=r.descoped, at=r.scope_at
        )
    else:
        evidence = NO_EVIDENCE
    return evidence.as_fields()


def _gate_status(
    rng: random.Random, r: DemoRelease, req: dict, overdue: bool, evidence: dict, late: bool
) -> str:
    if r.status == "released" or (r.status == "ready" and req["approvals"]):
        return "waived" if req["kind"] != "security" and rng.random() < 0.03 else "passed"
    if req["approvals"] == 0:  # decided by its evidence alone, as long as the release is open
        return {True: "passed", False: "failed", None: "pending"}[evidence["evidence_ok"]]
    if late and req["kind"] == "security":  # what holds a release past its target
        return pick(rng, (("failed", 50), ("pending", 50)))
    if overdue:
        return pick(rng, (("passed", 80), ("failed", 8), ("pending", 12)))
    return pick(rng, (("passed", 15), ("failed", 3), ("pending", 82)))


def _sign_offs(world: World, rng: random.Random, r: DemoRelease, req: dict, gate: dict) -> list[dict]:
    """All the approvals of a passed gate, the rejection of a failed one, and half a quorum for some
    pending ones. Signers are members of the gate's group, never the release's own owner."""
    status = gate["status"]
    if req["group"] is None or status == "waived":
        return []
    if status == "passed":
        decisions = ["approve"] * req["approvals"]
    elif status == "failed":
        decisions = ["reject"]
    elif req["approvals"] > 1 and rng.random() < 0.4:
        decisions = ["approve"]  # waiting for the second reviewer
    else:
        return []
    signers = [u for u in world.members(ROLES[req["group"]]) if u != r.owner]
    rng.shuffle(signers)
    # The deciding signature is the gate's decision time; earlier approvals came hours before it.
    last = gate["decided_at"] or world.now - timedelta(days=rng.randint(1, 3), hours=rng.randint(1, 8))
    release = f"{world.apps[r.app].spec.key} {r.version}"
    rows = []
    signed = list(zip(signers, decisions, strict=False))
    for n, (signer, decision) in enumerate(signed):
        earlier = len(signed) - 1 - n
        state = {"release": release, "target": r.target.isoformat(), "gate": req["name"], "approvals": n}
        rows.append(
            {
                "signer_id": signer,
                "signer_name": world.users[signer]["full_name"],
                "decision": decision,
                "meaning": f"I have reviewed {release} against the {req['name']} criteria and {decision} it.",
                "comment": rng.choice(REJECT_COMMENTS) if decision == "reject" else "",
                "signed_at": last - timedelta(hours=2 * earlier, minutes=rng.randrange(60) if earlier else 0),
                "reauthenticated": True,
                "state_hash": hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest(),
            }
        )
    return rows
