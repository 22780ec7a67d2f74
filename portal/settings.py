"""Flightdeck settings: one module, configured from the environment.

Two modes:
- embedded (default): SQLite in var/, a filesystem Celery broker, a secret generated once into var/.
  Nothing to install but Python; used by the demo and the test suite.
- production (FLIGHTDECK_ENV=production): every secret and host must come from the environment;
  PostgreSQL and Redis through DATABASE_URL and CELERY_BROKER_URL.
"""

import contextlib
import hashlib
import os
import secrets
import tempfile
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    return [item.strip() for item in value.split(",") if item.strip()] or default


BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FLIGHTDECK_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

PRODUCTION = os.environ.get("FLIGHTDECK_ENV", "embedded").strip().lower() == "production"
DEBUG = env_bool("DEBUG", default=False)
# The instance name namespaces the broker and cache keys, so instances can share a Redis safely.
INSTANCE_NAME = os.environ.get("FLIGHTDECK_INSTANCE", "flightdeck")


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. In production mode Flightdeck refuses to start without one: "
            "export SECRET_KEY to a random string of 50+ characters."
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        # Written owner-only to a temporary file, then linked into place: readers never see a partial
        # key, and when web and worker start together exactly one key wins.
        fd, tmp = tempfile.mkstemp(dir=VAR_DIR)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(64))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, key_file)
        os.unlink(tmp)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()


def _audit_chain_key() -> str:
    """The HMAC key of the audit hash chain (releases/audit.py). The database never holds it, so whoever
    owns the database alone cannot recompute the hashes of a rewritten event. Production sets its own
    (FLIGHTDECK_AUDIT_KEY, kept apart from the database's backups); the embedded mode derives one from
    SECRET_KEY, as it does the field encryption key."""
    if key := os.environ.get("FLIGHTDECK_AUDIT_KEY"):
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "FLIGHTDECK_AUDIT_KEY is not set. In production mode Flightdeck refuses to start without the "
            "audit chain's key: export FLIGHTDECK_AUDIT_KEY to a random string of 32+ characters, kept "
            "apart from the database and its backups."
        )
    return hashlib.sha256(f"audit-chain:{SECRET_KEY}".encode()).hexdigest()


AUDIT_CHAIN_KEY = _audit_chain_key()

# The chain's anchor outside the database: signed checkpoints (seq, hash, time) appended to this file
# by `audit_checkpoint` and the beat task, compared by `audit_verify`. Keep a copy where the database's
# owner cannot write (an auditor's export, a write-once bucket).
AUDIT_CHECKPOINT_FILE = Path(
    os.environ.get("FLIGHTDECK_AUDIT_CHECKPOINTS", VAR_DIR / "audit-checkpoints.jsonl")
).resolve()
AUDIT_CHECKPOINT_MINUTES = int(os.environ.get("FLIGHTDECK_AUDIT_CHECKPOINT_MINUTES", 60))


def _check_field_encryption_keys() -> None:
    """FIELD_ENCRYPTION_KEY: the Fernet key(s) of the tool credentials, comma-separated, newest first
    (integrations/crypto.py reads them when a credential is used; `credentials_rotate` re-encrypts with the
    newest). Checked here, so production refuses to start without one, and a malformed key is named by
    position, instead of failing when a credential is first used."""
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in os.environ.get("FIELD_ENCRYPTION_KEY", "").split(",") if key.strip()]
    if not keys and PRODUCTION:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not set. In production mode Flightdeck refuses to start without the "
            "tool credentials' key: export FIELD_ENCRYPTION_KEY to a Fernet key (python -c \"from "
            'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"), kept apart from '
            "the database and its backups."
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEY: key {position} of {len(keys)} is not a Fernet key "
                "(44 url-safe base64 characters; several keys are separated by commas, newest first)."
            ) from None


_check_field_encryption_keys()


