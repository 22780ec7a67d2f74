from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from releases.audit import CheckpointFileError, audit_checkpoint, checkpoint_path


class Command(BaseCommand):
    help = (
        "Append a signed checkpoint of the audit chain's head (seq, hash, time) to the checkpoint file, "
        "after checking that the events since the last checkpoint link onto it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", default="", help="the checkpoint file (default: the instance's)")

    def handle(self, *args, **options):
        path = Path(options["file"]) if options["file"] else checkpoint_path()
        try:
            mark = audit_checkpoint(path=path)
        except (CheckpointFileError, ValueError) as error:
            raise CommandError(f"No checkpoint written: {error}.") from error
        if mark is None:
            self.stdout.write(f"No checkpoint written: the chain has not grown since the last one ({path}).")
            return
        self.stdout.write(
            self.style.SUCCESS(f"Checkpoint #{mark.seq} {mark.hash} at {mark.at} appended to {path}.")
        )
