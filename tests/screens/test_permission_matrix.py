"""Every screen URL as every role and anonymous, against SPEC §1.

The URLs come from the resolver (a new view is in the matrix by existing: it fails until the
table below says who may open it), their parameters filled with real rows. The expectations
are written from the SPEC's table of roles, not derived from the views' own decorators:

- support: look up everything, work tickets, add notes, ask for actions;
- finance: that, plus approving others' requests and the audit log;
- admin: that, plus staff, API tokens and the policy;
- auditor: reads every page, changes nothing (no form of theirs posts to a write URL, and a
  forged post is refused and leaves every table as it was);
- agent: reads what support reads and asks for actions (its requests all go to approval);
  the API is its way in (it has no password), but a session of its would see the same.
"""

import re

import pytest
from django.apps import apps
from django.urls import resolve, reverse
from django.utils import timezone

from accounts.audit import audited
from accounts.roles import Role
from accounts.tokens import issue_token
from billing.models import PolicyLimit, ReasonCode
from tests.factories import make_customer, make_payment, make_staff, make_ticket
from tests.screens.test_query_budgets import pending_request
from tests.test_conventions import PUBLIC, all_patterns, api_route

pytestmark = pytest.mark.django_db

S, F, A, U, G = Role.SUPPORT, Role.FINANCE, Role.ADMIN, Role.AUDITOR, Role.AGENT
# The agent (automations, AI agents) works through the API only: every screen refuses it.
EVERYONE = {S, F, A, U}
ASKERS = {S, F, A}  # may ask for an action (billing.request_action) on the screens
TICKET_WORKERS = {S, F, A}

# URL name → the roles that may open it (GET), and whether it only takes a POST (a write).
READS = {
    "home": EVERYONE,
    "customers": EVERYONE,
    "customer": EVERYONE,
    "customer_drift": EVERYONE,
    "approvals": EVERYONE,
    "approval_preview": EVERYONE,
    "action_status": EVERYONE,
    "tickets": EVERYONE,
    "ticket": EVERYONE,
    "policy": EVERYONE,
    "audit_log": {F, A, U},
    "audit_export": {F, A, U},  # SPEC §4: not support
    "object_history": EVERYONE,  # a record's history: support reads a customer's
    "staff": {A, U},  # SPEC: the auditor reads the staff list
    "staff_export": {A, U},  # the access review
    "api_tokens": {A},
    "action_panel": ASKERS,  # the panel's form: a step of an action
    "ticket_new": TICKET_WORKERS,
    "logout": EVERYONE | {G},  # anyone signed in may sign out
    "account_logout": EVERYONE | {G},  # the same page, under the name allauth links to
}
WRITES = {
    "approval_approve": {F, A},
    "approval_reject": {F, A},
    "approval_withdraw": ASKERS,
    "action_panel": ASKERS,
    "customer_resync": ASKERS,
    "customer_note": TICKET_WORKERS,
    "ticket_new": TICKET_WORKERS,
    "ticket_assign": TICKET_WORKERS,
    "ticket_status": TICKET_WORKERS,
    "ticket_note": TICKET_WORKERS,
    "policy_limit": {A},
    "policy_limit_new": {A},
    "policy_reason": {A},
    "policy_reason_new": {A},
    "staff_roles": {A},
    "staff_active": {A},
    "api_tokens": {A},
    "api_token_revoke": {A},
}
POST_ONLY = (set(WRITES) - set(READS)) | {"logout", "account_logout"}  # signing out is a POST too


PENDING: dict[tuple[str, str], str] = {}


def own_account(pattern) -> bool:
    """allauth's pages of a signed-in user's own account (second factors, re-authentication):
    every staff member may open their own, no one another's (they take no user id)."""
    view = getattr(pattern.callback, "__wrapped__", pattern.callback)
    return getattr(view, "__module__", "").startswith("allauth.")


def screen_routes():
    return [
        (route, pattern)
        for route, pattern in all_patterns()
        if route not in PUBLIC and not api_route(pattern)
    ]


def test_the_matrix_names_every_screen():
    names = {pattern.name for _, pattern in screen_routes() if not own_account(pattern)}

    assert names == set(READS) | set(WRITES)


def test_own_account_pages_are_for_the_signed_in_only(client, rows):
    pages = [(route, pattern) for route, pattern in screen_routes() if own_account(pattern)]
    assert {pattern.name for _, pattern in pages} >= {"mfa_index", "account_reauthenticate"}

    for route, pattern in pages:
        params = re.findall(r"<(?:\w+:)?(\w+)>", route)
        path = reverse(pattern.name, kwargs={p: rows.get(p, 1) for p in params})
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer["Location"].startswith("/login/?next="), path
    client.force_login(make_staff(Role.AUDITOR))
    for route, pattern in pages:
        params = re.findall(r"<(?:\w+:)?(\w+)>", route)
        path = reverse(pattern.name, kwargs={p: rows.get(p, 1) for p in params})
        assert client.get(path).status_code in {200, 302, 404, 405}, path


