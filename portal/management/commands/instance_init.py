import os

from django.core.management.base import BaseCommand, CommandError

from portal.first_run import AlreadyInitialised, instance_initialise

PASSWORD_VARIABLE = "FLIGHTDECK_ADMIN_PASSWORD"  # noqa: S105 - the variable's name, not a password


class Command(BaseCommand):
    help = (
        "A new instance's first admin (a superuser in the Admin role) and its default global gate policy. "
        f"The password comes from {PASSWORD_VARIABLE}, never from the command line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        password = os.environ.get(PASSWORD_VARIABLE, "")
        if len(password) < 12:
            raise CommandError(f"{PASSWORD_VARIABLE} must hold the admin's password (12+ characters).")
        try:
            admin = instance_initialise(
                username=options["username"], email=options["email"], password=password
            )
        except AlreadyInitialised as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(f"First admin {admin.username} and the default gate policy created.")
