"""Schemathesis (property-based, from PyPI) against the OpenAPI document, every operation, with
a token of an admin (who may call everything): no 5xx, and no response that breaks the schema
it is documented with, for valid and invalid input alike."""

from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.api.conftest import BASE, token_for

CONFIG = Path(__file__).with_name("schemathesis.toml")
schema = schemathesis.openapi.from_wsgi(
    f"{BASE}/openapi.json",
    get_wsgi_application(),
    config=SchemathesisConfig.from_str(CONFIG.read_text(), base_dir=str(CONFIG.parent)),
)


@pytest.fixture
def admin_token(admin_user):
    return token_for(admin_user)


@pytest.fixture(autouse=True)
def one_connection_per_test():
    """The app is called as a WSGI server calls it, inside the test's transaction: as Django's
    test client does, the connection is not closed at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_schema(case, admin_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"})
