"""A probe app for the upgrade tests: two migrations an instance has not applied yet, the second of
which fails while the instance's environment says FLIGHTDECK_TEST_MIGRATION_FAILS=1."""