# A pending gate is announced to its signers ("waits for your sign-off") once it is due within this
# many days, not when a policy creates it months ahead (releases.gates.services.notifications).
GATE_ANNOUNCE_LEAD_DAYS = int(os.environ.get("FLIGHTDECK_GATE_ANNOUNCE_LEAD_DAYS", 14))
# The hour (in CELERY_TIMEZONE, UTC by default) at which the daily digest goes to those who chose it.
NOTIFICATION_DIGEST_HOUR = int(os.environ.get("FLIGHTDECK_DIGEST_HOUR", 7))
# The HMAC-SHA256 key that signs posts to chat webhooks (X-Flightdeck-Signature); when unset, one is
# derived from SECRET_KEY (releases.notifications.services.chat), so set it to check signatures.
CHAT_WEBHOOK_SIGNING_KEY = os.environ.get("FLIGHTDECK_CHAT_WEBHOOK_KEY", "")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set: list the host names this instance answers to.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"  # the portal's 403 page, not Django's bare one

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_tables2",
    "django_filters",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as static files: the API's docs load no CDN
    "portal",
    "releases",
    "integrations",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy, Permissions-Policy, and "Cache-Control: private, no-store" on what a
    # signed-in user or a feed token reads (portal/security.py)
    "portal.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.security.SessionLifetimeMiddleware",  # idle timeout and absolute lifetime of a session
    "portal.api_auth.ApiTokenMiddleware",  # /api/: the Bearer token is the user, never the session
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out sign-in with the lockout page
    "portal.errors.DomainErrorMiddleware",  # a refusal leaving a view: its status and message, never 500
]

