"""Whether a request carries the scrape token: `Authorization: Bearer <METRICS_TOKEN>`."""

import hmac

SCHEME = "bearer "


def bearer_matches(authorization: str, token: str) -> bool:
    """True when the header names exactly this token (compared in constant time); never
    for an empty token, which means none is configured."""
    if not token or authorization[: len(SCHEME)].lower() != SCHEME:
        return False
    offered = authorization[len(SCHEME) :].strip()
    return hmac.compare_digest(offered.encode(), token.encode())
