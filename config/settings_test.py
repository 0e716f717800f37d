"""Settings for the test suite: production settings on the real PostgreSQL and Redis.

`make test` runs against localhost; DATABASE_URL and REDIS_URL point it elsewhere.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-django-checks")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/failsafe")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from config.settings import *  # noqa: F403

# The browser tests talk plain HTTP to a local server.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None
# Real task code, run in the test's own process and transaction.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Hashing passwords slowly is a feature in production and a cost in a test suite.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The sign-in slow-down waits real seconds; a test that checks it sets its own.
SIGN_IN_SLOW_DOWN_SECONDS = 0.0
