"""PaymentIntents and Charges.

Confirming a PaymentIntent charges its card immediately (automatic capture). The card's test
token decides: success makes a ``succeeded`` charge and a ``succeeded`` intent; a decline makes
a ``failed`` charge (``failure_code``, ``outcome``), puts the intent back to
``requires_payment_method`` with ``last_payment_error``, and answers 402 ``card_error`` whose
body carries ``decline_code``, ``charge``, ``payment_intent`` and ``payment_method`` as Stripe's
does. The failed attempt stays recorded (and an idempotency key replays the 402).

In this API version neither a PaymentIntent nor a Charge names its invoice; invoices reach them
through InvoicePayments (``/v1/invoice_payments?invoice=in_...``).
"""

from __future__ import annotations

from typing import Any

from .. import currencies, errors, ids
from ..context import Context
from ..listing import filter_created, page
from ..params import Params, apply_metadata
from ..routing import Router
from ..schema import (
    Amount,
    Boolean,
    Currency,
    Enum,
    Hash,
    Metadata,
    OneOf,
    String,
    accepts,
    listing,
)
from ..store import render
from . import balance_transactions, payment_methods

routes = Router()

CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
# ``off_session=true`` or the kind of off-session use.
_OFF_SESSION = OneOf(Boolean(), Enum("one_off", "recurring"))


def _outcome(decline: str | None) -> dict[str, Any]:
    if decline is None:
        return {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "advice_code": "try_again_later" if decline == "insufficient_funds" else "do_not_try_again",
        "network_advice_code": None,
        "network_decline_code": "51" if decline == "insufficient_funds" else "05",
        "network_status": "declined_by_network",
        "reason": decline,
        "risk_level": "normal",
        "risk_score": 32,
        "seller_message": f"The bank returned the decline code `{decline}`.",
        "type": "issuer_declined",
    }


