from django.conf import settings
from django.db import models
from django.utils import timezone

from core.tokens import token_hash

# Methods a read-only personal token may use: those that change nothing.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PersonalToken(models.Model):
    """A credential a person's scripts use to call the API as that person, with that
    person's role. Only its SHA-256 is stored; the raw token is shown once."""

    PREFIX = "fsp_"

    class Scope(models.TextChoices):
        READ = "read", "Read: GET requests only"
        WRITE = "write", "Read and write: actions too"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_tokens"
    )
    name = models.CharField(max_length=80, help_text="What uses it, e.g. 'nightly export'.")
    # The first characters of the token, shown so people can tell their tokens apart.
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["revoked_at", "-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return token_hash(raw)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def audit_label(self) -> str:
        return f"token {self.prefix}…"

    def allows_method(self, method: str) -> bool:
        """A read token only reads; a write token may do whatever its person may."""
        return self.scope == self.Scope.WRITE or method.upper() in READ_METHODS
