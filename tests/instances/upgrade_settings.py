"""An instance's settings with the upgrade probe app (tests/instances/upgrade_app) installed.

Importing portal.settings imports the portal package, whose Celery app reads Django's settings at
once: while this module is still loading, that read is pointed at portal.settings, and forgotten
afterwards so that Django configures itself from this module."""

import os

from django.conf import settings
from django.utils.functional import empty

os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
from portal.settings import *  # noqa: F403
from portal.settings import INSTALLED_APPS

os.environ["DJANGO_SETTINGS_MODULE"] = __name__
settings._wrapped = empty

INSTALLED_APPS = [*INSTALLED_APPS, "tests.instances.upgrade_app"]
