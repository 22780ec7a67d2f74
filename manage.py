#!/usr/bin/env python
"""Django's command-line utility. Configuration errors print one line, not a traceback."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"flightdeck: configuration error: {exc}")
    except OperationalError as exc:
        first_line = (str(exc).strip().splitlines() or ["no detail"])[0]
        sys.exit(f"flightdeck: the database cannot be reached ({first_line}); check DATABASE_URL")


if __name__ == "__main__":
    main()
