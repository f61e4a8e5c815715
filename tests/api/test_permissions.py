"""Every endpoint as every role: allowed (its success status) or 403, as SPEC §1 says.

Writes are asked as dry runs where the endpoint has them: the same permission guards them,
and a dry run needs no Stripe. Deciding and withdrawing are real: the requests decided are
entitlement overrides (local to this app) and refunds in a currency nobody may refund
directly (so they wait, and Stripe is never asked)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from billing import actions
from billing.models import Action, ApprovalRequest, InvoiceStatus
from tests.api.conftest import Api, problem, token_for
from tests.factories import (
    make_credit,
    make_customer,
    make_invoice,
    make_payment,
    make_staff,
    make_subscription,
    make_ticket,
)

pytestmark = pytest.mark.django_db

EVERYONE = {Role.SUPPORT, Role.FINANCE, Role.ADMIN, Role.AUDITOR, Role.AGENT}
REQUESTERS = {Role.SUPPORT, Role.FINANCE, Role.ADMIN, Role.AGENT}
DECIDERS = {Role.FINANCE, Role.ADMIN}
TICKET_WORKERS = {Role.SUPPORT, Role.FINANCE, Role.ADMIN}


@dataclass
class World:
    user: User
    customer: int
    payment: int
    subscription: int
    invoice: int
    credit: int
    ticket: int
    approval: int  # someone else's request, which finance and admin may decide
    own_approval: int | None  # the user's own waiting request
    expires: str = ""


def request_refund_in_chf(user: User) -> int:
    """A refund nobody may make directly (no limit in CHF): it waits for an approval."""
    payment = make_payment(make_customer(currency="chf"), amount=5000)
    action = actions.request_refund(
        actor=user, payment=payment, amount=1000, reason="duplicate", ticket="ZD-7"
    )
    assert action.state == "pending_approval"
    return action.approval.pk


def build_world(role: Role) -> World:
    user = make_staff(role)
    customer = make_customer()
    payment = make_payment(customer)
    subscription = make_subscription(customer)
    invoice = make_invoice(customer, status=InvoiceStatus.OPEN)
    credit = make_credit(customer, amount=2000)
    agent = make_staff(Role.AGENT)
    waiting = actions.request_entitlement_override(
        actor=agent,
        customer=customer,
        feature="build_minutes",
        value="20000",
        starts_at=None,
        expires_at=timezone.now() + dt.timedelta(days=7),
        reason="evaluation",
        ticket="ZD-1",
    )
    return World(
        user=user,
        customer=customer.pk,
        payment=payment.pk,
        subscription=subscription.pk,
        invoice=invoice.pk,
        credit=credit.pk,
        ticket=make_ticket(customer).pk,
        approval=waiting.approval.pk,
        own_approval=request_refund_in_chf(user) if role in REQUESTERS else None,
        expires=(timezone.now() + dt.timedelta(days=30)).isoformat(),
    )


JUSTIFIED = {"ticket": "ZD-48213", "note": "", "dry_run": True}

# (method, path, body, who may, status when allowed)
ENDPOINTS = [
    ("get", "/customers", None, EVERYONE, 200),
    ("get", "/customers/{customer}", None, EVERYONE, 200),
    ("get", "/customers/{customer}/payments", None, EVERYONE, 200),
    ("get", "/customers/{customer}/invoices", None, EVERYONE, 200),
    ("get", "/customers/{customer}/balance-transactions", None, EVERYONE, 200),
    ("get", "/reason-codes", None, EVERYONE, 200),
    ("get", "/actions", None, EVERYONE, 200),
    ("get", "/actions/{action}", None, EVERYONE, 200),
    ("get", "/approvals", None, EVERYONE, 200),
    ("get", "/approvals/{approval}", None, EVERYONE, 200),
    ("get", "/tickets", None, EVERYONE, 200),
    ("get", "/tickets/{ticket}", None, EVERYONE, 200),
    (
        "post",
        "/refunds",
        {"payment_id": "{payment}", "amount": 500, "reason": "duplicate", **JUSTIFIED},
        REQUESTERS,
        200,
    ),
    (
        "post",
        "/credits",
        {
            "customer_id": "{customer}",
            "amount": 500,
            "currency": "usd",
            "reason": "goodwill",
            **JUSTIFIED,
        },
        REQUESTERS,
        200,
    ),
    (
        "post",
        "/credits/{credit}/reversals",
        {"amount": 500, "reason": "issued_in_error", **JUSTIFIED},
        REQUESTERS,
        200,
    ),
    (
        "post",
        "/subscriptions/{subscription}/changes",
        {"change": "cancel", "at_period_end": True, "reason": "customer_request", **JUSTIFIED},
        REQUESTERS,
        200,
    ),
    (
        "post",
        "/customers/{customer}/entitlement-overrides",
        {
            "feature": "sso",
            "value": "true",
            "expires_at": "{expires}",
            "reason": "evaluation",
            **JUSTIFIED,
        },
        REQUESTERS,
        200,
    ),
    (
        "post",
        "/invoices/{invoice}/actions",
        {"action": "void", "reason": "billing_error", **JUSTIFIED},
        REQUESTERS,
        200,
    ),
    ("post", "/approvals/{approval}/approve", {"note": "ok"}, DECIDERS, 200),
    ("post", "/approvals/{approval}/reject", {"reason": "not now"}, DECIDERS, 200),
    ("post", "/approvals/{own_approval}/withdraw", None, REQUESTERS, 200),
    (
        "post",
        "/tickets",
        {
            "external_ref": "ZD-99001",
            "subject": "Invoice question",
            "requester_email": "ops@example.com",
            "customer_id": "{customer}",
        },
        TICKET_WORKERS,
        201,
    ),
    ("post", "/tickets/{ticket}/notes", {"body": "Called back."}, TICKET_WORKERS, 201),
]


def fill(value, world: World):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return getattr(world, value[1:-1])
    if isinstance(value, str):
        return value.format(**vars(world))
    if isinstance(value, dict):
        return {key: fill(item, world) for key, item in value.items()}
    return value


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "status"),
    ENDPOINTS,
    ids=[f"{method.upper()} {path}" for method, path, *_ in ENDPOINTS],
)
@pytest.mark.parametrize("role", sorted(EVERYONE))
def test_every_endpoint_as_every_role(client, method, path, body, allowed, status, role):
    world = build_world(role)
    action = Action.objects.order_by("pk").first()
    world_path = path.replace("{action}", str(action.pk))
    world_path = world_path.replace("{own_approval}", str(world.own_approval or world.approval))
    api = Api(client)
    token = token_for(world.user)
    actions_before = Action.objects.count()

    if method == "get":
        response = api.get(token, fill(world_path, world))
    else:
        response = api.post(token, fill(world_path, world), fill(body, world))

    if role in allowed:
        assert response.status_code == status, response.content
        assert response["Content-Type"].startswith("application/json")
    else:
        assert response.status_code == 403, response.content
        assert problem(response)["type"].endswith(":forbidden")
        assert Action.objects.count() == actions_before
        assert ApprovalRequest.objects.filter(decision="").count() == 2 - (
            world.own_approval is None
        )
