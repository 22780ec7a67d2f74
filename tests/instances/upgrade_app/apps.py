from django.apps import AppConfig


class UpgradeProbeConfig(AppConfig):
    name = "tests.instances.upgrade_app"
    label = "upgrade_probe"