# Password guessing, at the login page and at a gate's sign-off (releases.gates.views.gates): after
# AXES_FAILURE_LIMIT wrong passwords for one username from one client address, that pair is refused for
# AXES_COOLOFF_TIME. django-axes counts; each wrong password says how many tries are left.
#
# The key is (username, client address), and the client address is the peer's unless a trusted proxy
# forwarded it (portal/client_ip.py). So a stranger guessing a colleague's password locks out only
# themselves, from their own address: the colleague signs in from anywhere else as before. Behind a
# proxy this needs FLIGHTDECK_TRUSTED_PROXIES (or FLIGHTDECK_TRUSTED_PROXY_COUNT): without it every
# client has the proxy's address, and five guesses would lock the named user out everywhere. A client
# cannot pick its address either: X-Forwarded-For is read only from a trusted proxy, right to left.
# A sign-off's re-entered password counts against the signed-in user and the same address, like a
# sign-in; it never locks that user out from other addresses. What remains: someone behind the same
# address (a shared office NAT) can still pause a colleague there for AXES_COOLOFF_TIME, and guesses
# spread over many addresses are limited per address only. See docs/runtime.md.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, refusing every password but the break-glass admin's when local passwords
    # are off (FLIGHTDECK_LOCAL_PASSWORDS below); a refused password still counts for django-axes.
    "portal.sso.LocalPasswordBackend",
    "portal.sso.OidcBackend",  # the users signed in through the identity provider (portal.sso)
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "portal.client_ip.client_ip"
FLIGHTDECK_TRUSTED_PROXIES = tuple(env_list("FLIGHTDECK_TRUSTED_PROXIES", []))
FLIGHTDECK_TRUSTED_PROXY_COUNT = int(os.environ.get("FLIGHTDECK_TRUSTED_PROXY_COUNT") or 0)
for _proxy in FLIGHTDECK_TRUSTED_PROXIES:
    try:
        ip_network(_proxy, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(
            f"FLIGHTDECK_TRUSTED_PROXIES: {_proxy!r} is not an address or network."
        ) from _error
if FLIGHTDECK_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("FLIGHTDECK_TRUSTED_PROXY_COUNT cannot be negative.")

# Single sign-on: OpenID Connect, the authorization code flow with PKCE (portal/sso.py, docs/sso.md).
# Off while FLIGHTDECK_OIDC_ISSUER is empty. The provider's endpoints and keys are discovered from
# <issuer>/.well-known/openid-configuration. Roles come from the groups claim on every sign-in, through
# FLIGHTDECK_OIDC_ROLE_MAP: "provider group=Flightdeck role" pairs separated by ";", for example
# "fd-reviewers=Security reviewer;fd-admins=Admin" (a group may be named twice for two roles).
OIDC_ISSUER = os.environ.get("FLIGHTDECK_OIDC_ISSUER", "").strip().rstrip("/")
OIDC_CLIENT_ID = os.environ.get("FLIGHTDECK_OIDC_CLIENT_ID", "").strip()
OIDC_CLIENT_SECRET = os.environ.get("FLIGHTDECK_OIDC_CLIENT_SECRET", "")
OIDC_PROVIDER_NAME = os.environ.get("FLIGHTDECK_OIDC_PROVIDER_NAME", "").strip() or "your identity provider"
OIDC_SCOPES = os.environ.get("FLIGHTDECK_OIDC_SCOPES", "").strip() or "openid email profile"
OIDC_GROUPS_CLAIM = os.environ.get("FLIGHTDECK_OIDC_GROUPS_CLAIM", "").strip() or "groups"
# A gate's sign-off under SSO needs a sign-in at the provider no older than this (auth_time).
OIDC_REAUTH_SECONDS = int(os.environ.get("FLIGHTDECK_OIDC_REAUTH_SECONDS") or 300)
# Off: nobody signs in with a local password but FLIGHTDECK_BREAK_GLASS_USER, at /login/break-glass/.
LOCAL_PASSWORDS = env_bool("FLIGHTDECK_LOCAL_PASSWORDS", default=True)
BREAK_GLASS_USERNAME = os.environ.get("FLIGHTDECK_BREAK_GLASS_USER", "").strip()


def _oidc_role_map(value: str) -> dict[str, list[str]]:
    from portal.roles import ROLE_PERMISSIONS

    mapping: dict[str, list[str]] = {}
    for pair in filter(None, (item.strip() for item in value.split(";"))):
        group, _, role = (part.strip() for part in pair.partition("="))
        if not group or not role:
            raise ImproperlyConfigured(
                f'FLIGHTDECK_OIDC_ROLE_MAP: {pair!r} is not a "provider group=Flightdeck role" pair.'
            )
        if role not in ROLE_PERMISSIONS:
            raise ImproperlyConfigured(
                f"FLIGHTDECK_OIDC_ROLE_MAP: {role!r} is not a Flightdeck role "
                f"(the roles are: {', '.join(ROLE_PERMISSIONS)})."
            )
        mapping.setdefault(group, []).append(role)
    return mapping


OIDC_ROLE_MAP = _oidc_role_map(os.environ.get("FLIGHTDECK_OIDC_ROLE_MAP", ""))


# Content-Security-Policy (portal.security.SecurityHeadersMiddleware): scripts only from this origin,
# never inline, never eval (htmx is configured with allowEval off and no hx-on in base.html); styles
# from this origin, and style attributes (a progress bar's width) but no <style> element; no plugins,
# no framing. Forms post here; the middleware adds the identity provider's origin (OIDC_ISSUER) to
# form-action, where the sign-off's re-authentication form is redirected.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Browser features no page of the portal uses are off for it and anything it might embed; the profile's
# "Copy" button writes the new token to the clipboard.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "camera": [],
    "display-capture": [],
    "geolocation": [],
    "gyroscope": [],
    "hid": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": [],
    "serial": [],
    "usb": [],
    "clipboard-write": ["self"],
    "fullscreen": ["self"],
}


if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "FLIGHTDECK_OIDC_ISSUER is set without FLIGHTDECK_OIDC_CLIENT_ID and FLIGHTDECK_OIDC_CLIENT_SECRET."
    )
