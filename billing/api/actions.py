"""Asking for changes: one endpoint per kind of action, each calling the public verb of
billing.actions that the staff screens call (no second path to money), and reading actions.

Every request carries a reason, a ticket and a note. `"dry_run": true` answers the verb's
preview and the policy's decision (would it need an approval?) and writes nothing; otherwise
the request is made once per Idempotency-Key and answers 201 with the action, whose state is
`succeeded`, `executing` (Stripe is being asked again) or `pending_approval`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Literal

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Header, Query, Router, Schema
from ninja.responses import Status
from pydantic import AwareDatetime, ConfigDict, StrictBool, StrictInt

from accounts.models import User
from billing import actions
from billing.actions import policy
from billing.actions.invoices import INVOICE_ACTIONS
from billing.actions.justification import NOTE_MAX, justify
from billing.actions.subscriptions import CHANGES, MAX_SEATS
from billing.api.auth import actor_of, staff
from billing.api.base import OBJECT_ERRORS, READ_ERRORS, WRITE_ERRORS, Cursor, Limit, ObjectId
from billing.api.base import documented as _documented
from billing.api.idempotency import HEADER, KEY_PATTERN, idempotent
from billing.api.pagination import MAX_ID, Keyset
from billing.api.problems import not_found
from billing.api.schemas import ActionOut, ActionPage, DryRunOut, action_out, dry_run_out
from billing.models import (
    Action,
    ActionAttempt,
    ActionKind,
    ActionState,
    BalanceTransaction,
    Customer,
    Feature,
    Invoice,
    PauseBehavior,
    Payment,
    Price,
    Subscription,
    clean_ticket_ref,
)
from billing.models.actions import TICKET_REF
from billing.money import MAX_AMOUNT

router = Router(tags=["actions"])

REQUEST = policy.REQUEST
NEWEST = Keyset("created_at")
# The shapes the money path accepts (models.actions.TICKET_REF, in either case; a reason code is
# a slug), so that the schema says what a request must look like.
TICKET_PATTERN = "^" + TICKET_REF.pattern.replace("A-Z", "A-Za-z") + "$"
REASON_PATTERN = r"^[-a-zA-Z0-9_]{1,40}$"

IdempotencyKey = Annotated[
    str,
    Header(
        alias=HEADER,
        pattern=KEY_PATTERN,
        description="A value of yours unique to this request (a UUID will do). The same key "
        "and body again get the first answer again. A dry run takes one too, and leaves it "
        "unused.",
    ),
]
Amount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT, description="Minor units.")]
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


def documented() -> dict[str, object]:
    return _documented(*WRITE_ERRORS, replayed=True)


class ActionIn(Schema):
    """What every request carries (SPEC §3, validate)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        pattern=REASON_PATTERN, description="A reason code of this kind (GET /reason-codes)."
    )
    ticket: str = Field(
        pattern=TICKET_PATTERN, description="The helpdesk ticket it is done under, e.g. ZD-48213."
    )
    note: str = Field("", max_length=NOTE_MAX, description="Required when the reason is other.")
    dry_run: StrictBool = Field(
        False, description="Only say what would happen, and whether it would need an approval."
    )


# The money path's answers ----------------------------------------------------------------------


def _created(action: Action) -> tuple[int, ActionOut]:
    """The action as it stands after the request (read again with its details, e.g. why
    Stripe has not answered yet), with the policy's word on why it waits, if it does."""
    answer = action_answer(with_details(Action.objects.filter(pk=action.pk)).get(), timezone.now())
    answer.policy_note = action.policy_note
    return 201, answer


def _dry_run(
    user: User, kind: str, payload: ActionIn, preview: Callable[[], actions.Preview]
) -> Status[DryRunOut]:
    """The verb's preview, the justification checked as the request would check it, and the
    policy's decision for this user now. Every problem with the request is reported at once."""
    errors: dict[str, str] = {}
    found: actions.Preview | None = None
    try:
        found = preview()
    except actions.InvalidAction as error:
        errors.update(error.errors)
    try:
        justify(kind=kind, reason=payload.reason, ticket=payload.ticket, note=payload.note)
    except actions.InvalidAction as error:
        errors = {**error.errors, **errors}
    if errors or found is None:
        raise actions.InvalidAction(errors)
    decision = policy.decide(
        user=user,
        kind=found.kind,
        currency=found.currency,
        measure=found.measure,
        now=timezone.now(),
    )
    return Status(200, dry_run_out(found, direct=decision.direct, why=decision.why))


def _get[M](model: type[M], pk: int, what: str) -> M:
    found = model._default_manager.filter(pk=pk).first()  # type: ignore[attr-defined]
    if found is None:
        raise not_found(f"{what} {pk}")
    return found  # type: ignore[no-any-return]


