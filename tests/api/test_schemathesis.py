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


TOKEN: dict[str, str] = {}
STATUSES: list[int] = []


@schema.auth(refresh_interval=None)
class AdminToken:
    """The token as schemathesis's own auth: it then knows the Authorization header is sent on
    purpose, and a case it generates without one (negative data) stays without one."""

    def get(self, case, context):
        return "admin"

    def set(self, case, data, context):
        # Looked up when the case is sent: the token is made by each test's fixture.
        if data in TOKEN:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN[data]}"}


@pytest.fixture
def admin_token(admin_user):
    TOKEN["admin"] = token_for(admin_user)
    STATUSES.clear()
    yield TOKEN["admin"]
    TOKEN.clear()
    # The token was sent: some answers got past authentication (a 405 comes before it).
    assert any(status not in (401, 405) for status in STATUSES), STATUSES


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
    STATUSES.append(case.call_and_validate().status_code)
