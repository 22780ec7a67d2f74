"""The release the README's API examples name, added to a demo that lacks it.

The demo's versions follow from its seed and its anchor date (today for `dev.py run`), so no version
of the generated data is the same in every demo. The README's examples ask about PAY 4.2.0; this
command adds that release once, through the release service (so it gets its gates, all pending), a
few weeks after the demo's anchor (or after the freeze that holds that day). `dev.py run` runs it
after seed_demo; running it again changes nothing.
"""

from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo.seeding import demo_seed_summary
from releases.models import Application, Release
from releases.planning.services.freezes import release_target_freeze
from releases.planning.services.releases import release_create

EXAMPLE_APPLICATION, EXAMPLE_VERSION = "PAY", "4.2.0"
EXAMPLE_OWNER = "rm"  # demo.catalogue.DEMO_USERS' release manager
EXAMPLE_WEEKS_AHEAD = 3


class Command(BaseCommand):
    help = (
        f"Add {EXAMPLE_APPLICATION} {EXAMPLE_VERSION}, the release the README's API examples name, to "
        "the demo data (in progress, its gates pending); does nothing if it is there already."
    )

    def handle(self, *args, **options):
        summary = demo_seed_summary()
        if summary is None:
            raise CommandError("This instance holds no demo seed (run seed_demo first).")
        application = Application.objects.filter(key=EXAMPLE_APPLICATION).first()
        if application is None:
            raise CommandError(f"The demo has no application {EXAMPLE_APPLICATION}.")
        with transaction.atomic():
            release = Release.objects.filter(application=application, version=EXAMPLE_VERSION).first()
            if release is None:
                anchor = date.fromisoformat(summary["anchor"])
                release = release_create(
                    application=application,
                    version=EXAMPLE_VERSION,
                    target_date=_first_open_day(application, anchor + timedelta(weeks=EXAMPLE_WEEKS_AHEAD)),
                    status=Release.Status.IN_PROGRESS,
                    summary="The release the README's API examples ask about",
                    owner=get_user_model().objects.filter(username=EXAMPLE_OWNER).first(),
                    by=None,
                )
        self.stdout.write(f"{EXAMPLE_APPLICATION} {EXAMPLE_VERSION} is release {release.pk}.")


def _first_open_day(application: Application, day: date) -> date:
    """`day`, or the first day after the freezes that hold it (a new release may not target one)."""
    while frozen := release_target_freeze(release=Release(application=application), target_date=day):
        day = frozen.day_after
    return day