# Refunds and credits ---------------------------------------------------------------------------


class RefundIn(ActionIn):
    payment_id: Id
    amount: Amount
    currency: str | None = Field(
        None,
        pattern=r"^[A-Za-z]{3}$",
        description="If given, the payment's currency, checked (amounts are in its minor unit).",
    )


def _check_currency(given: str | None, actual: str) -> None:
    if given is not None and given.lower() != actual:
        raise actions.InvalidAction(
            {"currency": f"The payment is in {actual.upper()}; the amount is in its minor unit."}
        )


@router.post(
    "/refunds",
    response={201: ActionOut, 200: DryRunOut},
    auth=staff(REQUEST),
    operation_id="create_refund",
    summary="Refund (part of) a payment",
    openapi_extra=documented(),
)
def create_refund(
    request: HttpRequest, payload: RefundIn, idempotency_key: IdempotencyKey
) -> HttpResponse | Status[DryRunOut]:
    """Refund `amount` of a succeeded payment, at most what remains refundable."""
    user = actor_of(request)

    def payment() -> Payment:
        found = _get(Payment, payload.payment_id, "payment")
        _check_currency(payload.currency, found.currency)
        return found

    if payload.dry_run:
        target = payment()
        return _dry_run(
            user,
            ActionKind.REFUND,
            payload,
            lambda: actions.preview_refund(payment=target, amount=payload.amount),
        )
    return idempotent(
        request,
        idempotency_key,
        lambda: _created(
            actions.request_refund(
                actor=user,
                payment=payment(),
                amount=payload.amount,
                reason=payload.reason,
                ticket=payload.ticket,
                note=payload.note,
            )
        ),
    )


class CreditIn(ActionIn):
    customer_id: Id
    amount: Amount
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", description="The customer's currency.")


@router.post(
    "/credits",
    response={201: ActionOut, 200: DryRunOut},
    auth=staff(REQUEST),
    operation_id="create_credit",
    summary="Credit a customer's balance",
    openapi_extra=documented(),
)
def create_credit(
    request: HttpRequest, payload: CreditIn, idempotency_key: IdempotencyKey
) -> HttpResponse | Status[DryRunOut]:
    """Credit `amount` to the customer's Stripe balance, spent on their next invoices."""
    user = actor_of(request)
    if payload.dry_run:
        customer = _get(Customer, payload.customer_id, "customer")
        return _dry_run(
            user,
            ActionKind.CREDIT,
            payload,
            lambda: actions.preview_credit(
                customer=customer, amount=payload.amount, currency=payload.currency
            ),
        )
    return idempotent(
        request,
        idempotency_key,
        lambda: _created(
            actions.request_credit(
                actor=user,
                customer=_get(Customer, payload.customer_id, "customer"),
                amount=payload.amount,
                currency=payload.currency,
                reason=payload.reason,
                ticket=payload.ticket,
                note=payload.note,
            )
        ),
    )


class ReversalIn(ActionIn):
    amount: Amount


@router.post(
    "/credits/{credit_id}/reversals",
    response={201: ActionOut, 200: DryRunOut},
    auth=staff(REQUEST),
    operation_id="create_credit_reversal",
    summary="Take back (part of) a credit",
    openapi_extra=documented(),
)
def create_credit_reversal(
    request: HttpRequest, credit_id: ObjectId, payload: ReversalIn, idempotency_key: IdempotencyKey
) -> HttpResponse | Status[DryRunOut]:
    """Reverse `amount` of a credit (a balance entry, GET /customers/{id}/balance-transactions),
    at most what of it is still reversible."""
    user = actor_of(request)
    credit = _get(BalanceTransaction, credit_id, "balance entry")
    if payload.dry_run:
        return _dry_run(
            user,
            ActionKind.CREDIT_REVERSAL,
            payload,
            lambda: actions.preview_credit_reversal(credit=credit, amount=payload.amount),
        )
    return idempotent(
        request,
        idempotency_key,
        lambda: _created(
            actions.request_credit_reversal(
                actor=user,
                credit=credit,
                amount=payload.amount,
                reason=payload.reason,
                ticket=payload.ticket,
                note=payload.note,
            )
        ),
    )


# Subscription changes --------------------------------------------------------------------------


class PriceChangeIn(ActionIn):
    change: Literal["price"]
    price_id: Id = Field(description="The new price (the subscription's currency).")


class SeatChangeIn(ActionIn):
    change: Literal["seats"]
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_SEATS)]


class TrialExtensionIn(ActionIn):
    change: Literal["trial_end"]
    trial_end: AwareDatetime = Field(description="The new end of the trial, later than now.")


