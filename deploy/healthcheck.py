"""The container's health check of a web node: GET /healthz on this node, 0 when it answers 200.

/healthz answers 503 when the database or the broker is down (portal/views.py). The Host header is the
first of ALLOWED_HOSTS, which the portal accepts; /healthz is exempt from the HTTPS redirect."""

import os
import sys
import urllib.error
import urllib.request

port = (os.environ.get("FLIGHTDECK_BIND") or "0.0.0.0:8000").rsplit(":", 1)[-1]
host = (os.environ.get("ALLOWED_HOSTS") or "localhost").split(",")[0].strip().lstrip(".") or "localhost"
request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
try:
    with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 (a fixed http:// address)
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError) as error:
    print(f"unhealthy: {error}", file=sys.stderr)
    sys.exit(1)
