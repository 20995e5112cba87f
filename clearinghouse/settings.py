"""Clearinghouse settings, read from the environment.

With no configuration at all the service runs in its embedded form: SQLite and keys
under ``var/``, a Celery worker on kombu's filesystem broker. ``DATABASE_URL`` and
``REDIS_URL`` switch to PostgreSQL and Redis. ``CH_ENV=production`` additionally
requires every secret to come from the environment and turns on the HTTPS settings.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from clearinghouse.core.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

CH_ENV = env_choice("CH_ENV", "development", {"development", "production", "test"})
PRODUCTION = CH_ENV == "production"
TESTING = CH_ENV == "test"

VAR_DIR = Path(env_str("CH_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Keys (signing keys, the pseudonym master key) live outside the database so that a
# database dump alone can neither forge receipts nor reverse subject pseudonyms.
CH_KEY_DIR = Path(env_str("CH_KEY_DIR", str(VAR_DIR / "keys")))
CH_GENERATE_KEYS = env_bool("CH_GENERATE_KEYS", not PRODUCTION)


def _secret_key() -> str:
    configured = env_str("DJANGO_SECRET_KEY", None)
    if configured:
        if len(configured) < 50:
            raise ImproperlyConfigured("environment variable DJANGO_SECRET_KEY must be at least 50 characters")
        return configured
    if PRODUCTION:
        raise ImproperlyConfigured("environment variable DJANGO_SECRET_KEY is required when CH_ENV=production")
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("environment variable ALLOWED_HOSTS is required when CH_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "clearinghouse.core",
    "clearinghouse.api",
    "clearinghouse.audit",
    "clearinghouse.accounts",
    "clearinghouse.consent",
    "clearinghouse.intake",
    "clearinghouse.releases",
    "clearinghouse.reports",
    "clearinghouse.trends",
    "clearinghouse.subjects",
    "clearinghouse.notices",
    "clearinghouse.charts",
    "clearinghouse.console",
    "clearinghouse.portal",
    "clearinghouse.workbench",
    "clearinghouse.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Cache-Control: no-store on everything but static files (issue 12).
    "clearinghouse.api.middleware.NoStoreMiddleware",
    "clearinghouse.portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's LocaleMiddleware, except that portal pages fall back to Chinese (any Chinese
    # in Accept-Language counts) and the API falls back to English.
    "clearinghouse.portal.middleware.PortalLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Body size (413), NUL in the URL (400), Redis/broker down (503): before CSRF reads a form.
    "clearinghouse.api.middleware.RequestGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # /admin/ answers only when CH_ADMIN_ENABLED; its group changes need an officer (issue 12).
    "clearinghouse.accounts.admin.AdminGateMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "clearinghouse.urls"
WSGI_APPLICATION = "clearinghouse.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0))
except Exception as exc:  # dj_database_url raises plain exceptions for unknown schemes
    raise ImproperlyConfigured(f"environment variable DATABASE_URL is malformed: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes SQLite's write lock at BEGIN, which serialises audit-chain appends
    # (read head, write next) the way the advisory lock does on PostgreSQL.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif _db["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("environment variable DATABASE_URL must point to PostgreSQL or SQLite")
_test_name = env_str("DATABASE_TEST_NAME", None)
if _test_name:
    _db["TEST"] = {"NAME": _test_name}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Broker and cache -----------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", None)
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"environment variable REDIS_URL must start with redis://, got {REDIS_URL!r}")

if REDIS_URL:
    # Short timeouts: with Redis unreachable a request answers 503 in seconds, not never.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
elif TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    for _sub in ("queue", "processed", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Without this kombu writes its exchange tables to ./control in the working directory.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Results live in our own tables (releases, erasures); Celery's result store is not needed.
CELERY_TASK_IGNORE_RESULT = True
# A worker killed mid-task must not lose the task: acknowledge only after it finished.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_EAGER", TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "Asia/Shanghai"
# An erasure still open this long after its withdrawal is sent to the worker again.
CH_ERASURE_RESEND_SECONDS = env_int("CH_ERASURE_RESEND_SECONDS", 30, minimum=5)
CH_RELEASE_SWEEP_SECONDS = env_int("CH_RELEASE_SWEEP_SECONDS", 20, minimum=1)
# How often a checkpoint is signed (when the log grew) and offered to the witnesses. In
# seconds, so that a witnessed checkpoint can follow a busy log within seconds (issue 15);
# CH_AUDIT_CHECKPOINT_MINUTES is still read for older configurations.
CH_AUDIT_CHECKPOINT_INTERVAL = timedelta(
    seconds=env_int("CH_AUDIT_CHECKPOINT_SECONDS", 60 * env_int("CH_AUDIT_CHECKPOINT_MINUTES", 15, minimum=1), minimum=1)
)
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Other apps add their periodic jobs here; keep one schedule in one place.
    "link-codes-expire": {
        "task": "clearinghouse.accounts.tasks.link_codes_purge_task",
        "schedule": timedelta(hours=1),
    },
    "intake-retention-purge": {
        "task": "clearinghouse.intake.tasks.signals_retention_purge_task",
        "schedule": crontab(hour=3, minute=30),
    },
    # The Erasure row is the outbox of a withdrawal: re-send the ones still open (a broker
    # that was down when the withdrawal committed) so they run within a minute of its return.
    "intake-erasures-resend": {
        "task": "clearinghouse.intake.tasks.erasures_resend_task",
        "schedule": timedelta(seconds=CH_ERASURE_RESEND_SECONDS),
    },
    # Re-send release jobs that never reached a worker or whose worker died (its heartbeat
    # stopped and the lease ran out): lease + sweep interval stays under a minute.
    "releases-sweep": {
        "task": "clearinghouse.releases.tasks.release_sweep_task",
        "schedule": timedelta(seconds=CH_RELEASE_SWEEP_SECONDS),
    },
    # Re-send report jobs that never reached a worker or whose worker died.
    "reports-sweep": {
        "task": "clearinghouse.reports.tasks.report_sweep_task",
        "schedule": timedelta(minutes=1),
    },
    # Re-send trend jobs that never reached a worker or whose worker died.
    "trends-sweep": {
        "task": "clearinghouse.trends.tasks.trend_sweep_task",
        "schedule": timedelta(minutes=1),
    },
    # A notice is the outbox of a job's end: send again the ones due whose task was lost
    # (a broker that was down, a worker that died mid-attempt).
    "notices-resend": {
        "task": "clearinghouse.notices.tasks.notices_resend_task",
        "schedule": timedelta(seconds=env_int("CH_NOTICE_SWEEP_SECONDS", 30, minimum=1)),
    },
    # Open the new budget period (idempotent; hourly so a missed run heals itself).
    "budgets-roll-over": {
        "task": "clearinghouse.releases.tasks.budget_roll_over_task",
        "schedule": crontab(minute=7),
    },
    # Backstop: events are sealed right after their commit; this catches any left behind
    # (a writer whose process died between commit and seal).
    "audit-seal": {
        "task": "clearinghouse.audit.tasks.audit_seal_task",
        "schedule": timedelta(seconds=env_int("CH_AUDIT_SEAL_SECONDS", 10, minimum=1)),
    },
    "audit-seal-sweep": {
        "task": "clearinghouse.audit.tasks.audit_seal_task",
        "schedule": timedelta(minutes=10),
        "kwargs": {"sweep": True},
    },
    "audit-checkpoint": {
        "task": "clearinghouse.audit.tasks.audit_checkpoint_task",
        "schedule": CH_AUDIT_CHECKPOINT_INTERVAL,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
_ = crontab  # imported for apps extending the schedule with crontab entries

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing cost is irrelevant to what the tests check and dominates their run time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Usernames compared case-insensitively; every door checks passwords through
# clearinghouse.accounts.lockout.login_attempt.
AUTHENTICATION_BACKENDS = ["clearinghouse.accounts.backends.UsernameModelBackend"]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:login"
# Failed portal logins: after this many failures for one username (or from one address)
# within the window, further attempts are refused without checking the password.
CH_LOGIN_FAILURES_PER_USERNAME = env_int("CH_LOGIN_FAILURES_PER_USERNAME", 5, minimum=1)
CH_LOGIN_FAILURES_PER_ADDRESS = env_int("CH_LOGIN_FAILURES_PER_ADDRESS", 50, minimum=1)
CH_LOGIN_FAILURE_WINDOW_SECONDS = env_int("CH_LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60, minimum=1)
# --- Credential attacks (issue 12; docs/security.md) ---
# One lockout policy for the portal, the API token endpoint and the admin
# (clearinghouse/accounts/lockout.py). An address over its limit is still let through for a
# username that logged in from it before (within CH_LOGIN_KNOWN_DAYS), so one address
# cannot lock out everyone behind a shared proxy or NAT.
CH_LOGIN_KNOWN_DAYS = env_int("CH_LOGIN_KNOWN_DAYS", 30, minimum=1)
# "Username taken" answers per address and window at sign-up, before it answers 429.
CH_SIGNUP_TAKEN_PER_ADDRESS = env_int("CH_SIGNUP_TAKEN_PER_ADDRESS", 10, minimum=1)
# Proxies whose X-Forwarded-For is believed (addresses or CIDR networks, comma-separated).
# Default none: the client address is the socket's peer, which a client cannot choose.
CH_TRUSTED_PROXIES = env_list("CH_TRUSTED_PROXIES", [])
for _proxy in CH_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"environment variable CH_TRUSTED_PROXIES: {_proxy!r} is not an address or network") from None
# Django's admin at /admin/: off unless switched on (every use of it is audited).
CH_ADMIN_ENABLED = env_bool("CH_ADMIN_ENABLED", False)
# Denied requests are audited the 1st, 2nd, 4th, 8th... time within this window
# (clearinghouse/audit/denials.py).
CH_AUDIT_DENIAL_WINDOW_SECONDS = env_int("CH_AUDIT_DENIAL_WINDOW_SECONDS", 3600, minimum=1)
# Passkeys (WebAuthn): the relying-party id, a registrable domain such as
# "clearinghouse.example"; empty means the host the portal is reached at.
CH_WEBAUTHN_RP_ID = env_str("CH_WEBAUTHN_RP_ID", "")
COMPLIANCE_GROUP = "compliance"
CONSUMER_TOKEN_TTL = timedelta(days=env_int("CH_CONSUMER_TOKEN_TTL_DAYS", 30, minimum=1))
LINK_CODE_TTL = timedelta(minutes=env_int("CH_LINK_CODE_TTL_MINUTES", 10, minimum=1))

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# The product's catalogues are listed here as well as found as app catalogues so that their
# wording wins over Django's and the admin's for shared msgids ("Log out", "Status", "Key"
# 密钥 not 键, "Filter" 筛选 not 过滤器): app catalogues rank below django.contrib.admin,
# which INSTALLED_APPS lists first; LOCALE_PATHS rank above every app.
LOCALE_PATHS = [
    BASE_DIR / "locale",
    BASE_DIR / "clearinghouse" / "portal" / "locale",
    BASE_DIR / "clearinghouse" / "console" / "locale",
    BASE_DIR / "clearinghouse" / "releases" / "locale",
    BASE_DIR / "clearinghouse" / "workbench" / "locale",
    BASE_DIR / "clearinghouse" / "charts" / "locale",
]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clearinghouse.accounts.authentication.BearerAuthentication",
        "clearinghouse.accounts.authentication.PortalSessionAuthentication",
    ],
    # The permission table, then the query parameters the handler declares (api/queryparams.py).
    "DEFAULT_PERMISSION_CLASSES": [
        "clearinghouse.api.permissions.TablePermission",
        "clearinghouse.api.queryparams.DeclaredQueryParameters",
    ],
    # ?format= a view does not offer is a 400 naming it, not DRF's 404.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "clearinghouse.api.renderers.ApiContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["clearinghouse.api.parsers.StrictJSONParser"],
    # The error format (clearinghouse.api.errors), with denials audited on the way out.
    "EXCEPTION_HANDLER": "clearinghouse.audit.denials.api_exception_handler_audited",
    # Audience tags from the permission table, summaries and descriptions from docstrings.
    "DEFAULT_SCHEMA_CLASS": "clearinghouse.api.schema.ApiAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "clearinghouse.api.pagination.Pagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_RATES": {
        "credentials": env_str("CH_THROTTLE_CREDENTIALS", "1000/hour" if TESTING else "20/min"),
        "link_redeem": env_str("CH_THROTTLE_LINK_REDEEM", "1000/min" if TESTING else "60/min"),
        "audit_public": env_str("CH_THROTTLE_AUDIT_PUBLIC", "10000/min" if TESTING else "120/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clearinghouse API",
    "DESCRIPTION": (
        "Privacy-preserving consumer data clearinghouse for C2M commerce: consumers consent purpose by purpose, "
        "platforms deliver signals only for consented people, manufacturers receive only differentially private "
        "aggregates, and everything is in a tamper-evident audit log.\n\n"
        "Operations are grouped by who may call them. Authenticate with `Authorization: Bearer <key>` (consumers "
        '`chc_…`, platforms `chp_…`, manufacturers `chm_…`). Every error is `{"error": {"code", "message", '
        '"details"}}` with a stable code, documented per operation. An endpoint refuses query parameters it does not '
        "take (400 `unknown_parameter`). Results (releases, reports, trends) and the budget also come as CSV "
        "(`?format=csv` or `Accept: text/csv`; labels in `?lang=` or Accept-Language) and results as a detached "
        "signature (`?format=sig`). Times are UTC; ε is a decimal string."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are for anyone (docs/product.md §5: GET /api/schema/, /api/docs/):
    # they describe the API, they hold no one's data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # The audiences operations are grouped by (clearinghouse.api.schema.ApiAutoSchema.get_tags).
    "TAGS": [
        {
            "name": "consumer",
            "description": "People whose data this is: their consents and receipts, platform links, privacy loss, export and erasure.",
        },
        {
            "name": "platform",
            "description": "Shops and apps: redeem link codes, check consent, deliver preference signals, read their batches.",
        },
        {
            "name": "manufacturer",
            "description": "Makers: the catalogue, free plans, differentially private releases, reports and trends, their budget; "
            "results as JSON (signed), CSV or a detached signature.",
        },
        {
            "name": "compliance",
            "description": "Compliance officers: the audit log, its verification and export, inclusion proofs, lifting lockouts.",
        },
        {
            "name": "public",
            "description": "Anyone: sign-up and tokens, the published keys, health, and the audit log's public checkpoints and tiles.",
        },
    ],
    # Releases take five measures, reports and trends two: name the two choice sets apart.
    "ENUM_NAME_OVERRIDES": {
        "ReleaseMeasureEnum": ["consumers", "signals", "sum_value", "mean_value", "top_k"],
        "CountMeasureEnum": ["consumers", "signals"],
    },
    # Swagger UI from our own static files: /api/docs/ must work offline, and an unpinned
    # CDN script would run with the page's origin.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI otherwise loads a badge from validator.swagger.io on any host but
    # localhost: nothing on the page may call outside.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    # Every operation's error answers (400, 401, 403, 404, 413, 429, 503, ...) in the schema.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "clearinghouse.api.schema.error_responses_hook",
    ],
}

# --- Security -------------------------------------------------------------------------
# Portal sessions end after this much inactivity (every request renews them) or when the
# browser closes, whichever comes first.
SESSION_COOKIE_AGE = env_int("CH_SESSION_AGE_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "clearinghouse.portal.views.csrf_failure"
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})},
}


# --- Domain ---------------------------------------------------------------------------
def _operator_detail(name: str, demo: str) -> str:
    """Required from the environment in production; a visible placeholder otherwise."""
    value = env_str(name) if PRODUCTION else env_str(name, demo)
    return demo if value is None else value  # (env_str without a default raises instead)


_CONTROLLER_NAME = _operator_detail("CH_CONTROLLER_NAME", "Clearinghouse (demo operator)")
CH_CONTROLLER = {
    "name": _CONTROLLER_NAME,
    # The operator's name in each language the service speaks, so that a Chinese receipt,
    # certificate or trust page carries no English (core.operator.controller_name picks).
    "names": {
        "en": _CONTROLLER_NAME,
        "zh-hans": _operator_detail("CH_CONTROLLER_NAME_ZH", "数据授权中心（演示运营方）"),
    },
    "contact": _operator_detail("CH_CONTROLLER_CONTACT", "privacy@clearinghouse.example"),
    "jurisdiction": "CN",
}
# Any request body above this is refused with 413 before it is read (views that check
# their own limit, like signal intake below, say so: clearinghouse/api/middleware.py).
CH_REQUEST_MAX_BYTES = env_int("CH_REQUEST_MAX_BYTES", 1024 * 1024, minimum=1024)
# Who runs the service, for the public trust page (/about/) shown before login: PIPL Art. 17
# (the handler's name and contact) and Art. 52 (the person responsible for personal-
# information protection). Every one is required in production; the demo has placeholders.
CH_OPERATOR = {
    "name": CH_CONTROLLER["name"],
    "names": CH_CONTROLLER["names"],
    # The demo's address and officer are English here and Chinese on a Chinese page
    # (portal.presentation.DEMO_OPERATOR_WORDS); a deployment's own are shown as given.
    "address": _operator_detail("CH_OPERATOR_ADDRESS", "1 Example Road, Shanghai (demo)"),
    "contact": CH_CONTROLLER["contact"],
    "protection_officer": _operator_detail("CH_PROTECTION_OFFICER_NAME", "Example Officer (demo)"),
    "protection_officer_contact": _operator_detail("CH_PROTECTION_OFFICER_CONTACT", "dpo@clearinghouse.example"),
    "complaints_contact": _operator_detail("CH_COMPLAINTS_CONTACT", "complaints@clearinghouse.example"),
    # The regulator people may complain to (PIPL Art. 65); the default is the CAC's reporting
    # centre, which takes complaints about personal-information handling nationwide.
    "regulator_contact": env_str("CH_REGULATOR_CONTACT", "https://www.12377.cn · 12377"),
}
CH_SIGNAL_BATCH_MAX = env_int("CH_SIGNAL_BATCH_MAX", 10_000, minimum=1)
# A body above this is refused (413) before it is read; 10,000 items of the largest legal
# size fit with room to spare.
CH_SIGNAL_BATCH_MAX_BYTES = env_int("CH_SIGNAL_BATCH_MAX_BYTES", 16 * 1024 * 1024, minimum=1024)
# How far in the future a platform's clock may put occurred_at before the item is refused.
CH_INTAKE_CLOCK_SKEW_SECONDS = env_int("CH_INTAKE_CLOCK_SKEW_SECONDS", 300, minimum=0)
# A platform asking for another platform's object gets its 404 no sooner than this, like
# one asking for a missing object, so the audit write of the blocked attempt cannot be
# timed (see clearinghouse/intake/api.py).
CH_WALL_FLOOR_MS = env_int("CH_WALL_FLOOR_MS", 30, minimum=0)

# --- Releases (differential privacy) ------------------------------------------------------
# The one per-person guarantee: over any rolling 365 days, everything released about a
# person, across every purpose, stays within (CH_PERSON_EPSILON_CAP, CH_PRIVACY_DELTA)-DP;
# δ is stated as 0 while only pure-ε releases touched the person (releases/accounting.py).
CH_PERSON_EPSILON_CAP = env_float("CH_PERSON_EPSILON_CAP", 6.0, minimum=0.0001)
CH_PRIVACY_DELTA = env_float("CH_PRIVACY_DELTA", 1e-7, minimum=1e-15)
if not 0 < CH_PRIVACY_DELTA < 1e-3:
    raise ImproperlyConfigured(f"environment variable CH_PRIVACY_DELTA must be above 0 and below 0.001, got {CH_PRIVACY_DELTA!r}")
CH_RELEASE_MAX_CELLS = env_int("CH_RELEASE_MAX_CELLS", 10_000, minimum=1)
# A running release whose lease ran out (its worker died: the job renews the lease every
# third of it while alive) is handed to another worker by the next sweep.
CH_RELEASE_LEASE_SECONDS = env_int("CH_RELEASE_LEASE_SECONDS", 30, minimum=1)
# A queued release whose task never reached the broker is re-sent after this long.
CH_RELEASE_RESEND_SECONDS = env_int("CH_RELEASE_RESEND_SECONDS", 60, minimum=1)
CH_RELEASE_MAX_ATTEMPTS = env_int("CH_RELEASE_MAX_ATTEMPTS", 5, minimum=1)
# A finished job is shown as done only at the next multiple of this many seconds after it
# was requested: how long it took must not tell anyone how much data one person has.
CH_RELEASE_VISIBLE_STEP_SECONDS = env_float("CH_RELEASE_VISIBLE_STEP_SECONDS", 2.0, minimum=0.001)
# work_mem for the release statement's sorts and hashes (PostgreSQL), e.g. "256MB".
CH_RELEASE_WORK_MEM = env_str("CH_RELEASE_WORK_MEM", "256MB")
if not re.fullmatch(r"[1-9][0-9]*(kB|MB|GB)", CH_RELEASE_WORK_MEM):
    raise ImproperlyConfigured(f"environment variable CH_RELEASE_WORK_MEM must look like 256MB (kB, MB or GB), got {CH_RELEASE_WORK_MEM!r}")

# --- Notices (signed notifications to manufacturers, docs/notifications.md) --------------
# Seconds to wait before each retry: one attempt, then one more after each wait (the default
# is 8 attempts over about an hour), then the notice is given up.
_notice_schedule = env_list("CH_NOTICE_RETRY_SCHEDULE", ["30", "60", "120", "300", "600", "900", "1500"])
try:
    CH_NOTICE_RETRY_SCHEDULE = [int(item) for item in _notice_schedule]
except ValueError:
    raise ImproperlyConfigured(
        f"environment variable CH_NOTICE_RETRY_SCHEDULE must be comma-separated whole seconds, got {_notice_schedule!r}"
    ) from None
if not CH_NOTICE_RETRY_SCHEDULE or any(delay < 1 for delay in CH_NOTICE_RETRY_SCHEDULE) or len(CH_NOTICE_RETRY_SCHEDULE) > 50:
    raise ImproperlyConfigured("environment variable CH_NOTICE_RETRY_SCHEDULE must list 1 to 50 waits of at least 1 second")
# Connect and read timeout of one attempt: a slow receiver must not hold a worker.
CH_NOTICE_TIMEOUT_SECONDS = env_float("CH_NOTICE_TIMEOUT_SECONDS", 5.0, minimum=0.1)
# Callbacks over plain http to a loopback host (127.0.0.0/8, ::1, localhost), for development
# and tests only: never in production, where every callback is https.
CH_NOTICE_ALLOW_LOOPBACK = env_bool("CH_NOTICE_ALLOW_LOOPBACK", not PRODUCTION)
if PRODUCTION and CH_NOTICE_ALLOW_LOOPBACK:
    raise ImproperlyConfigured("environment variable CH_NOTICE_ALLOW_LOOPBACK must be off when CH_ENV=production")
# In production a callback may not reach private, loopback, link-local or otherwise
# non-public addresses (the service would be a way into its own network) unless the address
# is in one of these networks, e.g. "10.20.0.0/16" for a manufacturer on a private link.
CH_NOTICE_REFUSE_PRIVATE = PRODUCTION
CH_NOTICE_ALLOWED_NETWORKS: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
for _network in env_list("CH_NOTICE_ALLOWED_NETWORKS", []):
    try:
        CH_NOTICE_ALLOWED_NETWORKS.append(ipaddress.ip_network(_network, strict=False))
    except ValueError:
        raise ImproperlyConfigured(f"environment variable CH_NOTICE_ALLOWED_NETWORKS: {_network!r} is not an address or network") from None

# --- Audit --------------------------------------------------------------------------------
# Who seals audit events that found the seal lock taken: "after_commit" (the writing
# process, right after its commit: nothing else to run) or "process" (a dedicated
# `manage.py audit_sealer`; writers then do nothing after commit, which
# is what a high write rate needs). Either way a beat task is the backstop.
# Witnesses that cosign checkpoints (issue 15, docs/audit.md): comma-separated
# "<verifier key>@<url>", e.g. "w1.example+1a2b3c4d+BAb…=@http://w1.example:7380", or
# "file:<path>@<url>" for a key the witness publishes into a file (docker/compose.yaml).
CH_AUDIT_WITNESSES = [item.strip() for item in (env_str("CH_AUDIT_WITNESSES", "") or "").split(",") if item.strip()]
for _witness in CH_AUDIT_WITNESSES:
    if not re.fullmatch(r"(file:[^@]+|[^+@\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*)@https?://[^\s@]+", _witness):
        raise ImproperlyConfigured(
            f"environment variable CH_AUDIT_WITNESSES: {_witness!r} is not <verifier key>@http(s)://host:port or file:<path>@http(s)://…"
        )
CH_AUDIT_WITNESS_TIMEOUT = env_int("CH_AUDIT_WITNESS_TIMEOUT_MS", 2000, minimum=50) / 1000
CH_AUDIT_SEALER = env_choice("CH_AUDIT_SEALER", "after_commit", {"after_commit", "process"})
# Worker processes for verifying a large audit log (one per 2^20 events at a time).
CH_AUDIT_VERIFY_WORKERS = env_int("CH_AUDIT_VERIFY_WORKERS", min(os.cpu_count() or 1, 8), minimum=1)
