"""Bearer tokens of every kind (a system's, a person's): 256 random bits behind a prefix
that names the kind, stored only as their SHA-256.

With 256 random bits a fast hash is enough: there is nothing to brute-force.
"""

import hashlib
import secrets

# How many characters after the kind's prefix are kept to tell tokens apart on a page.
SHOWN_CHARACTERS = 8


def token_generate(kind_prefix: str) -> str:
    return kind_prefix + secrets.token_urlsafe(32)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_shown_prefix(raw: str, kind_prefix: str) -> str:
    """The start of a raw token that its lists show, e.g. `fsp_3kT9xQ2a`."""
    return raw[: len(kind_prefix) + SHOWN_CHARACTERS]
