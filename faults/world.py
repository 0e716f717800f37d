"""What the scenarios set up and count, through Django on the stack's database. Set-up goes
through the product's services, as a person's clicks would; counting is plain SQL on a
fresh connection (the previous one may have died with a PostgreSQL restart)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection, connections


def person(username: str):
    """A responder (the role that changes modes); groups come from migration core/0002."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from core.roles import Role

    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save()
    user.groups.add(Group.objects.get(name=Role.RESPONDER.group_name))
    return user


def system_with_token(slug: str, scopes: list[str]):
    """A system of its own for one scenario, and a token for it (raw)."""
    from systems.models import AISystem
    from systems.services import system_register, token_issue

    owner = person("faults-owner")
    system = system_register(
        actor=owner, slug=slug, name=slug, owner=owner, kind=AISystem.Kind.CLASSIFIER,
        degraded_behaviour="Rules instead of the model.", has_human_fallback=True,
        human_fallback="A person decides.",
    )  # fmt: skip
    _, raw = token_issue(actor=owner, system=system, name="faults", scopes=scopes)
    return system, raw


def fresh() -> None:
    connections.close_all()


def query(sql: str, params=()) -> list[tuple]:
    fresh()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def stored(system_id: int) -> dict:
    """Events stored for the system: rows, distinct sender ids, the rollups' totals."""
    rows, distinct = query(
        "SELECT count(*), count(DISTINCT client_id) FROM monitoring_event WHERE system_id = %s",
        [system_id],
    )[0]
    rollup_events = query(
        "SELECT coalesce(sum(n), 0) FROM monitoring_rollup WHERE system_id = %s"
        " AND signal = 'events'",
        [system_id],
    )[0][0]
    rollup_labels = dict(
        query(
            "SELECT key, sum(n) FROM monitoring_rollup WHERE system_id = %s AND signal = 'label'"
            " GROUP BY key",
            [system_id],
        )
    )
    recount = dict(
        query(
            "SELECT label, count(*) FROM monitoring_event WHERE system_id = %s GROUP BY label",
            [system_id],
        )
    )
    return {
        "rows": rows,
        "distinct": distinct,
        "rollup_events": int(rollup_events),
        "rollup_labels": {k: int(v) for k, v in rollup_labels.items()},
        "recount": recount,
    }


def stored_ids(system_id: int) -> set[str]:
    return {
        r[0]
        for r in query("SELECT client_id FROM monitoring_event WHERE system_id = %s", [system_id])
    }


def celery_heartbeat_after(moment: float) -> bool:
    """The worker wrote its heartbeat after `moment` (a time.time()): beat queued it through
    Redis, a worker ran it and wrote to PostgreSQL."""
    try:
        rows = query("SELECT beat_at FROM core_heartbeat WHERE name = 'celery'")
    except Exception:  # noqa: BLE001 - the database may be coming back
        return False
    return bool(rows) and rows[0][0] > datetime.fromtimestamp(moment, UTC)