class DiscountIn(ActionIn):
    change: Literal["discount"]
    percent_off: str | None = Field(
        None,
        pattern=r"^\d{1,3}(\.\d{1,2})?$",
        description="A percentage as text, e.g. “12.50”; or give amount_off.",
    )
    amount_off: Amount | None = Field(None, description="Minor units off; or give percent_off.")
    duration: Literal["once", "repeating", "forever"] = "once"
    duration_in_months: Annotated[StrictInt, Field(ge=1, le=36)] | None = Field(
        None, description="For a repeating discount."
    )


class PauseCollectionIn(ActionIn):
    change: Literal["pause_collection"]
    behavior: PauseBehavior = Field(description="What happens to invoices meanwhile.")
    resumes_at: AwareDatetime | None = Field(None, description="Empty: until resumed.")


class ResumeCollectionIn(ActionIn):
    change: Literal["resume_collection"]


class CancelIn(ActionIn):
    change: Literal["cancel"]
    at_period_end: StrictBool = Field(True, description="False: cancel now.")


class ReactivateIn(ActionIn):
    change: Literal["reactivate"]


SubscriptionChangeIn = Annotated[
    PriceChangeIn
    | SeatChangeIn
    | TrialExtensionIn
    | DiscountIn
    | PauseCollectionIn
    | ResumeCollectionIn
    | CancelIn
    | ReactivateIn,
    Field(discriminator="change"),
]


def _change(payload: ActionIn) -> actions.Change:
    """The verb's Change from the request (a price by our id, checked to exist)."""
    match payload:
        case PriceChangeIn():
            price = Price.objects.select_related("plan").filter(pk=payload.price_id).first()
            if price is None:
                raise actions.InvalidAction({"price": f"No price {payload.price_id}."})
            return actions.Change(change="price", price=price)
        case SeatChangeIn():
            return actions.Change(change="seats", quantity=payload.quantity)
        case TrialExtensionIn():
            return actions.Change(change="trial_end", trial_end=payload.trial_end)
        case DiscountIn():
            return actions.Change(
                change="discount",
                percent_off=payload.percent_off,
                amount_off=payload.amount_off,
                duration=payload.duration,
                duration_in_months=payload.duration_in_months,
            )
        case PauseCollectionIn():
            return actions.Change(
                change="pause_collection", behavior=payload.behavior, resumes_at=payload.resumes_at
            )
        case CancelIn():
            return actions.Change(change="cancel", at_period_end=payload.at_period_end)
        case ResumeCollectionIn() | ReactivateIn():
            return actions.Change(change=payload.change)
    raise TypeError(f"Not a subscription change: {payload!r}")


@router.post(
    "/subscriptions/{subscription_id}/changes",
    response={201: ActionOut, 200: DryRunOut},
    auth=staff(REQUEST),
    operation_id="create_subscription_change",
    summary="Change a subscription",
    openapi_extra=documented(),
)
def create_subscription_change(
    request: HttpRequest,
    subscription_id: ObjectId,
    payload: SubscriptionChangeIn,
    idempotency_key: IdempotencyKey,
) -> HttpResponse | Status[DryRunOut]:
    """A plan or price change, a seat change (both prorated from now), a new trial end, a
    discount, pausing or resuming collection, cancelling (at the period end, or now) or
    reactivating, as `change` says; each takes its own fields."""
    user = actor_of(request)
    subscription = _get(Subscription, subscription_id, "subscription")
    kind = CHANGES[payload.change].kind
    if payload.dry_run:
        return _dry_run(
            user,
            kind,
            payload,
            lambda: actions.preview_subscription_change(
                subscription=subscription, change=_change(payload)
            ),
        )
    return idempotent(
        request,
        idempotency_key,
        lambda: _created(
            actions.request_subscription_change(
                actor=user,
                subscription=subscription,
                change=_change(payload),
                reason=payload.reason,
                ticket=payload.ticket,
                note=payload.note,
            )
        ),
    )


# Entitlements and invoices ---------------------------------------------------------------------


class EntitlementOverrideIn(ActionIn):
    feature: Feature
    value: str = Field(
        max_length=20, description="A count, “unlimited”, or true/false for a switch."
    )
    starts_at: AwareDatetime | None = Field(None, description="Empty: now.")
    expires_at: AwareDatetime = Field(description="When it ends (at most a year after it starts).")


