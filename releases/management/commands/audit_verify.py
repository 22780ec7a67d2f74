from django.core.management.base import BaseCommand, CommandError

from releases.audit import audit_verify


class Command(BaseCommand):
    help = "Verify the audit hash chain; name the first event that does not match."

    def handle(self, *args, **options):
        result = audit_verify()
        if not result.ok:
            raise CommandError(
                f"Audit chain BROKEN at event #{result.bad_seq} (id {result.bad_id}): {result.problem}. "
                f"{result.checked} events before it verified."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain OK: {result.checked} events verified."))
