"""The JSON API as its clients see it: Django's test client (so every middleware runs), a
token per staff member, JSON in and out."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.tokens import issue_token
from tests.billing.conftest import account  # noqa: F401  (a customer paid at the emulator)

BASE = "/api/v1"
PROBLEM = "application/problem+json"
_keys = itertools.count(1)


def token_for(user: User, *, read_only: bool = False, expires_in_days: int | None = None) -> str:
    _, value = issue_token(
        actor=None,
        user=user,
        name="tests",
        read_only=read_only,
        expires_in_days=expires_in_days,
        now=timezone.now(),
    )
    return value


def new_key() -> str:
    return f"test-key-{next(_keys)}"


@dataclass
class Api:
    client: Client

    def get(self, token: str | None, path: str, **params: Any):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(BASE + path, params, headers=headers)

    def post(
        self,
        token: str | None,
        path: str,
        body: Any = None,
        *,
        key: str | None = "new",
        headers: dict[str, str] | None = None,
    ):
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        if key is not None:
            sent["Idempotency-Key"] = new_key() if key == "new" else key
        sent.update(headers or {})
        data = b"" if body is None else json.dumps(body)
        return self.client.post(BASE + path, data, content_type="application/json", headers=sent)


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture(autouse=True)
def generous_rate(settings):
    """Tests send requests faster than a person; the rate limit has its own tests."""
    settings.API_RATE_PER_SECOND = 10_000


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """API clients never send passwords; hashing the staff's test password the production
    way would be most of these tests' time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def problem(response) -> dict:
    assert response["Content-Type"].startswith(PROBLEM), (
        response.status_code,
        response["Content-Type"],
        response.content[:300],
    )
    body = json.loads(response.content)
    assert body["status"] == response.status_code
    assert {"type", "title", "detail", "instance"} <= body.keys()
    return body


def field_errors(response) -> dict[str, str]:
    body = problem(response)
    assert response.status_code == 422, body
    return {error["field"]: error["message"] for error in body["errors"]}