@router.post(
    "/customers/{customer_id}/entitlement-overrides",
    response={201: ActionOut, 200: DryRunOut},
    auth=staff(REQUEST),
    operation_id="create_entitlement_override",
    summary="Grant a feature on top of the plan, for a while",
    tags=["actions"],
    openapi_extra=documented(),
)
def create_entitlement_override(
    request: HttpRequest,
    customer_id: ObjectId,
    payload: EntitlementOverrideIn,
    idempotency_key: IdempotencyKey,
) -> HttpResponse | Status[DryRunOut]:
    user = actor_of(request)
    customer = _get(Customer, customer_id, "customer")
    fields = {
        "customer": customer,
        "feature": payload.feature.value,
        "value": payload.value,
        "starts_at": payload.starts_at,
        "expires_at": payload.expires_at,
    }
    if payload.dry_run:
        return _dry_run(
            user,
            ActionKind.ENTITLEMENT_OVERRIDE,
            payload,
            lambda: actions.preview_entitlement_override(**fields),  # type: ignore[arg-type]
        )
    return idempotent(
        request,
        idempotency_key,
        lambda: _created(
            actions.request_entitlement_override(
                actor=user,
                reason=payload.reason,
                ticket=payload.ticket,
                note=payload.note,
                **fields,  # type: ignore[arg-type]
            )
        ),
    )


class InvoiceActionIn(ActionIn):
    action: Literal["void", "mark_uncollectible", "retry_payment"]


@router.post(
    "/invoices/{invoice_id}/actions",
    response={201: ActionOut, 200: DryRunOut},
    auth=staff(REQUEST),
    operation_id="create_invoice_action",
    summary="Void an invoice, mark it uncollectible, or retry its payment",
    openapi_extra=documented(),
)
def create_invoice_action(
    request: HttpRequest,
    invoice_id: ObjectId,
    payload: InvoiceActionIn,
    idempotency_key: IdempotencyKey,
) -> HttpResponse | Status[DryRunOut]:
    user = actor_of(request)
    invoice = _get(Invoice, invoice_id, "invoice")
    if payload.dry_run:
        return _dry_run(
            user,
            INVOICE_ACTIONS[payload.action].kind,
            payload,
            lambda: actions.preview_invoice_action(invoice=invoice, action=payload.action),
        )
    return idempotent(
        request,
        idempotency_key,
        lambda: _created(
            actions.request_invoice_action(
                actor=user,
                invoice=invoice,
                action=payload.action,
                reason=payload.reason,
                ticket=payload.ticket,
                note=payload.note,
            )
        ),
    )


# Reading actions -------------------------------------------------------------------------------


def with_details(rows: QuerySet[Action]) -> QuerySet[Action]:
    """What an action's answer shows, in one query: its actor, its approval, and the last
    attempt's message (why an executing action still waits)."""
    last_message = (
        ActionAttempt.objects.filter(action=OuterRef("pk"))
        .order_by("-number", "-id")
        .values("error_message")[:1]
    )
    return rows.select_related("actor", "approval__requested_by", "approval__decided_by").annotate(
        last_error=Subquery(last_message)
    )


def action_answer(action: Action, now: dt.datetime) -> ActionOut:
    waiting = getattr(action, "last_error", "") if action.state == ActionState.EXECUTING else ""
    return action_out(action, now=now, waiting_error=waiting or "")


@router.get(
    "/actions",
    response=ActionPage,
    auth=staff("billing.view_action"),
    operation_id="list_actions",
    summary="Actions, newest first",
    openapi_extra=_documented(*READ_ERRORS),
)
def list_actions(
    request: HttpRequest,
    cursor: Cursor,
    limit: Limit,
    customer: Annotated[int | None, Query(None, ge=1, le=MAX_ID, description="A customer id.")],
    ticket: Annotated[str | None, Query(None, max_length=64, description="e.g. ZD-48213")],
    state: Annotated[ActionState | None, Query(None)],
    kind: Annotated[ActionKind | None, Query(None)],
) -> ActionPage:
    rows = Action.objects.all()
    if customer is not None:
        rows = rows.filter(customer_id=customer)
    if ticket:
        rows = rows.for_ticket(clean_ticket_ref(ticket) or ticket.strip())
    if state is not None:
        rows = rows.filter(state=state)
    if kind is not None:
        rows = rows.filter(kind=kind)
    found, after = NEWEST.page(with_details(rows), cursor=cursor, limit=limit)
    now = timezone.now()
    return ActionPage(items=[action_answer(action, now) for action in found], next=after)


@router.get(
    "/actions/{action_id}",
    response=ActionOut,
    auth=staff("billing.view_action"),
    operation_id="get_action",
    summary="An action",
    openapi_extra=_documented(*OBJECT_ERRORS),
)
def get_action(request: HttpRequest, action_id: ObjectId) -> ActionOut:
    """An action and where it stands: its state, its approval, Stripe's answer or error."""
    action = with_details(Action.objects.filter(pk=action_id)).first()
    if action is None:
        raise not_found(f"action {action_id}")
    return action_answer(action, timezone.now())
