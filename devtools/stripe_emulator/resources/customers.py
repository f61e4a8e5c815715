"""Customers and their balance transactions.

``customer.balance`` is always the sum of the customer's balance transactions. Stripe's sign
convention: a negative amount is a credit to the customer (it reduces what the next invoices
ask for); a positive amount is a debit. Each transaction records ``ending_balance``, the balance
after it. Invoices that consume credit (``applied_to_invoice``) and credit notes that grant it
(``credit_note``) add their own transactions through :func:`add_balance_transaction`.

The customer's ``currency`` is fixed by its first balance transaction, invoice or subscription;
a transaction in another currency is refused, as Stripe does.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Context
from ..listing import filter_created, page
from ..params import Params, apply_metadata
from ..routing import Router
from ..schema import (
    Amount,
    Array,
    Currency,
    Enum,
    Hash,
    Metadata,
    String,
    accepts,
    listing,
)
from ..store import render
from . import payment_methods

routes = Router()

_ADDRESS = Hash(
    {key: String() for key in ("city", "country", "line1", "line2", "postal_code", "state")},
    unset=True,
)


def _customer_fields(*, create: bool) -> dict[str, Any]:
    """What a customer create and update both take (``payment_method`` only on create)."""
    fields: dict[str, Any] = {
        "address": _ADDRESS,
        "balance": Amount(minimum=None),
        "description": String(),
        "email": String(max_length=512),
        "invoice_prefix": String(max_length=12),
        "invoice_settings": Hash(
            {"default_payment_method": String(), "footer": String()},
        ),
        "metadata": Metadata(unset=True),
        "name": String(max_length=256),
        "phone": String(max_length=20),
        "preferred_locales": Array(String()),
        "tax_exempt": Enum("exempt", "none", "reverse", unset=True),
    }
    if create:
        fields["payment_method"] = String()
    return fields


_SIMPLE_FIELDS = ("email", "name", "description", "phone")


def set_currency(customer: dict[str, Any], currency: str, *, param: str = "currency") -> None:
    if customer["currency"] is None:
        customer["currency"] = currency
    elif customer["currency"] != currency:
        raise errors.invalid_request(
            f"You cannot combine currencies on a single customer. This customer has had a "
            f"subscription or payment in {customer['currency']}, but you are trying to pay in "
            f"{currency}.",
            param=param,
            code="currency_mismatch" if param == "currency" else None,
        )


def add_balance_transaction(
    ctx: Context,
    customer: dict[str, Any],
    amount: int,
    *,
    currency: str,
    type: str,
    description: str | None = None,
    invoice: str | None = None,
    credit_note: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Append a balance transaction and move ``customer.balance`` by ``amount``."""
    with ctx.events.updating(customer, "customer.updated"):
        set_currency(customer, currency)
        customer["balance"] += amount
        transaction = ctx.create(
            "customer_balance_transaction",
            {
                "amount": amount,
                "checkout_session": None,
                "credit_note": credit_note,
                "currency": currency,
                "customer": customer["id"],
                "customer_account": None,
                "description": description,
                "ending_balance": customer["balance"],
                "invoice": invoice,
                "metadata": metadata or {},
                "type": type,
            },
        )
    return transaction


def _apply_invoice_settings(ctx: Context, customer: dict[str, Any], params: Params) -> None:
    settings = params.sub("invoice_settings")
    if settings is None:
        return
    if "default_payment_method" in settings:
        value = settings.str("default_payment_method")
        if not value:
            customer["invoice_settings"]["default_payment_method"] = None
        else:
            pm = payment_methods.resolve_for_customer(
                ctx, value, customer, param="invoice_settings[default_payment_method]"
            )
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
    if "footer" in settings:
        customer["invoice_settings"]["footer"] = settings.str("footer")


def _apply_fields(ctx: Context, customer: dict[str, Any], params: Params) -> None:
    for key in _SIMPLE_FIELDS:
        if key in params:
            customer[key] = params.str(key)
    if "address" in params:
        address = params.sub("address")
        customer["address"] = (
            None
            if address is None
            else {
                key: address.str(key)
                for key in ("city", "country", "line1", "line2", "postal_code", "state")
            }
        )
    if "preferred_locales" in params:
        customer["preferred_locales"] = params.str_list("preferred_locales")
    if "tax_exempt" in params:
        customer["tax_exempt"] = params.str("tax_exempt") or "none"
    apply_metadata(customer, params)


