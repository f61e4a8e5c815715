"""Balance transactions: how each charge and refund moves the account's Stripe balance.

A succeeded charge records a ``charge`` balance transaction (``txn_``) named by the charge's
``balance_transaction``: ``amount`` is the charge, ``fee`` Stripe's card processing fee
(2.9% of the amount, rounded half up, plus a fixed fee per currency: 30¢ in USD), ``net`` what
reaches the balance (``amount - fee``) and ``source`` the charge. A refund records a ``refund``
one: the negative amount, no fee (Stripe keeps the charge's fee), ``source`` the refund. A
failed charge moves nothing and names none. Funds become available two days after the
transaction (``available_on``, midnight UTC, Stripe's standard payout schedule for US card
payments): ``status`` is ``pending`` until then and ``available`` from then on, as of the
emulator's clock whenever the transaction is read.

Simplification: the account settles in every currency it charges in (``exchange_rate`` is
null); a US account without settlement currencies would convert to USD.
"""

from __future__ import annotations

from typing import Any

from ..billing_math import round_half_up
from ..context import Context
from ..listing import filter_created, page
from ..params import Params
from ..periods import DAY
from ..routing import Router
from ..schema import Currency, String, accepts, listing
from ..store import render

routes = Router()

FEE_PERCENT_BASIS_POINTS = 290
FIXED_FEES = {"usd": 30, "eur": 25, "gbp": 20, "cad": 30, "aud": 30, "jpy": 30}
AVAILABLE_AFTER_DAYS = 2


def processing_fee(amount: int, currency: str) -> int:
    return round_half_up(amount * FEE_PERCENT_BASIS_POINTS, 10_000) + FIXED_FEES.get(currency, 30)


def _record(
    ctx: Context,
    *,
    amount: int,
    fee: int,
    currency: str,
    description: str | None,
    source: str,
    kind: str,
) -> dict[str, Any]:
    now = ctx.now()
    midnight = now - now % DAY
    fee_details = []
    if fee:
        fee_details.append(
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        )
    transaction = ctx.create(
        "balance_transaction",
        {
            "amount": amount,
            "available_on": midnight + AVAILABLE_AFTER_DAYS * DAY,
            "balance_type": "payments",
            "currency": currency,
            "description": description,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": fee_details,
            "net": amount - fee,
            "reporting_category": kind,
            "source": source,
            "status": "pending",
            "type": kind,
        },
    )
    # Balance transactions carry neither metadata nor livemode in Stripe's API.
    del transaction["metadata"], transaction["livemode"]
    return transaction


def for_charge(ctx: Context, charge: dict[str, Any]) -> dict[str, Any]:
    return _record(
        ctx,
        amount=charge["amount"],
        fee=processing_fee(charge["amount"], charge["currency"]),
        currency=charge["currency"],
        description=charge["description"],
        source=charge["id"],
        kind="charge",
    )


def for_refund(ctx: Context, refund: dict[str, Any]) -> dict[str, Any]:
    return _record(
        ctx,
        amount=-refund["amount"],
        fee=0,
        currency=refund["currency"],
        description="REFUND FOR CHARGE",
        source=refund["id"],
        kind="refund",
    )


def settle(transaction: dict[str, Any], now: int) -> dict[str, Any]:
    """The transaction as of ``now``: ``available`` once its funds are."""
    if transaction["status"] == "pending" and transaction["available_on"] <= now:
        transaction["status"] = "available"
    return transaction


@routes.get("/v1/balance_transactions/{transaction}", accepts("BalanceTransactionRetrieveParams"))
def retrieve(ctx: Context, params: Params, transaction: str) -> dict[str, Any]:
    found = ctx.store.require("balance_transaction", transaction, param="id")
    return render(settle(found, ctx.now()))


@routes.get(
    "/v1/balance_transactions",
    listing(
        "BalanceTransactionListParams",
        currency=Currency(),
        source=String(),
        type=String(),
    ),
)
def list_transactions(ctx: Context, params: Params) -> dict[str, Any]:
    found = filter_created(ctx.store.all("balance_transaction"), params)
    for key in ("source", "type"):
        value = params.str(key)
        if value:
            found = [t for t in found if t[key] == value]
    currency = params.str("currency")
    if currency:
        found = [t for t in found if t["currency"] == currency.lower()]
    now = ctx.now()
    for transaction in found:
        settle(transaction, now)
    return page(found, params, "/v1/balance_transactions")
