"""People, portfolios, applications, environments, gate policies and freeze windows: the organisation
the releases happen in."""

from datetime import date, timedelta

from demo.catalogue import (
    APPLICATIONS,
    COMPOSITES,
    GLOBAL_REQUIREMENTS,
    PORTFOLIO_REQUIREMENTS,
    PORTFOLIOS,
    AppSpec,
)
from demo.generation.world import DemoApp, DemoEnv, DemoPortfolio, World, nth_weekday, utc_at
from portal.roles import ENVIRONMENT_ADMIN, RELEASE_MANAGER, ROLES
from releases.freezes import frozen_days, horizon_from
from releases.gates.services.policies import Layers, overlay
from releases.models import (
    Application,
    Environment,
    EnvironmentComponent,
    FreezeWindow,
    GatePolicy,
    GateRequirement,
    Portfolio,
)
from releases.querysets import portfolio_lineage


def people_and_portfolios(world: World) -> None:
    tier = world.scale.tier
    tops = [p for p in PORTFOLIOS if p[3] is None and p[4] <= tier]
    programmes = [p for p in PORTFOLIOS if p[3] is not None and p[4] <= tier]
    slugs = [p[1] for p in tops + programmes]
    managers = world.members(RELEASE_MANAGER)  # "rm" first: the demo user runs Payments
    for i, (name, slug, code, parent, _tier) in enumerate(tops + programmes):
        top = i if parent is None else slugs.index(parent)
        manager = managers[i % len(managers)] if parent is None else world.portfolios[top].manager
        world.portfolios.append(DemoPortfolio(i, name, slug, code, top, manager))
    rows = [{"name": p.name, "slug": p.slug, "parent_id": None} for p in world.portfolios[: len(tops)]]
    world.add("portfolio", Portfolio, rows)
    rows = [{"name": p.name, "slug": p.slug, "parent_id": p.top} for p in world.portfolios[len(tops) :]]
    world.add("portfolio", Portfolio, rows, parent_id="portfolio")
    owners = [{"portfolio_id": p.idx, "user_id": p.manager} for p in world.portfolios]
    world.add(
        "portfolio_owner",
        Portfolio.owners.through,
        owners,
        "portfolio owners",
        portfolio_id="portfolio",
        user_id="user",
    )


def applications(world: World) -> None:
    rng = world.rng("applications")
    specs = [s for s in APPLICATIONS if s.tier <= world.scale.tier]
    keys = [s.key for s in specs]
    for i, spec in enumerate(specs):
        portfolio = world.portfolio(spec.portfolio)
        needs = [keys.index(k) for k in spec.needs if k in keys]
        tests = rng.randrange(400, 5000, 50)
        world.apps.append(DemoApp(i, spec, portfolio.idx, portfolio.top, needs, tests))
    rows = [
        {
            "portfolio_id": a.portfolio,
            "name": a.spec.name,
            "key": a.spec.key,
            "criticality": a.spec.criticality,
            "release_cadence": a.spec.cadence,
            "description": _app_description(a.spec),
        }
        for a in world.apps
    ]
    world.add("application", Application, rows, portfolio_id="portfolio")


def _app_description(spec: AppSpec) -> str:
    versions = "date-based versions (YYYY.M.N)" if spec.scheme == "calver" else "semantic versions"
    return f"{spec.name}: {spec.cadence.replace('_', ' ')} releases, {versions}."