@pytest.fixture
def rows(db):
    """One real row for every kind of URL parameter."""
    requester = make_staff(Role.SUPPORT, username="requester")
    customer = make_customer()
    with audited(actor=None, reason="test: rows for every URL"):
        approval = pending_request(customer, requester, make_payment(customer))
    token, _ = issue_token(
        actor=None,
        user=requester,
        name="matrix",
        read_only=True,
        expires_in_days=None,
        now=timezone.now(),
        reason="test: a token",
    )
    return {
        "customer_id": customer.pk,
        "panel": "credit",
        "approval_id": approval.pk,
        "action_id": approval.action_id,
        "ticket_id": make_ticket(customer).pk,
        "limit_id": PolicyLimit.objects.first().pk,
        "reason_id": ReasonCode.objects.first().pk,
        "user_id": requester.pk,
        "token_id": token.pk,
        "model": "billing.customer",
        "pk": customer.pk,
    }


def urls(rows):
    """(name, path) of every screen, its parameters filled from `rows`."""
    for route, pattern in screen_routes():
        if own_account(pattern):
            continue
        params = re.findall(r"<(?:\w+:)?(\w+)>", route)
        yield pattern.name, reverse(pattern.name, kwargs={p: rows[p] for p in params})


def expected_get(name: str, role: Role | None) -> int:
    if role is None:
        return 302
    if role not in (READS.get(name) or WRITES[name]):
        return 403
    return 405 if name in POST_ONLY else 200


@pytest.mark.parametrize("role", [None, *Role], ids=lambda role: role or "anonymous")
def test_every_url_answers_each_role_as_the_spec_says(client, stripe_emulator, rows, role):
    if role is not None:
        client.force_login(make_staff(role))
    wrong = {}

    for name, path in urls(rows):
        got = client.get(path).status_code
        want = expected_get(name, role)
        if got == 302 and role is None:
            assert client.get(path)["Location"].startswith("/login/?next=")
        if got != want and (role, name) not in PENDING:
            wrong[path] = (got, want)
        if (role, name) in PENDING:
            assert got != want, f"{PENDING[(role, name)]}: it has landed, drop it from PENDING"

    assert wrong == {}, "path: (got, expected)"


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_a_post_to_a_write_url_the_role_may_not_use_is_refused(client, rows, role):
    client.force_login(make_staff(role))
    refused = {
        path: client.post(path, {"reason": "forged", "body": "forged"}).status_code
        for name, path in urls(rows)
        if name in WRITES and role not in WRITES[name]
    }

    assert set(refused.values()) <= {403}, refused


def every_table_count() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_a_forged_post_by_the_auditor_to_every_write_url_is_refused_and_changes_nothing(
    client, rows, auditor_user
):
    client.force_login(auditor_user)
    data = {
        "reason": "forged",
        "note": "forged",
        "body": "forged",
        "ticket": "ZD-1",
        "amount": "1.00",
        "step": "confirm",
        "roles": ["admin"],
        "active": "0",
        "status": "solved",
        "external_ref": "ZD-999",
        "subject": "forged",
        "requester_email": "x@example.com",
    }
    before = every_table_count()

    answers = {
        path: client.post(path, data).status_code for name, path in urls(rows) if name in WRITES
    }

    assert set(answers.values()) == {403}, answers
    assert every_table_count() == before


POSTING = re.compile(
    r"<form\b[^>]*\bmethod=\"post\"[^>]*\baction=\"(?P<action>[^\"]+)\"|hx-(?:post|put|delete)=\"(?P<hx>[^\"]+)\"",
    re.I,
)


def test_the_auditor_sees_every_page_and_no_control_that_writes(
    client, stripe_emulator, rows, auditor_user
):
    client.force_login(auditor_user)
    controls = {}

    for name, path in urls(rows):
        if auditor_user_may_read(name):
            response = client.get(path)
            assert response.status_code == 200, path
            if response.streaming:  # the CSV export: no controls in it
                continue
            targets = [match["action"] or match["hx"] for match in POSTING.finditer(response.text)]
            writes = [t for t in targets if resolve(t.split("?")[0]).url_name in WRITES]
            if writes:
                controls[path] = writes

    assert controls == {}


def auditor_user_may_read(name: str) -> bool:
    return U in READS.get(name, set()) and (U, name) not in PENDING and name not in POST_ONLY
