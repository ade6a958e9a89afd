"""The partner API against its own OpenAPI schema, fuzzed by schemathesis through Django's
WSGI application (the test's database transaction included): no 500 anywhere, every answer
as the schema says (status, headers, body), and nothing at all without a valid key."""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from partners.services import keys
from tests.helpers import device_in, place_order

pytestmark = pytest.mark.django_db
BASE = "/api/partner/v1"
# A few examples per operation keep the two tests under a minute together.
FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _schema():
    """The schema drf-spectacular serves at /api/partner/v1/schema/, called through
    Django's WSGI application."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    config = SchemathesisConfig.from_dict(
        {
            "checks": {
                # An invalid request is a 400, or a 413 for a batch over 500 items.
                "negative_data_rejection": {
                    "expected-statuses": [400, 401, 404, 405, 406, 413, 415, 422, 429]
                },
                # Not checked: a valid request may rightly be refused with 400 (a text with
                # a NUL character) or 422 (examples reuse an Idempotency-Key).
                "positive_data_acceptance": {"enabled": False},
            }
        }
    )
    loaded = schemathesis.openapi.from_dict(
        json.loads(json.dumps(generated, default=str)), config=config
    )
    loaded.app = get_wsgi_application()
    return loaded


schema = _schema()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a request's end must not close the test's connection
    (its transaction holds the test's data)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def partner_key(acme, settings):
    settings.PARTNER_API_RATE = "100000/m"  # the fuzzer is not what the limit is for
    place_order(acme, items=2)
    device_in(acme, "shipped")
    _key, raw = keys.api_key_create(name="fuzz", actor=acme.partner_staff)
    return raw


@schema.parametrize()
@FUZZ
def test_the_api_answers_as_its_schema_says(case, partner_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {partner_key}"})


@schema.parametrize()
@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_without_a_valid_key_every_operation_is_401(case, partner_key):
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    response = case.call(headers={"Authorization": "Bearer vpk_not-a-key"})
    assert response.status_code == 401, (case.method, case.path, response.status_code)
    response = case.call()
    assert response.status_code == 401, (case.method, case.path, response.status_code)