def environments(world: World) -> None:
    """Exclusive SIT and UAT, shared QA and integration, perf labs, staging, production (not bookable),
    and composite end-to-end environments that book their components."""
    tier, rows = world.scale.tier, []

    def env(name, kind, capacity=1, bookable=True, portfolio=None, description=""):
        world.envs.append(DemoEnv(len(world.envs), name, kind, capacity, bookable, portfolio))
        rows.append(
            {
                "name": name,
                "kind": kind,
                "capacity": capacity,
                "bookable": bookable,
                "owner_group_id": ROLES.index(ENVIRONMENT_ADMIN),
                "description": description,
            }
        )

    env("DEV-SHARED", "dev", 20, False, description="Shared development cluster.")
    if tier >= 2:
        env("CI-SANDBOX", "dev", 8, False, description="Ephemeral CI namespaces.")
    for i in range(1, world.scale.sit_environments + 1):
        env(f"SIT-{i:02d}", "test", description="System integration test.")
    env("INT-SHARED", "test", 3, description="Shared integration environment for contract tests.")
    for p in world.portfolios:
        if p.top == p.idx:
            env(f"UAT-{p.code}", "uat", portfolio=p.idx, description=f"User acceptance testing for {p.name}.")
            if tier >= 3:
                env(f"UAT-{p.code}-2", "uat", portfolio=p.idx, description=f"Second UAT stream for {p.name}.")
                env(f"QA-{p.code}", "test", 3, portfolio=p.idx, description=f"Shared QA for {p.name}.")
    for i in range(1, {1: 1, 2: 2, 3: 4}[tier] + 1):
        env(f"PERF-{i:02d}", "perf", description="Production-sized performance lab.")
    env("STAGING-EU", "staging", description="Last stop before production, EU region.")
    env("PROD-EU", "prod", bookable=False, description="Production, EU region.")
    if tier >= 2:
        env("STAGING-UK", "staging", description="Last stop before production, UK region.")
        env("PROD-UK", "prod", bookable=False, description="Production, UK region.")
    if tier >= 3:
        env("DR-EU", "prod", bookable=False, description="Disaster recovery site.")
        for i in range(1, 5):
            env(f"TRAINING-{i:02d}", "uat", 2, description="Training for branch and call-centre staff.")
    links = []
    for name, parts in COMPOSITES:
        components = [world.env(part) for part in parts]
        if all(components):
            env(name, "uat", description=f"End-to-end environment; books {', '.join(parts)}.")
            world.envs[-1].components = [c.idx for c in components]
            links += [{"composite_id": world.envs[-1].idx, "component_id": c.idx} for c in components]
    world.add("environment", Environment, rows, owner_group_id="group")
    world.add(
        "environment_component",
        EnvironmentComponent,
        links,
        "environment components",
        composite_id="environment",
        component_id="environment",
    )


def gate_policies(world: World) -> None:
    """One global policy plus a few portfolio policies; a programme follows its parent's policy."""
    policies = [{"portfolio_id": None, "name": "Group release policy"}]
    requirements = [(0, r) for r in GLOBAL_REQUIREMENTS]  # (policy index, requirement)
    for slug, extra in PORTFOLIO_REQUIREMENTS.items():
        portfolio = world.portfolio(slug)
        if portfolio is not None:
            policies.append({"portfolio_id": portfolio.idx, "name": f"{portfolio.name} release policy"})
            requirements += [(len(policies) - 1, r) for r in extra]
    world.add("gate_policy", GatePolicy, policies, portfolio_id="portfolio")
    rows = [
        {
            "policy_id": policy,
            "kind": r["kind"],
            "name": r["name"],
            "signer_group_id": r["group"],
            "approvals_required": r["approvals"],
            "criteria": r["criteria"],
            "due_days_before_target": r["due"],
        }
        for policy, r in requirements
    ]
    world.add("gate_requirement", GateRequirement, rows, policy_id="gate_policy", signer_group_id="group")
    # Each portfolio's effective requirements, overlaid as the domain overlays them: the global
    # policy, then its parents', then its own, the nearest with the same (kind, name) winning.
    objs = [GateRequirement(**row) for row in rows]
    own: dict[int | None, list[GateRequirement]] = {}
    for obj, (policy, _r) in zip(objs, requirements, strict=True):
        own.setdefault(policies[policy]["portfolio_id"], []).append(obj)
    layers = Layers(world.parents(), {row["portfolio_id"]: GatePolicy(**row) for row in policies}, own)
    row_of = {id(obj): n for n, obj in enumerate(objs)}
    for p in world.portfolios:
        effective = (row_of[id(layered.requirement)] for layered in overlay(p.idx, layers))
        world.requirements[p.idx] = [(n, requirements[n][1]) for n in effective]


def _freeze(scope, starts_at, ends_at, reason, portfolio=None, environment=None, rrule="") -> dict:
    return {
        "scope": scope,
        "portfolio_id": portfolio,
        "environment_id": environment,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "reason": reason,
        "rrule": rrule,
    }


