"""Point the demo's sandbox connections at the tool sandbox `dev.py run` started, or disable them.

dev.py disables them before it starts the sandbox, challenges the servers on the ports the sandbox
announced (integrations/sandbox/proof.py), and only when each has proved it knows the run's secret
points the connections there, with that secret as their credential, and enables them again.
"""

import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator
from django.db import transaction

from demo.catalogue import (
    SANDBOX_CREDENTIALS,
    SANDBOX_GITHUB_CREDENTIALS,
    SANDBOX_GITLAB_CREDENTIALS,
    SANDBOX_JENKINS_CREDENTIALS,
)
from integrations.models import Connection

# integrations.sandbox.proof.SECRET_ENV: the product never imports the sandbox, so it is spelled here.
SECRET_ENV = "FLIGHTDECK_SANDBOX_SECRET"  # noqa: S105 - the variable's name, not a secret
# Option → the connection demo.seeding.demo_connections() made for that tool, and its credentials there
# (the sandbox's API user); the run's secret replaces their token.
DEMO_CONNECTIONS = {
    "jira": ("Sandbox Jira Cloud", SANDBOX_CREDENTIALS),
    "jenkins": ("Sandbox Jenkins", SANDBOX_JENKINS_CREDENTIALS),
    "github": ("Sandbox GitHub", SANDBOX_GITHUB_CREDENTIALS),
    "gitlab": ("Sandbox GitLab", SANDBOX_GITLAB_CREDENTIALS),
}


class Command(BaseCommand):
    help = (
        "Point the demo connections to the tool sandbox (Sandbox Jira Cloud, Sandbox Jenkins, Sandbox "
        "GitHub, Sandbox GitLab) at --jira, --jenkins, --github and --gitlab, with the secret in "
        f"${SECRET_ENV} as their stored credential, and enable them; or, with --disable, disable them "
        "(dev.py does so until the sandbox on those addresses has proved it knows the secret)."
    )

    def add_arguments(self, parser):
        for tool, (name, _credentials) in DEMO_CONNECTIONS.items():
            parser.add_argument(f"--{tool}", metavar="URL", help=f"the base URL for {name!r}")
        parser.add_argument("--disable", action="store_true", help="disable the four connections")

    def handle(self, *args, disable: bool, **options):
        connections = {c.name: c for c in Connection.objects.filter(name__in=self.names())}
        missing = [name for name in self.names() if name not in connections]
        if missing:
            raise CommandError(f"The demo has no connection {', '.join(map(repr, missing))}.")
        if disable:
            Connection.objects.filter(pk__in=[c.pk for c in connections.values()]).update(enabled=False)
            self.stdout.write("The demo connections to the tool sandbox are disabled.")
            return
        urls = {tool: options[tool] for tool in DEMO_CONNECTIONS}
        if not all(urls.values()):
            raise CommandError("Give --jira, --jenkins, --github and --gitlab, or --disable.")
        for tool, url in urls.items():
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                raise CommandError(f"--{tool}: {url!r} is not an http(s) URL.") from None
        secret = os.environ.get(SECRET_ENV, "")
        if not secret:
            raise CommandError(f"${SECRET_ENV} is not set: it holds the sandbox's secret for this run.")
        with transaction.atomic():
            for tool, (name, credentials) in DEMO_CONNECTIONS.items():
                connection = connections[name]
                connection.base_url = urls[tool].rstrip("/")
                connection.credentials = {**credentials, "token": secret}
                connection.enabled = True
                connection.save(update_fields=["base_url", "credentials_encrypted", "enabled"])
        for tool, (name, _credentials) in DEMO_CONNECTIONS.items():
            self.stdout.write(f"{name} → {urls[tool].rstrip('/')}")

    @staticmethod
    def names() -> list[str]:
        return [name for name, _credentials in DEMO_CONNECTIONS.values()]
