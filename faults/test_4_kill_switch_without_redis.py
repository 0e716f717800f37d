"""Scenario 4: Redis and the Celery worker both down. A responder changes the mode through
the page and through the API; SDK clients polling the database-backed mode see each change
within their poll interval. When Redis returns, the clients' streams carry the next change
at once again."""

import secrets
import time

import httpx
from django.conf import settings
from django.test import Client
from failsafe_client import Failsafe

from faults.figures import table
from faults.stack import wait_for
from faults.world import celery_heartbeat_after, person, system_with_token

POLL_SECONDS = 2.0


class NoStream(httpx.HTTPTransport):
    """A proxy that cuts event streams: the client behind it can only poll."""

    def handle_request(self, request):
        if request.url.path.endswith("/mode/stream"):
            raise httpx.ConnectError("streams are cut here", request=request)
        return super().handle_request(request)


def seen_within(clients, slug: str, mode: str, timeout: float = 30.0) -> list[float]:
    """Seconds until each client answers `mode`."""
    started, seen = time.monotonic(), {}
    while len(seen) < len(clients) and time.monotonic() - started < timeout:
        for n, client in enumerate(clients):
            if n not in seen and client.mode(slug) == mode:
                seen[n] = time.monotonic() - started
        time.sleep(0.01)
    return [seen.get(n, float("inf")) for n in range(len(clients))]


def test_the_kill_switch_changes_and_reaches_clients_with_redis_and_the_worker_down(stack, figures):
    from accounts.token_services import personal_token_create

    system, token = system_with_token("faults-kill-switch", ["mode:read"])
    responder = person("faults-responder")
    browser = Client()
    browser.force_login(responder)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    _, personal = personal_token_create(user=responder, name="faults", scope="write")
    csrf = secrets.token_hex(16)
    page = httpx.Client(
        base_url=stack.url,
        headers={
            "Origin": stack.url,
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "HX-Request": "true",  # the page's confirm posts through htmx
        },
    )
    api = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {personal}"})

    pollers = [
        Failsafe(stack.url, token, poll_interval=POLL_SECONDS, transport=NoStream())
        for _ in range(2)
    ]
    # A long poll interval: what reaches these fast came down the stream.
    streamers = [Failsafe(stack.url, token, poll_interval=120.0) for _ in range(2)]
    clients = pollers + streamers
    rows, notes = [], []
    try:
        for client in clients:
            client.watch(system.slug, wait=True)
        stack.worker.kill()
        stack.redis_stop()

        answer = page.post(
            f"/systems/{system.slug}/mode/", data={"mode": "degraded", "reason": "Faults: page"}
        )
        assert answer.status_code == 200, answer.text[:500]
        by_page = seen_within(clients, system.slug, "degraded")

        answer = api.post(
            f"/api/v1/systems/{system.slug}/mode", json={"mode": "human", "reason": "Faults: API"}
        )
        assert answer.status_code == 200, answer.text[:500]
        by_api = seen_within(clients, system.slug, "human")

        redis_back = stack.redis_start()
        stack.worker.start()
        # Past any reconnection: what arrives now comes down a stream that is up.
        time.sleep(3.0)
        answer = api.post(
            f"/api/v1/systems/{system.slug}/mode", json={"mode": "off", "reason": "Faults: back"}
        )
        assert answer.status_code == 200, answer.text[:500]
        after = seen_within(streamers, system.slug, "off")
        back = time.time()
        heartbeat = wait_for("heartbeat", lambda: celery_heartbeat_after(back), 60, 0.5)
    finally:
        for client in clients:
            client.close()
        page.close()
        api.close()

    for name, delays, group in (
        ("page, Redis+worker down", by_page, clients),
        ("API, Redis+worker down", by_api, clients),
        ("API, Redis back: streams", after, streamers),
    ):
        rows.append(
            {
                "scenario": name,
                "sent": len(group),
                "stored": sum(d != float("inf") for d in delays),
                "lost": sum(d == float("inf") for d in delays),
                "recover s": f"{max(delays):.2f}",
            }
        )
    notes = [
        "sent = clients, stored = clients that saw the change; recover s = the slowest "
        f"client's delay. Pollers poll every {POLL_SECONDS:.0f} s (streams cut); streamers poll "
        "every 120 s",
        "delays pollers/streamers, page: "
        + ", ".join(f"{d:.2f}" for d in by_page)
        + "; API: "
        + ", ".join(f"{d:.2f}" for d in by_api)
        + "; after Redis: "
        + ", ".join(f"{d:.2f}" for d in after),
        f"Redis up in {redis_back:.2f} s; Celery's heartbeat again {heartbeat:.2f} s after",
    ]
    figures(table("4. The kill switch with Redis and the worker down", rows, notes))
    assert max(by_page) <= POLL_SECONDS + 1.0
    assert max(by_api) <= POLL_SECONDS + 1.0
    assert max(after) <= 2.0, "the streams did not carry the change once Redis was back"
