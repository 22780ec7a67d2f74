#!/usr/bin/env python
"""Django's command-line utility. Configuration errors print one line, not a traceback."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"flightdeck: configuration error: {exc}")


if __name__ == "__main__":
    main()
