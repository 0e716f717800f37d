"""The last known mode on disk: written atomically, read back at start, trusted only when
sound; and the client id kept beside it."""

import json
import os

import pytest
from failsafe_client import Failsafe, _store

from tests.sdk.fakes import wait_until

SLUG = "refunds"


def offline(cache_dir, **options):
    """A client whose server never answers (its transport refuses every request)."""
    import httpx

    def refuse(request):
        raise httpx.ConnectError("down", request=request)

    return Failsafe(
        "http://failsafe.test",
        "fsk_test",
        cache_dir=cache_dir,
        transport=httpx.MockTransport(refuse),
        timeout=0.2,
        **options,
    )


def test_save_writes_one_json_file_and_no_leftovers(tmp_path):
    _store.save(tmp_path, SLUG, "off", 7)

    assert [p.name for p in tmp_path.iterdir()] == ["refunds.mode.json"]
    document = json.loads((tmp_path / "refunds.mode.json").read_text())
    assert document["mode"] == "off"
    assert document["revision"] == 7
    assert _store.load(tmp_path, SLUG) == _store.Saved(mode="off", revision=7)


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path, monkeypatch):
    _store.save(tmp_path, SLUG, "off", 7)

    def crash(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    _store.save(tmp_path, SLUG, "ai", 8)  # logged, not raised

    assert [p.name for p in tmp_path.iterdir()] == ["refunds.mode.json"]
    assert _store.load(tmp_path, SLUG) == _store.Saved(mode="off", revision=7)


def test_the_file_name_stays_inside_the_directory(tmp_path):
    _store.save(tmp_path, "../escape", "off", 1)
    assert [p.name for p in tmp_path.iterdir()] == ["..%2Fescape.mode.json"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"mode": "maintenance", "revision": 3}',
        '{"mode": "off", "revision": "3"}',
        '{"mode": "off", "revision": true}',
        '{"mode": "off"}',
    ],
)
def test_an_unsound_file_is_ignored(tmp_path, content, caplog):
    (tmp_path / "refunds.mode.json").write_text(content)
    assert _store.load(tmp_path, SLUG) is None
    assert "Ignoring" in caplog.text


def test_a_restart_with_the_server_down_serves_the_saved_mode(tmp_path):
    _store.save(tmp_path, SLUG, "human", 4)

    with offline(tmp_path) as failsafe:
        assert failsafe.mode(SLUG) == "human"
        assert failsafe.revision(SLUG) == 4
        assert failsafe.watch(SLUG, wait=True) == "human"


def test_with_neither_server_nor_file_it_serves_the_default(tmp_path):
    with offline(tmp_path, default_mode="off") as failsafe:
        assert failsafe.watch(SLUG, wait=True) == "off"
        assert failsafe.revision(SLUG) is None
    with offline(None) as failsafe:
        assert failsafe.mode(SLUG) == "ai"


def test_an_unsound_file_falls_back_to_the_default(tmp_path):
    (tmp_path / "refunds.mode.json").write_text("{")
    with offline(tmp_path, default_mode="degraded") as failsafe:
        assert failsafe.mode(SLUG) == "degraded"


def test_each_applied_revision_is_saved(fake, make_client, tmp_path):
    failsafe = make_client(cache_dir=tmp_path)
    failsafe.watch(SLUG, wait=True)
    assert wait_until(lambda: _store.load(tmp_path, SLUG) == _store.Saved("ai", 1))

    fake.change("off")
    assert wait_until(lambda: _store.load(tmp_path, SLUG) == _store.Saved("off", 2))

    fake.change("off", drill=True)
    assert wait_until(lambda: _store.load(tmp_path, SLUG) == _store.Saved("off", 3))


def test_the_cache_directory_is_made_if_missing(tmp_path):
    with offline(tmp_path / "a" / "b") as failsafe:
        assert failsafe.cache_dir == tmp_path / "a" / "b"
        assert (tmp_path / "a" / "b" / "client_id").exists()


def test_an_unusable_cache_directory_is_logged_not_raised(tmp_path, caplog):
    (tmp_path / "file").write_text("")
    with offline(tmp_path / "file" / "sub") as failsafe:
        assert failsafe.cache_dir is None
        assert failsafe.mode(SLUG) == "ai"
    assert "Cannot use" in caplog.text


def test_the_client_id_is_kept_in_the_cache_directory(tmp_path):
    with offline(tmp_path) as first, offline(tmp_path) as second:
        assert first.client_id == second.client_id
    assert (tmp_path / "client_id").read_text() == first.client_id


def test_without_a_cache_directory_each_client_gets_its_own_random_id():
    with offline(None) as first, offline(None) as second:
        assert first.client_id != second.client_id
        assert len(first.client_id) == 32


def test_a_given_client_id_wins(tmp_path):
    with offline(tmp_path, client_id="web-3") as failsafe:
        assert failsafe.client_id == "web-3"


def test_a_client_id_the_server_would_refuse_is_refused_at_once():
    with pytest.raises(ValueError, match="client_id"):
        Failsafe("http://failsafe.test", "fsk_test", client_id="web 3/worker")


def test_an_unsound_saved_client_id_is_replaced(tmp_path):
    (tmp_path / "client_id").write_bytes(b"\xff not an id")
    with offline(tmp_path) as failsafe:
        assert len(failsafe.client_id) == 32
    assert (tmp_path / "client_id").read_text() == failsafe.client_id
