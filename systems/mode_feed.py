"""How a system's mode reaches its clients: a cached, pre-encoded answer for `GET mode`,
and a channel-layer group that every open mode stream listens on.

Both are filled after the change commits. Neither is the truth: the database is. When
Redis is down, readers fall back to the database and streams to polling.
"""

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from redis.exceptions import RedisError

# What a cache or channel layer on an unreachable Redis raises.
SERVICE_ERRORS = (RedisError, OSError)

logger = logging.getLogger(__name__)

# A mode change rewrites the cached answer at once. The expiry only bounds the damage if that
# rewrite failed (Redis briefly away at the moment of the change, then back with the old
# answer): a kill switch may not be stale for longer than this.
CACHE_SECONDS = 60


def mode_key(slug: str) -> str:
    return f"mode:{slug}"


def mode_group(slug: str) -> str:
    return f"mode-{slug}"


def etag_for(slug: str, revision: int) -> str:
    return f'"{slug}.{revision}"'


def mode_payload(state) -> dict:
    """The mode as the API and the stream say it (docs/INTERFACE.md)."""
    return {
        "system": state.system.slug,
        "mode": state.mode,
        "revision": state.revision,
        "changed_at": state.changed_at.isoformat() if state.changed_at else None,
        "changed_by": state.changed_by or None,
        "reason": state.reason,
        "drill": state.drill,
    }


def mode_entry(state) -> dict:
    """What the cache holds: the JSON body encoded once, and its ETag."""
    payload = mode_payload(state)
    return {
        "body": json.dumps(payload, separators=(",", ":")).encode(),
        "etag": etag_for(payload["system"], payload["revision"]),
        "payload": payload,
    }


def mode_cache_put(state) -> dict:
    entry = mode_entry(state)
    try:
        cache.set(mode_key(state.system.slug), entry, CACHE_SECONDS)
    except SERVICE_ERRORS:
        logger.exception("Could not cache the mode of %s", state.system.slug)
    return entry


def mode_publish(state) -> None:
    """After a change commits: refresh the cache, then tell every open stream."""
    entry = mode_cache_put(state)
    try:
        async_to_sync(get_channel_layer().group_send)(
            mode_group(state.system.slug), {"type": "mode.changed", "payload": entry["payload"]}
        )
    except Exception:  # never fail the mode change that committed
        # Streams that miss this notice it on their next poll of the database.
        logger.exception("Could not announce the mode of %s", state.system.slug)