@routes.post("/v1/customers", accepts("CustomerCreateParams", **_customer_fields(create=True)))
def create(ctx: Context, params: Params) -> dict[str, Any]:
    balance = params.int("balance")
    customer = ctx.create(
        "customer",
        {
            "address": None,
            "balance": 0,
            "currency": None,
            "customer_account": None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": None,
            "invoice_credit_balance": {},
            "invoice_prefix": params.str("invoice_prefix") or ctx.store.next_invoice_prefix(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "name": None,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        },
    )
    _apply_fields(ctx, customer, params)
    attached: dict[str, Any] | None = None
    pm_value = params.str("payment_method")
    if pm_value:
        attached = payment_methods.resolve(ctx, pm_value)
        payment_methods.attach(ctx, attached, customer)
    settings = params.sub("invoice_settings")
    # "payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa"
    # names one card in Stripe's docs: the default is the card just attached.
    if (
        attached is not None
        and settings is not None
        and settings.str("default_payment_method") == pm_value
    ):
        settings.data["default_payment_method"] = attached["id"]
    _apply_invoice_settings(ctx, customer, params)
    ctx.emit("customer.created", customer)
    if balance:
        # Stripe takes the account's default currency for a balance given at creation.
        add_balance_transaction(ctx, customer, balance, currency="usd", type="initial")
    return render(customer)


@routes.get("/v1/customers/{customer}", accepts("CustomerRetrieveParams"))
def retrieve(ctx: Context, params: Params, customer: str) -> dict[str, Any]:
    found = ctx.store.get("customer", customer)
    if found is None:
        deleted = ctx.store.deleted(customer)
        if deleted is not None:
            return dict(deleted)
        raise errors.resource_missing("customer", customer)
    return render(found)


@routes.post(
    "/v1/customers/{customer}", accepts("CustomerUpdateParams", **_customer_fields(create=False))
)
def update(ctx: Context, params: Params, customer: str) -> dict[str, Any]:
    found = ctx.store.require("customer", customer)
    balance = params.int("balance")
    with ctx.events.updating(found, "customer.updated"):
        _apply_fields(ctx, found, params)
        _apply_invoice_settings(ctx, found, params)
    if balance is not None and balance != found["balance"]:
        add_balance_transaction(
            ctx,
            found,
            balance - found["balance"],
            currency=found["currency"] or "usd",
            type="adjustment",
        )
    return render(found)


@routes.delete("/v1/customers/{customer}", accepts("CustomerDeleteParams", expand=False))
def delete(ctx: Context, params: Params, customer: str) -> dict[str, Any]:
    from . import subscriptions

    found = ctx.store.require("customer", customer)
    for subscription in ctx.store.all("subscription"):
        if subscription["customer"] == found["id"] and subscription["status"] != "canceled":
            subscriptions.cancel_now(ctx, subscription, reason="cancellation_requested")
    ctx.emit("customer.deleted", found)
    return ctx.store.delete(found)


@routes.get("/v1/customers", listing("CustomerListParams", email=String(max_length=512)))
def list_customers(ctx: Context, params: Params) -> dict[str, Any]:
    customers = filter_created(ctx.store.all("customer"), params)
    email = params.str("email")
    if email is not None:
        customers = [c for c in customers if c["email"] == email]
    return page(customers, params, "/v1/customers")


# Balance transactions -------------------------------------------------------------------------


@routes.post(
    "/v1/customers/{customer}/balance_transactions",
    accepts(
        "CustomerBalanceTransactionCreateParams",
        amount=Amount(minimum=None, required=True),
        currency=Currency(required=True),
        description=String(max_length=350),
        metadata=Metadata(unset=True),
    ),
)
def create_balance_transaction(ctx: Context, params: Params, customer: str) -> dict[str, Any]:
    found = ctx.store.require("customer", customer, param="customer")
    amount = params.require_int("amount")
    currency = params.require_str("currency").lower()
    if amount == 0:
        raise errors.invalid_param(
            "The amount must be a non-zero integer.",
            param="amount",
            code="parameter_invalid_integer",
        )
    metadata: dict[str, str] = {}
    holder: dict[str, Any] = {"metadata": metadata}
    apply_metadata(holder, params)
    transaction = add_balance_transaction(
        ctx,
        found,
        amount,
        currency=currency,
        type="adjustment",
        description=params.str("description"),
        metadata=holder["metadata"],
    )
    return render(transaction)


def _transaction(ctx: Context, customer: str, transaction: str) -> dict[str, Any]:
    ctx.store.require("customer", customer, param="customer")
    found = ctx.store.get("customer_balance_transaction", transaction)
    if found is None or found["customer"] != customer:
        raise errors.resource_missing("customer balance transaction", transaction)
    return found


@routes.get(
    "/v1/customers/{customer}/balance_transactions/{transaction}",
    accepts("CustomerBalanceTransactionRetrieveParams"),
)
def retrieve_balance_transaction(
    ctx: Context, params: Params, customer: str, transaction: str
) -> dict[str, Any]:
    return render(_transaction(ctx, customer, transaction))


@routes.post(
    "/v1/customers/{customer}/balance_transactions/{transaction}",
    accepts(
        "CustomerBalanceTransactionUpdateParams",
        description=String(max_length=350),
        metadata=Metadata(unset=True),
    ),
)
def update_balance_transaction(
    ctx: Context, params: Params, customer: str, transaction: str
) -> dict[str, Any]:
    found = _transaction(ctx, customer, transaction)
    if "description" in params:
        found["description"] = params.str("description")
    apply_metadata(found, params)
    return render(found)


@routes.get(
    "/v1/customers/{customer}/balance_transactions",
    listing("CustomerBalanceTransactionListParams", invoice=String()),
)
def list_balance_transactions(ctx: Context, params: Params, customer: str) -> dict[str, Any]:
    ctx.store.require("customer", customer, param="customer")
    transactions = [
        t for t in ctx.store.all("customer_balance_transaction") if t["customer"] == customer
    ]
    invoice = params.str("invoice")
    if invoice:
        transactions = [t for t in transactions if t["invoice"] == invoice]
    transactions = filter_created(transactions, params)
    return page(transactions, params, f"/v1/customers/{customer}/balance_transactions")
