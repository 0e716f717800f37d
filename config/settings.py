"""Failsafe settings, read from the environment (12-factor).

With nothing set, Failsafe runs on the embedded default: SQLite, an in-memory channel
layer, a local-memory cache and Celery on a filesystem transport, so `make run` needs no
service. `DATABASE_URL` and `REDIS_URL` move it onto PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path

import environ

# Pure parsers (no Django imports), so the settings can call them.
from accounts.oidc_config import form_action_origins, oidc_apps
from accounts.role_map import role_map_parse

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of the embedded demo (SQLite file, Celery's folder broker, beat schedule).
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A developer's local overrides; never committed (see .gitignore).
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# A key is required outside DEBUG: a silently generated one would log everyone out on
# every restart and sign nothing reliably.
SECRET_KEY = env.str("SECRET_KEY", default="") or (
    "django-insecure-dev-only-key" if DEBUG else env.str("SECRET_KEY")
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "channels",
    "django_prometheus",
    "axes",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "core",
    "accounts",
    "systems",
    "monitoring",
    "groundtruth",
    "incidents",
    "rollbacks",
    "comms",
    "gate",
    "telemetry",
    "response",
    "metrics",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: turns a locked sign-in into the login page with the lock's message.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last: keeps the chain synchronous, so a request does not hop threads at every
    # middleware (core/middleware.py).
    "core.middleware.SyncChain",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "core.context_processors.role",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'failsafe.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web server, worker and beat write to one file: WAL lets readers run
    # beside a writer, IMMEDIATE takes the write lock up front instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", 5)
    # Under ASGI each request's synchronous part runs in a thread of its own, so a
    # connection kept per thread is never reused and they pile up: close each one after
    # use, or share a few through psycopg's pool (DB_POOL_MAX_SIZE > 0, per process).
    _pool_max = env.int("DB_POOL_MAX_SIZE", default=0)
    if _pool_max:
        # A pooled connection that failed is retried with a doubling delay (1, 2, 4, 8 s):
        # a 3 s PostgreSQL restart kept every request waiting for 15 s (make faults).
        # Giving up a retry after 2 s lets the next request start a fresh attempt at once.
        _options["pool"] = {
            "min_size": 1,
            "max_size": _pool_max,
            "timeout": 10,
            "reconnect_timeout": env.float("DB_POOL_RECONNECT_SECONDS", default=2.0),
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# django-prometheus' wrappers of these backends count queries for /metrics (docs/METRICS.md);
# PostgreSQL's through core.db.backends.postgresql, which makes its cursor class only once.
_engine = DATABASES["default"]["ENGINE"]
if _engine == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "core.db.backends.postgresql"
elif _engine == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker ---------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": 1,
                "socket_timeout": 1,
                # Reuse connections across requests (see core/cache.py).
                "pool_class": "core.cache.SharedConnectionPool",
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 gives every read a 5 s timeout, the very time channels_redis
            # blocks waiting for a message: an idle receive() would fail every 5 s
            # (django/channels_redis#422). Its pool cap of 100 would also refuse the
            # 101st concurrent command (a thousand mode streams closing at once).
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 4096}]
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # Kombu's filesystem transport: a broker that is just a folder, shared by the demo's
    # web server, worker and beat, so periodic tasks run with no service installed.
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "celery-broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Beat writes a heartbeat this often; /healthz calls Celery stale after a few misses.
CELERY_HEARTBEAT_SECONDS = 15
# How often beat looks for due reminders and webhook deliveries (the due times themselves
# live in the database, so a restart loses nothing).
CELERY_DUE_WORK_SECONDS = env.int("CELERY_DUE_WORK_SECONDS", default=10)

# Failsafe's own defaults: detection, incidents, webhooks, intake limits.
from config.settings_product import *  # noqa: E402, F403

# Where people reach this Failsafe: links in webhook messages point here.
FAILSAFE_BASE_URL = env.str("FAILSAFE_BASE_URL", default="http://127.0.0.1:8000" if DEBUG else "")

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "incidents:list"
LOGOUT_REDIRECT_URL = "login"
# Axes first (its standalone backend, for sign-ins that come with a request): it refuses a
# locked account or address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.SignInThrottle",
    # Refuses every password while PASSWORD_LOGIN is off, before one is checked.
    "accounts.password_sign_in.PasswordSignInSwitch",
    "django.contrib.auth.backends.ModelBackend",
    # Signs in people who come through an identity provider.
    "allauth.account.auth_backends.AuthenticationBackend",
]
# Passwords on the login page (and in /admin/); off, only single sign-on and the
# break-glass link (manage.py break_glass) let people in. docs/SIGN_IN.md.
PASSWORD_LOGIN = env.bool("PASSWORD_LOGIN", default=True)

# --- Single sign-on (OpenID Connect through django-allauth; docs/SIGN_IN.md) --------
# Identity providers: OIDC_PROVIDERS (JSON) and/or OIDC_<NAME>_ISSUER/_CLIENT_ID/_SECRET.
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {"APPS": oidc_apps(env.str("OIDC_PROVIDERS", default=""), env.ENVIRON)}
}
# Group (in the provider's groups claim) -> role, applied at every sign-in. Empty: the
# provider's groups are ignored and roles are given in /admin/.
OIDC_ROLE_MAP = role_map_parse(env.str("OIDC_ROLE_MAP", default=""))
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
# The provider vouches for the email address; Failsafe sends no verification mail.
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
# A person from a provider is never joined to an existing account by email address (that
# would trust the claim with someone else's account), so two may share an address.
ACCOUNT_UNIQUE_EMAIL = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False

# --- Sign-in throttling (django-axes; docs/SIGN_IN.md) ------------------------------
# After this many failed sign-ins for one account, or from one address, within the lock
# time, that account or address is locked for the lock time.
AXES_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGN_IN_LOCK_MINUTES", default=15))
# Separate parameters: the account and the address are each counted and locked.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success would clear every failure from its address too, so anyone with an account
# could wipe the count against another's: failures only age out with the lock time.
AXES_RESET_ON_SUCCESS = False
# A lock ends at a fixed time: attempts during it neither extend it nor count.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.views.sign_in_locked"
AXES_VERBOSE = False
# From half the limit on, each further failure answers this many seconds later than the
# one before, at most SIGN_IN_SLOW_DOWN_MAX_SECONDS (0 turns the slow-down off).
SIGN_IN_SLOW_DOWN_SECONDS = env.float("SIGN_IN_SLOW_DOWN_SECONDS", default=1.0)
SIGN_IN_SLOW_DOWN_MAX_SECONDS = env.float("SIGN_IN_SLOW_DOWN_MAX_SECONDS", default=5.0)

# --- I18N / time: stored in UTC, shown in the viewer's zone by static/js/failsafe.js ---
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files: everything the pages load is served from here, nothing from a CDN --
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic gathers files for production; the demo serves them from their apps.
STATIC_ROOT = None if DEBUG else env.path("STATIC_ROOT", default=VAR_DIR / "staticfiles")
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

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # A person's token (fsp_) first: it passes any other token on to the system's.
        "accounts.authentication.PersonalTokenAuthentication",
        "systems.authentication.SystemTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.HasRole"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Failsafe API",
    "DESCRIPTION": (
        "Machine interface of Failsafe, the incident response tool for live AI systems. "
        "Two kinds of `Authorization: Bearer <token>`: a system token (`fsk_…`) is an AI "
        "system's own, scoped to that system; a personal token (`fsp_…`, from Your API "
        "tokens) acts as the person who created it, with that person's role, read-only "
        "(GET) or read and write. In a browser, people use their session."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Several models have a `status`: name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "IncidentStatusEnum": "incidents.lifecycle.Status",
        "MonitorStatusEnum": "monitoring.models.Monitor.Status",
        "AlertStatusEnum": "monitoring.models.Alert.Status",
        "ReviewItemStatusEnum": "groundtruth.models.ReviewItem.Status",
    },
    "SERVE_PERMISSIONS": ["core.permissions.IsSignedIn"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation's refusals, in the one error shape (core/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.error_responses",
    ],
}

# --- Prometheus: the scraper's bearer token; empty, /metrics is off (docs/METRICS.md) --
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Security -------------------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # The sign-in buttons' form is redirected on to the identity providers.
        "form-action": [
            "'self'",
            *form_action_origins(SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]),
        ],
        "frame-ancestors": ["'none'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # A load balancer probes /healthz over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The directive alone adds no site to the browsers' list; submitting it does.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
