"""gunicorn's configuration for a Flightdeck web node: gunicorn -c deploy/gunicorn.conf.py portal.wsgi

Read from the environment, like the portal's settings (docs/deployment.md):
  FLIGHTDECK_BIND      the address to listen on (default 0.0.0.0:8000; behind a proxy on the same machine
                       127.0.0.1:8000)
  GUNICORN_WORKERS     worker processes (default: 2 per CPU, at least 2, at most 8)
  GUNICORN_THREADS     threads per worker (default 4): a page waiting on the database frees the CPU
  GUNICORN_TIMEOUT     seconds before a silent worker is restarted (default 60)
  FLIGHTDECK_TRUSTED_PROXIES  the proxies whose X-Forwarded-* headers gunicorn believes (as the portal
                       does for the client's address); default: loopback only
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = [os.environ.get("FLIGHTDECK_BIND") or "0.0.0.0:8000"]
workers = _int("GUNICORN_WORKERS", min(max(2, 2 * multiprocessing.cpu_count()), 8))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = 30  # a stop or reload lets requests in flight finish
keepalive = 5  # seconds: a little longer than nothing, shorter than the proxy's upstream keep-alive
# A worker is replaced after this many requests (with jitter, so they do not all restart together).
max_requests = 2000
max_requests_jitter = 200
# Which peers may set X-Forwarded-Proto (the scheme Django sees) and friends.
forwarded_allow_ips = os.environ.get("FLIGHTDECK_TRUSTED_PROXIES") or "127.0.0.1,::1"
# The request line and headers: bounded, as the proxy in front bounds them.
limit_request_line = 8190
limit_request_fields = 100
# Logs to stdout and stderr: systemd's journal or the container runtime keeps them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
proc_name = "flightdeck-web"
# Each worker imports the app itself: a reload (SIGHUP) picks up new code without a restart.
preload_app = False
# Under systemd, gunicorn tells the manager when it is ready (Type=notify in flightdeck-web.service).
