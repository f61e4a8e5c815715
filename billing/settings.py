"""Settings for the billing admin, read from environment variables.

Each value comes from one small helper that fails loudly on a malformed value, so a
misconfigured deployment stops at start-up instead of running with a silent default.
"""

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None, *, what: str = "") -> str:
    """`what` says what to set it to, in the error when it is missing."""
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(
            f"The environment variable {name} is required" + (f": {what}." if what else ".")
        )
    return value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no.")


def env_float(name: str, default: str) -> float:
    value = os.environ.get(name) or default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = os.environ.get(name) or str(default)
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r} must be at least {minimum}.")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

if DEBUG:
    # Only for local runs and the demo: a fixed key is fine where nothing is secret.
    SECRET_KEY = env_str("SECRET_KEY", "insecure-local-key-only-for-debug-runs-0123456789-abcdef")
else:
    SECRET_KEY = env_str(
        "SECRET_KEY",
        what="set it to a random string of at least 50 characters, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`",
    )
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "The environment variable ALLOWED_HOSTS is required: set it to the host names the app "
        "answers to, comma-separated (e.g. billing.example.com)."
    )

# The embedded default is a SQLite file in the project folder, in WAL mode with a busy timeout,
# so the web process and the task worker can share it (the demo runs both).
DEFAULT_SQLITE_PATH = BASE_DIR / "db.sqlite3"
# Persistent connections: a request reuses its worker's connection for CONN_MAX_AGE seconds
# instead of opening a new one (on PostgreSQL a connection costs more than most pages' queries);
# the health check tests a reused connection before handing it to a request, so one the
# server dropped is replaced, not failed on. 0 closes it after every request.
try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}"),
            conn_max_age=env_int("CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
except ValueError:  # the URL may hold a password: not repeated in the message
    raise ImproperlyConfigured(
        "DATABASE_URL is not a database URL: set it like postgres://user:password@host:5432/name."
    ) from None
# Options of our own join those the URL gives (`?sslmode=verify-full&connect_timeout=5`), which
# win where both name one.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DB_PREPARED_STATEMENTS", True
):
    # Parameters bound by the server, and a statement run twice on a connection prepared
    # there: parsed once, and planned once where PostgreSQL finds a generic plan no costlier
    # than the custom ones (the customer page's refundable and reversible subqueries cost ~3 ms
    # to plan and 0.4 ms to run). A pooler in transaction mode cannot carry prepared
    # statements (PgBouncer before 1.21, or without max_prepared_statements):
    # DB_PREPARED_STATEMENTS=0 there. After a migration changes a column's type, a statement
    # prepared before it fails once and its connection is replaced (billing/db.py).
    DATABASES["default"]["OPTIONS"] = {
        "server_side_binding": True,
        "prepare_threshold": 2,
        **DATABASES["default"].get("OPTIONS", {}),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
        **DATABASES["default"].get("OPTIONS", {}),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # allauth's second-factor pages use it
    "django_htmx",
    "simple_history",
    "django_tasks_db",
    "ninja",  # the API's docs page and its assets, served from here (no CDN)
    # Staff identity (accounts/identity.py): SSO over OpenID Connect, second factors.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "accounts",
    "billing",
    "support",
]
# The Stripe emulator and `manage.py demo` (devtools/): for local runs and the tests only, never
# in a deployment.
DEVTOOLS = env_bool("DEVTOOLS", DEBUG)
if DEVTOOLS:
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    # First: the request id and the request's log line cover everything below.
    "billing.observability.RequestLogMiddleware",
    # Outermost: any error under /api/ leaves as application/problem+json, never a page.
    "billing.api.problems.ApiProblemMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "accounts.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "accounts.middleware.SessionLimitsMiddleware",
    "accounts.middleware.StaffLoginRequiredMiddleware",
]
# Stripe's webhook (POST /stripe/webhook/ only) goes through these alone (billing/wsgi.py):
# a server-to-server delivery carries no session, cookie, CSRF token or staff user, so it
# needs the request id and log line, the HTTPS redirect and security headers, the host check
# (CommonMiddleware) and Django's error handling, and none of the rest (about a tenth of its
# CPU under gunicorn). In MIDDLEWARE's order, and only ever a part of it.
WEBHOOK_MIDDLEWARE = [
    name
    for name in MIDDLEWARE
    if name
    in {
        "billing.observability.RequestLogMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "accounts.middleware.SecurityHeadersMiddleware",
        "django.middleware.csp.ContentSecurityPolicyMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
]

ROOT_URLCONF = "billing.urls"
WSGI_APPLICATION = "billing.wsgi.application"
ASGI_APPLICATION = "billing.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "support.navigation.navigation",
            ],
            "builtins": ["django_htmx.templatetags.django_htmx"],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "accounts.backends.StaffBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The customer page's rendered content (support.page_cache), keyed by the revision of what
    # it shows: each process keeps its own, at most this many pages, the least recent going.
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "customer-pages",
        "OPTIONS": {"MAX_ENTRIES": env_int("PAGE_CACHE_ENTRIES", 500, minimum=1)},
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Content Security Policy (Django's built-in middleware): scripts only from our own origin or
# carrying the per-request nonce; no inline styles or eval, which htmx is configured not to need.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# Staff sessions (accounts/signin.py): they end after this long without a request, and this
# long after signing in whatever happens (a working day; staff sign in again each morning).
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30, minimum=1)
SESSION_MAX_HOURS = env_int("SESSION_MAX_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 60 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
CSRF_COOKIE_SAMESITE = "Lax"

# Staff identity (accounts/identity.py). Single sign-on with the company's OpenID Connect
# provider when OIDC_ISSUER is set; the local password sign-in for break-glass accounts, on
# unless PASSWORD_SIGN_IN=0.
OIDC_ISSUER = env_str("OIDC_ISSUER", "")
OIDC_NAME = env_str("OIDC_NAME", "Company SSO")
SOCIALACCOUNT_PROVIDERS: dict[str, Any] = {"openid_connect": {"OAUTH_PKCE_ENABLED": True}}
if OIDC_ISSUER:
    _issuer = urlsplit(OIDC_ISSUER)
    if _issuer.scheme not in ("https", "http") or not _issuer.netloc:
        raise ImproperlyConfigured(
            "OIDC_ISSUER is not a URL: set it to the provider's issuer, e.g. "
            "https://login.example.com/realms/staff."
        )
    OIDC_ORIGIN = f"{_issuer.scheme}://{_issuer.netloc}"
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [
        {
            "provider_id": "company",
            "name": OIDC_NAME,
            "client_id": env_str(
                "OIDC_CLIENT_ID", what="set it to this app's client id at the OIDC provider"
            ),
            "secret": env_str(
                "OIDC_CLIENT_SECRET", what="set it to this app's client secret at the provider"
            ),
            "settings": {"server_url": OIDC_ISSUER, "token_auth_method": "client_secret_basic"},
        }
    ]
    # The sign-in form posts to us, and we redirect it to the provider: CSP's form-action
    # covers that redirect.
    SECURE_CSP["form-action"] = [CSP.SELF, OIDC_ORIGIN]
PASSWORD_SIGN_IN = env_bool("PASSWORD_SIGN_IN", True)
if not PASSWORD_SIGN_IN and not OIDC_ISSUER:
    raise ImproperlyConfigured(
        "PASSWORD_SIGN_IN=0 needs OIDC_ISSUER: set OIDC_ISSUER, OIDC_CLIENT_ID and "
        "OIDC_CLIENT_SECRET, or nobody could sign in."
    )
# Second factors: who must use one before any money action or decision, and how recent a
# sign-in deciding an approval or editing policy needs.
MFA_REQUIRED_ROLES = env_list("MFA_REQUIRED_ROLES", "finance,admin")
MFA_REQUIRED_FOR_EVERYONE = env_bool("MFA_REQUIRED_FOR_EVERYONE")
RECENT_AUTH_MINUTES = env_int("RECENT_AUTH_MINUTES", 15, minimum=1)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = "Billing admin"
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
ACCOUNT_ADAPTER = "accounts.identity.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.identity.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_REAUTHENTICATION_TIMEOUT = RECENT_AUTH_MINUTES * 60
ACCOUNT_LOGOUT_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False

# Sign-in limits (accounts/signin.py): wrong passwords in a row that lock an account, for
# how long, and refused sign-ins from one address within a window that block it.
LOGIN_LOCKOUT_FAILURES = env_int("LOGIN_LOCKOUT_FAILURES", 20, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 30, minimum=1)
LOGIN_IP_FAILURES = env_int("LOGIN_IP_FAILURES", 50, minimum=1)
LOGIN_IP_WINDOW_MINUTES = env_int("LOGIN_IP_WINDOW_MINUTES", 15, minimum=1)
# Reverse proxies in front of the app that append to X-Forwarded-For (0: clients connect
# directly, and REMOTE_ADDR is their address).
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # A load balancer's probes may come over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Stripe. Debug runs default to the local emulator's test key; a deployment must name its own.
# An empty STRIPE_API_BASE means Stripe itself (https://api.stripe.com).
STRIPE_API_KEY = env_str(
    "STRIPE_API_KEY",
    "sk_test_emulator" if DEBUG else None,
    what="set it to the Stripe secret key (sk_live_… or a restricted rk_live_… key)",
)
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "")
STRIPE_WEBHOOK_SECRET = env_str(
    "STRIPE_WEBHOOK_SECRET",
    "whsec_emulator" if DEBUG else None,
    what="set it to the signing secret of the Stripe webhook endpoint (whsec_…)",
)
# How long one Stripe request may take before we stop waiting (and retry later, same key).
STRIPE_TIMEOUT_SECONDS = env_float("STRIPE_TIMEOUT_SECONDS", "20")