def charge_card(
    ctx: Context,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    payment_method: dict[str, Any],
    payment_intent: str | None,
    description: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """One card charge attempt; emits ``charge.succeeded`` or ``charge.failed``."""
    decline: str | None = payment_method.get("_decline")
    succeeded = decline is None
    card = payment_methods.card_summary(payment_method)
    charge_id = ids.new_id("ch")
    charge = ctx.create(
        "charge",
        {
            "amount": amount,
            "amount_captured": amount if succeeded else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": render(payment_method["billing_details"]),
            "calculated_statement_descriptor": "EMULATED STRIPE",
            "captured": succeeded,
            "currency": currency,
            "customer": customer,
            "description": description,
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None if succeeded else "card_declined",
            "failure_message": (
                None if decline is None else payment_methods.DECLINE_MESSAGES[decline]
            ),
            "fraud_details": {},
            "metadata": dict(metadata),
            "on_behalf_of": None,
            "outcome": _outcome(decline),
            "paid": succeeded,
            "payment_intent": payment_intent,
            "payment_method": payment_method["id"],
            "payment_method_details": {
                "card": {
                    **card,
                    "amount_authorized": amount if succeeded else None,
                    "authorization_code": ids.random_token(6).upper() if succeeded else None,
                    "checks": {
                        "address_line1_check": None,
                        "address_postal_code_check": None,
                        "cvc_check": "pass",
                    },
                    "description": None,
                    "electronic_commerce_indicator": None,
                    "extended_authorization": {"status": "disabled"},
                    "iin": None,
                    "incremental_authorization": {"status": "unavailable"},
                    "installments": None,
                    "issuer": None,
                    "mandate": None,
                    "multicapture": {"status": "unavailable"},
                    "network_token": {"used": False},
                    "network_transaction_id": ids.random_token(15) if succeeded else None,
                    "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
                    "regulated_status": "unregulated",
                    "three_d_secure": None,
                    "transaction_link_id": None,
                    "wallet": None,
                },
                "type": "card",
            },
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": f"https://pay.stripe.com/receipts/payment/{ids.random_token(40)}",
            "refunded": False,
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if succeeded else "failed",
            "transfer_data": None,
            "transfer_group": None,
        },
        object_id=charge_id,
    )
    if succeeded:
        charge["balance_transaction"] = balance_transactions.for_charge(ctx, charge)["id"]
    ctx.emit("charge.succeeded" if succeeded else "charge.failed", charge)
    return charge


def new_payment_intent(
    ctx: Context,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    payment_method: str | None,
    description: str | None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    intent_id = ids.new_id("pi")
    intent = ctx.create(
        "payment_intent",
        {
            "allowed_payment_method_types": None,
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{ids.random_token(25)}",
            "confirmation_method": "automatic",
            "currency": currency,
            "customer": customer,
            "customer_account": None,
            "description": description,
            "excluded_payment_method_types": None,
            "last_payment_error": None,
            "latest_charge": None,
            "managed_payments": None,
            "metadata": dict(metadata or {}),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": payment_method,
            "payment_method_configuration_details": None,
            "payment_method_options": {
                "card": {
                    "installments": None,
                    "mandate_options": None,
                    "network": None,
                    "request_three_d_secure": "automatic",
                }
            },
            "payment_method_types": ["card"],
            "payment_record": None,
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "source": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        },
        object_id=intent_id,
    )
    ctx.emit("payment_intent.created", intent)
    return intent


def card_error(
    intent: dict[str, Any], charge: dict[str, Any] | None, pm: dict[str, Any]
) -> errors.StripeError:
    """The 402 a declined confirmation answers with."""
    decline = pm.get("_decline") or "generic_decline"
    extra: dict[str, Any] = {
        "advice_code": _outcome(decline)["advice_code"],
        "payment_intent": render(intent),
        "payment_method": render(pm),
    }
    if charge is not None:
        extra["charge"] = charge["id"]
    return errors.StripeError(
        402,
        payment_methods.DECLINE_MESSAGES[decline],
        type="card_error",
        code="card_declined",
        decline_code=decline,
        extra=extra,
    )


def confirm(ctx: Context, intent: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """Charge the intent's card; returns (succeeded, charge). Emits the intent's events."""
    if intent["status"] in ("succeeded", "canceled", "processing"):
        raise errors.invalid_request(
            f"You cannot confirm this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
            "confirmed: requires_confirmation, requires_payment_method, requires_action.",
            code="payment_intent_unexpected_state",
        )
    if not intent["payment_method"]:
        raise errors.invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method. To "
            "confirm the PaymentIntent with "
            f"{intent['customer'] or 'a customer'}, specify a payment method attached to this "
            "customer along with the customer ID.",
            code="payment_intent_unexpected_state",
        )
    pm = ctx.store.require("payment_method", intent["payment_method"], param="payment_method")
    charge = charge_card(
        ctx,
        amount=intent["amount"],
        currency=intent["currency"],
        customer=intent["customer"],
        payment_method=pm,
        payment_intent=intent["id"],
        description=intent["description"],
        metadata=intent["metadata"],
    )
    intent["latest_charge"] = charge["id"]
    if charge["status"] == "succeeded":
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["last_payment_error"] = None
        ctx.emit("payment_intent.succeeded", intent)
        return True, charge
    decline = pm.get("_decline") or "generic_decline"
    intent["status"] = "requires_payment_method"
    intent["last_payment_error"] = {
        "advice_code": _outcome(decline)["advice_code"],
        "charge": charge["id"],
        "code": "card_declined",
        "decline_code": decline,
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        "message": payment_methods.DECLINE_MESSAGES[decline],
        "payment_method": render(pm),
        "payment_method_type": "card",
        "type": "card_error",
    }
    ctx.emit("payment_intent.payment_failed", intent)
    return False, charge


def _payment_method_for(
    ctx: Context, value: str, customer: dict[str, Any] | None
) -> dict[str, Any]:
    if customer is not None and payment_methods.is_test_token(value):
        return payment_methods.resolve(ctx, value)
    if customer is not None:
        pm = ctx.store.require("payment_method", value, param="payment_method")
        if pm["customer"] not in (None, customer["id"]):
            raise errors.invalid_request(
                f"The provided PaymentMethod {value} belongs to a different customer.",
                param="payment_method",
                replayable=False,
            )
        return pm
    return payment_methods.resolve(ctx, value)


def _check_amount(amount: int, currency: str) -> None:
    minimum = currencies.MINIMUM_CHARGE.get(currency, 1)
    if amount < minimum:
        raise errors.invalid_request(
            f"Amount must be at least {minimum} {currency}",
            param="amount",
            code="amount_too_small",
            replayable=False,
        )


@routes.post(
    "/v1/payment_intents",
    accepts(
        "PaymentIntentCreateParams",
        amount=Amount(minimum=1, required=True),
        automatic_payment_methods=Hash(
            {"allow_redirects": Enum("always", "never"), "enabled": Boolean(required=True)}
        ),
        # Cards are captured at once: `capture_method=manual` (authorize only) is not emulated.
        capture_method=Enum("automatic", "automatic_async"),
        confirm=Boolean(),
        currency=Currency(required=True),
        customer=String(),
        description=String(max_length=1000),
        metadata=Metadata(),
        off_session=_OFF_SESSION,
        payment_method=String(),
        receipt_email=String(),
        return_url=String(),
        setup_future_usage=Enum("off_session", "on_session"),
        statement_descriptor=String(max_length=22),
        statement_descriptor_suffix=String(max_length=22),
    ),
)
def create_intent(ctx: Context, params: Params) -> dict[str, Any]:
    amount = params.require_int("amount")
    currency = params.require_str("currency").lower()
    _check_amount(amount, currency)
    customer_id = params.str("customer")
    customer = ctx.store.require("customer", customer_id, param="customer") if customer_id else None
    pm_value = params.str("payment_method")
    pm = _payment_method_for(ctx, pm_value, customer) if pm_value else None
    holder: dict[str, Any] = {"metadata": {}}
    apply_metadata(holder, params)
    intent = new_payment_intent(
        ctx,
        amount=amount,
        currency=currency,
        customer=customer_id,
        payment_method=pm["id"] if pm else None,
        description=params.str("description"),
        metadata=holder["metadata"],
    )
    intent["receipt_email"] = params.str("receipt_email")
    intent["statement_descriptor"] = params.str("statement_descriptor")
    intent["statement_descriptor_suffix"] = params.str("statement_descriptor_suffix")
    intent["setup_future_usage"] = params.str("setup_future_usage")
    intent["capture_method"] = params.str("capture_method") or "automatic"
    automatic = params.sub("automatic_payment_methods")
    if automatic is not None:
        intent["automatic_payment_methods"] = {
            "allow_redirects": automatic.str("allow_redirects") or "always",
            "enabled": bool(automatic.bool("enabled")),
        }
    if params.bool("confirm"):
        succeeded, charge = confirm(ctx, intent)
        if not succeeded:
            assert pm is not None
            raise card_error(intent, charge, pm)
    return render(intent)


@routes.get("/v1/payment_intents/{intent}", accepts("PaymentIntentRetrieveParams"))
def retrieve_intent(ctx: Context, params: Params, intent: str) -> dict[str, Any]:
    return render(ctx.store.require("payment_intent", intent, param="intent"))


@routes.post(
    "/v1/payment_intents/{intent}",
    accepts(
        "PaymentIntentUpdateParams",
        amount=Amount(minimum=1),
        description=String(max_length=1000),
        metadata=Metadata(unset=True),
        payment_method=String(),
    ),
)
def update_intent(ctx: Context, params: Params, intent: str) -> dict[str, Any]:
    found = ctx.store.require("payment_intent", intent, param="intent")
    if found["status"] in ("succeeded", "canceled") and any(
        key in params for key in ("amount", "currency", "payment_method")
    ):
        raise errors.invalid_request(
            f"This PaymentIntent's amount could not be updated because it has a status of "
            f"{found['status']}.",
            code="payment_intent_unexpected_state",
        )
    if "amount" in params:
        found["amount"] = params.require_int("amount")
    if "description" in params:
        found["description"] = params.str("description")
    if "payment_method" in params:
        customer = ctx.store.get("customer", found["customer"]) if found["customer"] else None
        pm = _payment_method_for(ctx, params.require_str("payment_method"), customer)
        found["payment_method"] = pm["id"]
        found["status"] = "requires_confirmation"
    apply_metadata(found, params)
    return render(found)


@routes.post(
    "/v1/payment_intents/{intent}/confirm",
    accepts(
        "PaymentIntentConfirmParams",
        off_session=_OFF_SESSION,
        payment_method=String(),
        return_url=String(),
    ),
)
def confirm_intent(ctx: Context, params: Params, intent: str) -> dict[str, Any]:
    found = ctx.store.require("payment_intent", intent, param="intent")
    pm_value = params.str("payment_method")
    if pm_value:
        customer = ctx.store.get("customer", found["customer"]) if found["customer"] else None
        found["payment_method"] = _payment_method_for(ctx, pm_value, customer)["id"]
    succeeded, charge = confirm(ctx, found)
    if not succeeded:
        pm = ctx.store.require("payment_method", found["payment_method"])
        raise card_error(found, charge, pm)
    return render(found)


def cancel_intent_object(ctx: Context, intent: dict[str, Any], reason: str | None) -> None:
    if intent["status"] in ("succeeded", "canceled"):
        return
    intent["status"] = "canceled"
    intent["canceled_at"] = ctx.now()
    intent["cancellation_reason"] = reason
    ctx.emit("payment_intent.canceled", intent)


@routes.post(
    "/v1/payment_intents/{intent}/cancel",
    accepts("PaymentIntentCancelParams", cancellation_reason=Enum(*CANCELLATION_REASONS)),
)
def cancel_intent(ctx: Context, params: Params, intent: str) -> dict[str, Any]:
    found = ctx.store.require("payment_intent", intent, param="intent")
    if found["status"] in ("succeeded", "canceled"):
        raise errors.invalid_request(
            f"You cannot cancel this PaymentIntent because it has a status of {found['status']}. "
            "Only a PaymentIntent with one of the following statuses may be canceled: "
            "requires_payment_method, requires_capture, requires_confirmation, requires_action, "
            "processing.",
            code="payment_intent_unexpected_state",
        )
    cancel_intent_object(ctx, found, params.str("cancellation_reason"))
    return render(found)


@routes.get("/v1/payment_intents", listing("PaymentIntentListParams", customer=String()))
def list_intents(ctx: Context, params: Params) -> dict[str, Any]:
    intents = filter_created(ctx.store.all("payment_intent"), params)
    customer = params.str("customer")
    if customer:
        intents = [i for i in intents if i["customer"] == customer]
    return page(intents, params, "/v1/payment_intents")


# Charges -------------------------------------------------------------------------------------


@routes.get("/v1/charges/{charge}", accepts("ChargeRetrieveParams"))
def retrieve_charge(ctx: Context, params: Params, charge: str) -> dict[str, Any]:
    return render(ctx.store.require("charge", charge, param="charge"))


@routes.post(
    "/v1/charges/{charge}",
    accepts(
        "ChargeUpdateParams", description=String(max_length=40000), metadata=Metadata(unset=True)
    ),
)
def update_charge(ctx: Context, params: Params, charge: str) -> dict[str, Any]:
    found = ctx.store.require("charge", charge, param="charge")
    with ctx.events.updating(found, "charge.updated"):
        if "description" in params:
            found["description"] = params.str("description")
        apply_metadata(found, params)
    return render(found)


@routes.get("/v1/charges", listing("ChargeListParams", customer=String(), payment_intent=String()))
def list_charges(ctx: Context, params: Params) -> dict[str, Any]:
    charges = filter_created(ctx.store.all("charge"), params)
    for key in ("customer", "payment_intent"):
        value = params.str(key)
        if value:
            charges = [c for c in charges if c[key] == value]
    return page(charges, params, "/v1/charges")
