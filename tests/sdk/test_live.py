"""The client against the real server (uvicorn in a thread, PostgreSQL, Redis): a mode change made
through the service reaches it over the stream, it acknowledges, and it keeps obeying
through the server's absence."""

from failsafe_client import _store
from failsafe_client.openfeature import FailsafeProvider
from openfeature import api

from systems.models import ModeAck, ModeClient
from systems.services import mode_change, mode_drill, token_issue
from tests.factories import AISystemFactory
from tests.sdk.fakes import wait_until

SLUG = "refund-classifier"


def acked(system, client_id, revision):
    return ModeAck.objects.filter(system=system, client_id=client_id, revision=revision).exists()


def test_a_mode_change_reaches_the_client_over_the_stream_within_a_second(
    live_client, live_system, responder
):
    failsafe = live_client(poll_interval=60)
    changes = []
    failsafe.on_change(lambda *change: changes.append(change))
    assert failsafe.watch(SLUG, wait=True) == "ai"
    assert wait_until(lambda: ModeClient.objects.filter(system=live_system, streams=1).exists())

    state = mode_change(actor=responder, system=live_system, mode="off", reason="Bad refunds")

    assert wait_until(lambda: failsafe.mode(SLUG) == "off", timeout=1.0)
    assert failsafe.revision(SLUG) == state.revision
    assert wait_until(lambda: changes) == [(SLUG, "off", state.revision)]
    assert failsafe.transport.count("/mode") == 0  # the stream brought it, not polling


def test_the_client_acknowledges_the_revision_it_applied(live_client, live_system, responder):
    failsafe = live_client(client_id="refunds-worker-1")
    failsafe.watch(SLUG, wait=True)

    state = mode_change(actor=responder, system=live_system, mode="off", reason="Bad refunds")

    assert wait_until(lambda: acked(live_system, "refunds-worker-1", state.revision))
    client = ModeClient.objects.get(system=live_system, client_id="refunds-worker-1")
    assert client.revision == state.revision


def test_a_drill_is_acknowledged_and_changes_nothing(live_client, live_system, responder):
    mode_change(actor=responder, system=live_system, mode="degraded", reason="Drift")
    failsafe = live_client()
    changes = []
    failsafe.on_change(lambda *change: changes.append(change))
    failsafe.watch(SLUG)
    # The first answer changes the default (ai) to degraded: that one is a change.
    assert wait_until(lambda: changes) == [(SLUG, "degraded", 1)]
    changes.clear()

    drill = mode_drill(actor=responder, system=live_system)

    assert wait_until(lambda: acked(live_system, failsafe.client_id, drill.revision))
    assert failsafe.revision(SLUG) == drill.revision
    assert failsafe.mode(SLUG) == "degraded"
    assert changes == []


def test_it_serves_the_saved_mode_while_the_server_is_unreachable(
    live_client, live_system, responder, tmp_path, closed_port_url
):
    online = live_client(cache_dir=tmp_path)
    online.watch(SLUG, wait=True)
    state = mode_change(actor=responder, system=live_system, mode="off", reason="Bad refunds")
    assert wait_until(lambda: online.mode(SLUG) == "off")
    online.close()

    # A restart while the server is down.
    offline = live_client(url=closed_port_url, cache_dir=tmp_path, timeout=0.5)

    assert offline.mode(SLUG) == "off"
    assert offline.revision(SLUG) == state.revision
    assert offline.watch(SLUG, wait=True) == "off"


def test_without_server_or_saved_mode_it_serves_the_default(live_client, tmp_path, closed_port_url):
    failsafe = live_client(
        url=closed_port_url, cache_dir=tmp_path, default_mode="degraded", timeout=0.5
    )
    assert failsafe.watch(SLUG, wait=True) == "degraded"
    assert failsafe.revision(SLUG) is None


def test_it_picks_up_a_change_made_while_it_was_away(live_client, live_system, responder, tmp_path):
    _store.save(tmp_path, SLUG, "ai", 0)
    state = mode_change(actor=responder, system=live_system, mode="off", reason="Bad refunds")
    failsafe = live_client(cache_dir=tmp_path)
    changes = []
    failsafe.on_change(lambda *change: changes.append(change))

    assert failsafe.mode(SLUG) == "ai"  # the saved mode, until the server answers
    assert wait_until(lambda: failsafe.mode(SLUG) == "off")
    assert wait_until(lambda: changes) == [(SLUG, "off", state.revision)]
    assert _store.load(tmp_path, SLUG) == _store.Saved(mode="off", revision=state.revision)
    assert wait_until(lambda: acked(live_system, failsafe.client_id, state.revision))


def test_a_token_of_another_system_is_refused_and_the_default_stays(
    live_client, live_system, admin_user, responder, caplog
):
    other = AISystemFactory(slug="support-reply")
    _, raw = token_issue(actor=admin_user, system=other, name="other", scopes=["mode:read"])
    mode_change(actor=responder, system=live_system, mode="off", reason="Bad refunds")
    failsafe = live_client(token=raw)

    assert failsafe.watch(SLUG, wait=True) == "ai"
    assert failsafe.revision(SLUG) is None
    assert "403" in caplog.text


def test_the_openfeature_provider_answers_from_the_cache(live_client, live_system, responder):
    failsafe = live_client()
    failsafe.watch(SLUG, wait=True)
    api.set_provider(FailsafeProvider(failsafe), "failsafe-live")
    try:
        flags = api.get_client("failsafe-live")
        assert flags.get_string_value(SLUG, "ai") == "ai"

        mode_change(actor=responder, system=live_system, mode="off", reason="Bad refunds")
        assert wait_until(lambda: flags.get_string_value(SLUG, "ai") == "off")

        before = len(failsafe.transport.requests)
        for _ in range(100):
            assert flags.get_string_value(SLUG, "ai") == "off"
        # Evaluations make no HTTP call (only the client's acknowledgements may go out).
        assert all(r.url.path.endswith("/ack") for r in failsafe.transport.requests[before:])
    finally:
        api.clear_providers()


def test_the_bundle_follows_a_rollback_announced_on_the_stream(live_client, live_system, responder):
    from rollbacks.services import version_add, version_deploy, version_rollback

    versions = [
        version_add(
            actor=responder,
            system=live_system,
            surface="prompt",
            content={"template": f"Prompt {n} {{r}}", "variables": ["r"]},
        )
        for n in (1, 2)
    ]
    version_deploy(actor=responder, version=versions[0], reason="Launch")
    version_deploy(actor=responder, version=versions[1], reason="Change")
    failsafe = live_client(poll_interval=60)
    failsafe.watch(SLUG, wait=True)
    assert failsafe.bundle(SLUG)["surfaces"]["prompt"]["version"] == 2

    version_rollback(actor=responder, version=versions[0], reason="Over-flags")

    assert wait_until(
        lambda: failsafe.bundle(SLUG)["surfaces"]["prompt"]["version"] == 1, timeout=1.0
    )
    assert failsafe.bundle(SLUG)["surfaces"]["prompt"]["content"]["template"] == "Prompt 1 {r}"
