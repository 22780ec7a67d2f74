"""Customer instances of Flightdeck: stamp, list, upgrade, back up, restore and retire (docs/instances.md).

A tool around the product, not part of it: it runs each instance's manage.py in a subprocess with that
instance's environment file, and imports nothing of portal, releases or integrations.
"""