# The JSON API: requests a second per token (in bursts of as many), and how long a request
# whose Idempotency-Key is in use waits for the first one's answer before answering 409.
API_RATE_PER_SECOND = env_float("API_RATE_PER_SECOND", "10")
if API_RATE_PER_SECOND <= 0:
    raise ImproperlyConfigured("API_RATE_PER_SECOND must be above 0.")
API_IDEMPOTENCY_WAIT_SECONDS = env_float("API_IDEMPOTENCY_WAIT_SECONDS", "10")

# Background tasks: the database queue (`manage.py db_worker`), or Celery (`celery -A billing
# worker`) with a Redis or RabbitMQ broker. Call sites are the same for both.
TASK_BACKEND = env_str("TASK_BACKEND", "database")
TASKS: dict[str, dict[str, Any]]
if TASK_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASK_BACKEND == "celery":
    CELERY_BROKER_URL = env_str(
        "CELERY_BROKER_URL",
        what="set it to the broker, e.g. redis://host:6379/0 or amqp://user:password@host:5672//",
    )
    if not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise ImproperlyConfigured(
            "CELERY_BROKER_URL is not a Redis or RabbitMQ URL: set it like "
            "redis://host:6379/0 or amqp://user:password@host:5672//."
        )
    TASKS = {
        "default": {
            "BACKEND": "billing.task_backends.CeleryBackend",
            "OPTIONS": {"CELERY_APP": "billing.celery.app"},
        }
    }
    CELERY_TASK_SERIALIZER = "json"
    CELERY_ACCEPT_CONTENT = ["json"]
    CELERY_TASK_IGNORE_RESULT = True  # outcomes are in our own tables
    # A task is acknowledged once done, so a worker that dies mid-task leaves it to another.
    CELERY_TASK_ACKS_LATE = True
    CELERY_TASK_REJECT_ON_WORKER_LOST = True
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # our JSON logs, not Celery's
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "billing")
else:
    raise ImproperlyConfigured(
        f"TASK_BACKEND={TASK_BACKEND!r} is not a task backend: set database or celery."
    )

# Logs: one JSON object a line on stderr (billing/observability.py), or plain text for a
# person reading a terminal (the demo's default).
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL={LOG_LEVEL!r} is not a level: set DEBUG, INFO, WARNING, ERROR or CRITICAL."
    )
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not a format: set json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "billing.observability.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # stripe-python logs every request at INFO; our own code logs what matters.
        "stripe": {"level": "WARNING"},
        # Our request line replaces Django's own (which would log 4xx/5xx a second time).
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
    },
}

# Error reports to Sentry, when a DSN is given, scrubbed like the logs.
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    from billing.observability import init_sentry

    init_sentry(SENTRY_DSN, environment=env_str("SENTRY_ENVIRONMENT", "production"))
