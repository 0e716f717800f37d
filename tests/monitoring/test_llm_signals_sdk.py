"""The failsafe-client SDK sends what a generative-AI call adds (scores, error, finish
reason, usage, provider) to the real server, which stores it."""

from failsafe_client import Failsafe

from monitoring.models import Event, Rollup
from systems.services import token_issue
from tests.factories import AISystemFactory


def test_record_sends_scores_error_finish_reason_usage_and_provider(asgi_server):
    system = AISystemFactory(slug="support-reply")
    _, token = token_issue(actor=None, system=system, name="sdk", scopes=["events:write"])
    failsafe = Failsafe(asgi_server, token, system="support-reply")
    try:
        failsafe.record(
            {
                "id": "reply-1",
                "output": {"text": "Your order ships on Monday."},
                "scores": {"faithfulness": 0.42, "toxicity": 0.01},
                "error": "",
                "finish_reason": "length",
                "usage": {"input_tokens": 812, "output_tokens": 164},
                "provider": "openai",
            }
        )
        failsafe.record({"id": "reply-2", "error": "timeout", "provider": "openai"})
        assert failsafe.flush(timeout=10)
    finally:
        failsafe.close()

    assert failsafe.record_stats()["sent"] == 2
    first, second = Event.objects.filter(system=system).order_by("client_id")
    assert first.scores == {"faithfulness": 0.42, "toxicity": 0.01}
    assert (first.finish_reason, first.input_tokens, first.output_tokens) == ("length", 812, 164)
    assert (second.error, second.provider, second.scores) == ("timeout", "openai", {})
    cells = Rollup.objects.filter(system=system, signal="scores.faithfulness")
    assert list(cells.values_list("key", "n")) == [("0.4", 1)]
