from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from releases.audit import audit_verify, checkpoint_path


class Command(BaseCommand):
    help = (
        "Verify the audit chain with its key, against the signed checkpoints and every sign-off; name the "
        "first event that does not match."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoints",
            default="",
            help="a copy of the checkpoint file to compare with (an auditor's export); "
            "default: the instance's own",
        )

    def handle(self, *args, **options):
        path = Path(options["checkpoints"]) if options["checkpoints"] else None
        if path is not None and not path.is_file():
            raise CommandError(f"No checkpoint file at {path}.")
        result = audit_verify(checkpoints=path)
        if not result.ok:
            where = f"event #{result.bad_seq}" if result.bad_seq is not None else "a sign-off"
            if result.bad_id is not None:
                where += f" (id {result.bad_id})"
            raise CommandError(
                f"Audit chain BROKEN at {where}: {result.problem}. "
                f"{result.checked} events before it verified."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain OK: {result.checked} events verified, {result.checkpoints} checkpoints of "
                f"{path or checkpoint_path()} matched, {result.signoffs} sign-offs match their events."
            )
        )
