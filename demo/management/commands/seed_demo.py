import argparse
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from demo.catalogue import SCALES
from demo.seeding import DemoSeedRefused, demo_seed


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Seed an empty instance with demo data: portfolios, applications, three years of releases around "
        "the anchor date (two back, one ahead), gates and sign-offs, environments and bookings, freezes, "
        "deployments, work items, builds and test runs, and one demo account per role "
        "(demo.catalogue.DEMO_USERS). The data is identical for the same --scale, --seed and --anchor; "
        "dates are laid out around the anchor (default today) so the demo always looks current. "
        "Does nothing if the instance already holds a demo seed; refuses to touch real data."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            choices=list(SCALES),
            default="medium",
            help="small: a few hundred rows (tests); medium: ~5,000 releases (the demo); "
            "enterprise: 50,000+ releases, a peak week of 1,600+ (default: medium).",
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default: 1).")
        parser.add_argument(
            "--anchor", type=iso_date, default=None, help="The demo's 'today', YYYY-MM-DD (default: today)."
        )

    def handle(self, *args, scale, seed, anchor, **options):
        anchor = anchor or timezone.localdate()
        started = time.perf_counter()
        try:
            result = demo_seed(scale=scale, seed=seed, anchor=anchor, progress=self.progress)
        except DemoSeedRefused as exc:
            raise CommandError(str(exc)) from exc
        if not result.created:
            scale, seed = result.summary["scale"], result.summary["seed"]
            self.stdout.write(f"Demo data already present (scale {scale}, seed {seed}); nothing to do.")
            return
        peak, seconds = result.summary["peak_week"], time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {scale} demo data (seed {seed}, anchor {anchor.isoformat()}) in {seconds:.1f} s; "
                f"peak week {peak['start']}: {peak['releases']:,} releases."
            )
        )

    def progress(self, stage: str, rows: int, seconds: float) -> None:
        self.stdout.write(f"  {stage:<24} {rows:>9,}  {seconds:6.1f} s")