if not LOCAL_PASSWORDS and not OIDC_ISSUER:
    raise ImproperlyConfigured(
        "FLIGHTDECK_LOCAL_PASSWORDS is off but no FLIGHTDECK_OIDC_ISSUER is set: nobody could sign in."
    )


ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
                "portal.context_processors.notifications",
            ],
        },
    },
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "flightdeck.sqlite3"}
    else:
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except (ValueError, KeyError) as exc:
            raise ImproperlyConfigured(
                f"DATABASE_URL {url.split('://')[0]!r} is not a database this portal can use "
                "(use postgres://user:password@host:5432/name, or leave it unset for the embedded SQLite)"
            ) from exc
        if not config.get("ENGINE") or (not config.get("NAME") and "sqlite" not in config["ENGINE"]):
            raise ImproperlyConfigured(f"DATABASE_URL names no database: {url!r}")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # Writers take the lock at BEGIN, so two writers never deadlock upgrading a read lock.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "portal.User"
# Argon2id first (portal/hashers.py); PBKDF2 still verifies older hashes, which are re-hashed at login.
PASSWORD_HASHERS = ["portal.hashers.Argon2idHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"


# A signed-in session ends after SESSION_IDLE_TIMEOUT seconds without a request, and in any case
# SESSION_ABSOLUTE_LIFETIME seconds after it began (portal.security.SessionLifetimeMiddleware). The
# cookie itself lives no longer than the idle timeout (plus the minute between refreshes of the mark).
def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit() or int(value) <= 0:
        raise ImproperlyConfigured(f"{name} must be a positive whole number, not {value!r}.")
    return int(value)


SESSION_IDLE_TIMEOUT = _positive_int("FLIGHTDECK_SESSION_IDLE_MINUTES", 30) * 60
SESSION_ABSOLUTE_LIFETIME = _positive_int("FLIGHTDECK_SESSION_MAX_HOURS", 12) * 60 * 60
SESSION_ACTIVITY_RESOLUTION = 60  # seconds: the last-activity mark is written at most once a minute
SESSION_COOKIE_AGE = min(SESSION_IDLE_TIMEOUT + SESSION_ACTIVITY_RESOLUTION, SESSION_ABSOLUTE_LIFETIME)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic gathers the static files; a container image collects them at build time, outside the
# var/ volume (deploy/Containerfile).
STATIC_ROOT = Path(os.environ.get("FLIGHTDECK_STATIC_ROOT") or VAR_DIR / "staticfiles").resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION  # the embedded mode serves static files without collectstatic
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))  # the file-based backend's folder
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "flightdeck@localhost")
# Where people open the portal: e-mails link to pages under it (the worker has no request to ask).
FLIGHTDECK_BASE_URL = os.environ.get("FLIGHTDECK_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# Celery. The embedded broker is kombu's filesystem transport: no server, one machine.
# Its host is named, or kombu warns that none was given on every connection.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem"):
    _broker_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Unacknowledged tasks come back after this; every retry delay is shorter.
        "visibility_timeout": 60 * 60,
        "global_keyprefix": f"{INSTANCE_NAME}:",
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"integrations.tasks.*": {"queue": "sync"}}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# The REST API under /api/v1/ (portal/api/, docs/api.md): a personal token or the browser's session
# (with CSRF), the domain's view permissions, pages of rows, one error shape (RFC 9457).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.auth.BearerTokenAuthentication",  # first: its challenge makes a missing login 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.ModelPermission"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pages",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "portal.api.renderers.ProblemJsonRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["portal.api.parsers.JsonObjectParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flightdeck API",
    "DESCRIPTION": "Releases, gates, environments and the tools' facts of the portfolio. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ReleaseStatusEnum": "releases.models.release.ReleaseStatus",
        "GateStatusEnum": "releases.models.gate.GateStatus",
        "BookingStatusEnum": "releases.models.environment.BookingStatus",
        "DeploymentStatusEnum": "releases.models.environment.DeploymentStatus",
        "EnvironmentKindEnum": "releases.models.environment.EnvironmentKind",
        "GateKindEnum": "releases.models.gate.GateKind",
        "DependencyKindEnum": "releases.models.release.DependencyKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO").upper()},
    # httpx logs every request at INFO: a first sync of 100,000 issues would write a thousand lines.
    # Authlib logs a PKCE verifier at DEBUG: it never reaches the log (portal/sso.py logs no token either).
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "authlib": {"level": "WARNING"},
    },
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