def freeze_windows(world: World) -> None:
    """Global year-end freezes, portfolio freezes (one recurring by RRULE) and environment freezes;
    then the days each portfolio's releases avoid and the intervals bookings avoid."""
    a, rows, years = world.anchor, [], range(world.start.year - 1, world.end.year + 1)
    for year in years:
        if _overlaps_window(world, date(year, 12, 18), date(year + 1, 1, 4)):
            rows.append(
                _freeze(
                    "global",
                    utc_at(date(year, 12, 18)),
                    utc_at(date(year + 1, 1, 4)),
                    "Year-end change freeze",
                )
            )
    payments = world.portfolio("payments").idx
    for year in years:
        thanksgiving = nth_weekday(year, 11, 3, 4)
        if not _overlaps_window(world, thanksgiving - timedelta(days=1), thanksgiving + timedelta(days=6)):
            continue
        rows.append(
            _freeze(
                "portfolio",
                utc_at(thanksgiving - timedelta(days=1)),
                utc_at(thanksgiving + timedelta(days=6)),
                "Black Friday and Cyber Monday trading peak",
                portfolio=payments,
            )
        )
    saturday = nth_weekday(world.start.year, world.start.month, 5, 1)
    rows.append(
        _freeze(
            "portfolio",
            utc_at(saturday),
            utc_at(saturday + timedelta(days=2)),
            "Monthly infrastructure patching weekend",
            portfolio=world.portfolio("core-platforms").idx,
            rrule="FREQ=MONTHLY;BYDAY=1SA",
        )
    )
    if retail := world.portfolio("retail-banking"):
        friday = a + timedelta(days=42 + (4 - a.weekday()) % 7)
        rows.append(
            _freeze(
                "portfolio",
                utc_at(friday, 18),
                utc_at(friday + timedelta(days=3), 6),
                "Base-rate change weekend",
                portfolio=retail.idx,
            )
        )
    if claims := world.portfolio("claims"):
        rows.append(
            _freeze(
                "portfolio",
                utc_at(a - timedelta(days=75)),
                utc_at(a - timedelta(days=68)),
                "Storm season readiness",
                portfolio=claims.idx,
            )
        )
    for name, first, last, reason in [
        ("PERF-01", 9, 11, "Storage array upgrade"),
        ("UAT-PAY", -30, -28, "Data refresh from production"),
    ]:
        rows.append(
            _freeze(
                "environment",
                utc_at(a + timedelta(days=first)),
                utc_at(a + timedelta(days=last)),
                reason,
                environment=world.env(name).idx,
            )
        )
    world.add("freeze_window", FreezeWindow, rows, portfolio_id="portfolio", environment_id="environment")
    _index_freezes(world, rows)


def _overlaps_window(world: World, first: date, end: date) -> bool:
    return first < world.end and world.start < end


def _index_freezes(world: World, rows: list[dict]) -> None:
    """The days each portfolio's releases avoid and the windows each environment's bookings avoid, by
    the domain's rules: a day is frozen when any part of an occurrence is (frozen_days, as the forecast
    and the release-target check count it), and a portfolio's freeze holds its programmes too
    (portfolio_lineage)."""
    horizon = horizon_from(world.anchor)
    days_by_scope: dict[int | None, set[int]] = {}  # portfolio index (None: global) -> date ordinals
    for row in rows:
        window = FreezeWindow(**row)
        if row["scope"] == "environment":
            world.booking_freezes.setdefault(row["environment_id"], []).append(window)
            continue
        if row["scope"] == "global":
            world.booking_freezes.setdefault(None, []).append(window)
        days = days_by_scope.setdefault(row["portfolio_id"], set())
        for first, day_after in frozen_days(window, start=None, end=horizon):
            days.update(range(first.toordinal(), day_after.toordinal()))
    parents = world.parents()
    for p in world.portfolios:
        scopes = (None, *portfolio_lineage(p.idx, parents))
        world.frozen_days[p.idx] = set().union(*(days_by_scope.get(s, set()) for s in scopes))
