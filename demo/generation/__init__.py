"""Generation: a realistic release portfolio laid out around an anchor date, built in memory.

`generate()` builds every row from `random.Random` streams seeded by the seed alone: no database, no
clock, no set ordering. The same (scale, seed, anchor) therefore gives the same rows, and
`DemoData.fingerprint()` proves it. demo.seeding inserts them.

The story the data tells, relative to the anchor ("today"): two years of shipped history, a year of
plans, and a quarterly release week a few weeks ahead (1,600+ releases at enterprise scale), most of
whose releases wait for the slow quarterly Core Ledger release.

Where the data must obey a domain rule (freeze windows, programme ancestry, a policy's effective
gates, gate evidence, booking capacity), it asks the domain rather than restating the rule.

The steps run in this order, each in the module of its area, over one shared World (world.py):
organisation.py (people, portfolios, applications, environments, gate policies, freezes),
schedule.py (releases, trains, dependencies), facts.py (work items, builds, test runs, deployments),
gates.py (gates and sign-offs) and bookings.py.
"""

from datetime import date

from demo.catalogue import SCALES
from demo.generation.bookings import environment_bookings
from demo.generation.facts import builds_and_test_runs, deployments, work_items
from demo.generation.gates import gates_and_sign_offs
from demo.generation.organisation import (
    applications,
    environments,
    freeze_windows,
    gate_policies,
    people_and_portfolios,
)
from demo.generation.schedule import dependencies, releases
from demo.generation.world import DemoData, World


def generate(*, scale: str, seed: int, anchor: date) -> DemoData:
    """Build the whole demo dataset in memory. Pure: the same arguments give the same rows."""
    world = World(SCALES[scale], seed, anchor)
    for step in (
        people_and_portfolios,
        applications,
        environments,
        gate_policies,
        freeze_windows,
        releases,
        dependencies,
        work_items,
        builds_and_test_runs,
        gates_and_sign_offs,
        environment_bookings,
        deployments,
    ):
        step(world)
    return DemoData(scale, seed, anchor, world.users, world.tables, world.peak_monday, world.peak_count)
