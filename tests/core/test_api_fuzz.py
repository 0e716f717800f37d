"""Schemathesis over every operation of the OpenAPI schema, against the real application
(Django's WSGI handler in this process, PostgreSQL, Redis), once as a signed-in person and
once as a system token: no answer is a 5xx, every 4xx is in the one error shape, and the
answers conform to the schema.

Derandomised with a bounded number of examples per operation, so a run is repeatable and
takes a minute or two. Path parameters naming a system, an incident or a review item are
pointed at real ones, so the generated bodies reach the services rather than a 404.
"""

import json
import os
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from groundtruth.models import ReviewItem
from systems.models import ActionType, SystemToken
from systems.services import token_issue
from tests.factories import AISystemFactory, IncidentFactory, Role, UserFactory

SLUG = "refund-classifier"
CSRF = "fuzzcsrfsecret0123456789abcdefgh"  # a valid secret: 32 characters of [a-zA-Z0-9]
# Per operation and caller; FAILSAFE_FUZZ_EXAMPLES=200 for a longer hunt.
EXAMPLES = int(os.environ.get("FAILSAFE_FUZZ_EXAMPLES", "10"))
# (operation, caller) -> status -> count: printed at the end (pytest -s), for the report.
ANSWERS: dict[tuple[str, str], Counter] = {}


def _schema():
    # The schema as /api/schema/ serves it (same generator), through JSON as served.
    generated = SchemaGenerator().get_schema(request=None, public=True)
    config = SchemathesisConfig.from_dict(
        {"generation": {"with-security-parameters": False, "deterministic": True}}
    )
    served = json.loads(json.dumps(generated, default=str))
    loaded = schemathesis.openapi.from_dict(served, config=config)
    loaded.app = application
    return loaded


schema = _schema()


@pytest.fixture(scope="module", autouse=True)
def _answers_summary():
    yield
    total = sum(sum(counts.values()) for counts in ANSWERS.values())
    print(f"\nfuzzed {len(ANSWERS)} (operation, caller) pairs with {total} requests")
    for (operation, caller), counts in sorted(ANSWERS.items()):
        print(f"  {operation} [{caller}]: {dict(sorted(counts.items()))}")


def one_error_shape(ctx, response, case):
    """Every 4xx answers {"errors": [{"field": str or null, "message": str}, ...]}."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    assert isinstance(errors, list) and errors, (
        f"{response.status_code} not in the error shape: {body}"
    )
    for error in errors:
        assert isinstance(error, dict), body
        assert isinstance(error.get("message"), str) and error["message"], body
        assert error.get("field") is None or isinstance(error["field"], str), body
    return True


@pytest.fixture
def in_test_transaction():
    """Keep the test's connection across requests, as Django's test client does: the
    handler would otherwise close it at the end of each request, inside the test's
    transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, in_test_transaction):
    """A system with an action catalog, an open incident and a review item to aim at."""
    admin = UserFactory(username="ada", role=Role.ADMIN)
    system = AISystemFactory(slug=SLUG, owner=admin)
    ActionType.objects.create(
        system=system, name="account_hold", reversible=False, user_visible=True
    )
    incident = IncidentFactory()
    incident.systems.add(system)
    _, token = token_issue(
        actor=admin, system=system, name="fuzz", scopes=list(SystemToken.Scope.values)
    )
    return {"admin": admin, "system": system, "incident": incident, "token": token}


@pytest.fixture
def credentials(world, caller):
    """What `caller` sends: the system's token, or an admin's session with the CSRF pair."""
    if caller == "system":
        return {"headers": {"Authorization": f"Bearer {world['token']}"}}
    browser = Client()
    browser.force_login(world["admin"])
    session = browser.cookies["sessionid"].value
    return {
        "headers": {"X-CSRFToken": CSRF},
        "cookies": {"sessionid": session, "csrftoken": CSRF},
    }


# Body fields naming things: every other example names real ones, so the services'
# rules, not only the lookups, meet the generated rest of the body.
REAL_BODY = {"systems": [SLUG], "lead": "ada", "scribe": "ada", "comms_owner": "ada"}


def _aim(case, world, calls):
    real = {
        "slug": SLUG,
        "number": world["incident"].number,
        "key": SLUG,
    }
    item = ReviewItem.objects.first()
    if item is not None:
        real["id"] = item.pk
    for name in case.path_parameters or {}:
        if name in real:
            case.path_parameters[name] = real[name]
    if isinstance(case.body, dict) and calls % 2:
        for name, value in REAL_BODY.items():
            if name in case.body:
                case.body[name] = value


CHECKS = [
    not_a_server_error,
    one_error_shape,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("caller", ["person", "system"])
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error_and_every_refusal_has_the_error_shape(
    case, caller, world, credentials
):
    label = f"{case.operation.method.upper()} {case.operation.path}"
    answers = ANSWERS.setdefault((label, caller), Counter())
    _aim(case, world, sum(answers.values()))
    response = case.call(**credentials)
    answers[response.status_code] += 1
    case.validate_response(response, checks=CHECKS)
