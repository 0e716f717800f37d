"""The bundle: the active version of every surface of a system, with its content, as the
AI system reads it (`GET /api/v1/systems/{slug}/bundle`). Encoded once per deployment and
cached like the mode; the database is the truth when the cache is cold or away."""

import hashlib
import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache

from rollbacks.models import ActiveVersion, Surface
from systems.mode_feed import CACHE_SECONDS, SERVICE_ERRORS, mode_group
from systems.models import AISystem

logger = logging.getLogger(__name__)


def bundle_key(slug: str) -> str:
    return f"bundle:{slug}"


def bundle_payload(system) -> dict:
    active = {
        a.surface: a
        for a in ActiveVersion.objects.filter(system=system).select_related("version", "deployment")
    }
    surfaces = {}
    for surface in Surface.values:
        item = active.get(surface)
        surfaces[surface] = (
            {
                "version": item.version.number,
                "reference": item.version.reference,
                "content": item.version.content,
                "deployed_at": item.deployment.at.isoformat(),
                "deployed_by": item.deployment.actor_label,
            }
            if item
            else None
        )
    return {"system": system.slug, "surfaces": surfaces}


def bundle_entry(system) -> dict:
    payload = bundle_payload(system)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    versions = ".".join(
        f"{s[0]}{(payload['surfaces'][s] or {}).get('version', 0)}" for s in Surface.values
    )
    digest = hashlib.sha256(body).hexdigest()[:12]
    return {"body": body, "etag": f'"{system.slug}.{versions}.{digest}"', "payload": payload}


def bundle_publish(system) -> None:
    """After a deployment commits: refresh the cached bundle, and tell the system's open
    mode streams, whose clients then fetch it (with If-None-Match)."""
    entry = bundle_cache_put(system)
    try:
        async_to_sync(get_channel_layer().group_send)(
            mode_group(system.slug),
            {
                "type": "bundle.changed",
                "payload": {"system": system.slug, "etag": entry["etag"]},
            },
        )
    except Exception:  # a notice lost must never fail the deployment that committed
        logger.exception("Could not announce the bundle of %s", system.slug)


def bundle_cache_put(system) -> dict:
    entry = bundle_entry(system)
    try:
        cache.set(bundle_key(system.slug), entry, CACHE_SECONDS)
    except SERVICE_ERRORS:
        logger.exception("Could not cache the bundle of %s", system.slug)
    return entry


def bundle_entry_for(slug: str) -> dict | None:
    """The encoded bundle: from the cache while unchanged, else from the database."""
    try:
        entry = cache.get(bundle_key(slug))
    except SERVICE_ERRORS:
        entry = None
    if entry is not None:
        return entry
    system = AISystem.objects.filter(slug=slug).first()
    return bundle_cache_put(system) if system else None
