from django.core.management.base import BaseCommand, CommandError

from integrations.credentials import CredentialsUnreadable, credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored tool credential and webhook secret with the newest key, the first of "
        "FIELD_ENCRYPTION_KEY (keys comma-separated, newest first); audited. Then the older keys can go."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--skip-unreadable",
            action="store_true",
            help="leave the secrets no configured key reads as they are, instead of refusing",
        )

    def handle(self, *args, **options):
        try:
            result = credentials_rotate(by=None, skip_unreadable=options["skip_unreadable"])
        except CredentialsUnreadable as error:
            raise CommandError(str(error)) from error
        names = ", ".join(result["reencrypted"]) or "none"
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted the secrets of {len(result['reencrypted'])} connection(s) with the newest key "
                f"({result['under_an_older_key']} were under an older key): {names}."
            )
        )
        if result["unreadable"]:
            self.stdout.write(
                self.style.WARNING(
                    "Left unreadable (no configured key reads them; enter them again in the admin): "
                    + ", ".join(result["unreadable"])
                )
            )
