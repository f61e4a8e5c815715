"""Stripe, behind plain typed results: the only module that imports `stripe`.

- One `StripeClient` per configuration, pinned to the library's API version, with explicit
  timeouts and no hidden retries (our own tasks retry, with the same idempotency key).
- Every POST carries an idempotency key chosen by the caller, derived from our own row ids
  (e.g. `refund:42`), so a retry can never do the same thing twice.
- Results are frozen dataclasses parsed from Stripe's JSON; the same parsers read webhook
  payloads, so the rest of the code never sees a stripe object.
- Stripe's errors become a few domain errors: CardDeclined, InvalidRequest (NotFound),
  IdempotencyConflict, and StripeUnavailable (retry later, with the same key).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

API_VERSION = stripe.api_version
WEBHOOK_TOLERANCE_SECONDS = 300
PAGE_SIZE = 100


# Errors -------------------------------------------------------------------------------------


class StripeGatewayError(Exception):
    """Stripe said no, or could not be asked. `message` is Stripe's, fit to show to staff."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        param: str = "",
        http_status: int | None = None,
        request_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.http_status = http_status
        self.request_id = request_id


class CardDeclined(StripeGatewayError):
    def __init__(self, message: str, *, decline_code: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.decline_code = decline_code


class InvalidRequest(StripeGatewayError):
    """A 4xx other than a decline: nothing was changed at Stripe; do not retry as is."""


class NotFound(InvalidRequest):
    """The object does not exist at Stripe (or no longer does)."""


class IdempotencyConflict(StripeGatewayError):
    """The key was already used with other parameters: a bug on our side, never retried."""


class StripeUnavailable(StripeGatewayError):
    """No answer we can trust (timeout, dropped connection, 5xx, 429, a key Stripe rejects):
    the request may or may not have been applied. Retry later with the same key."""


class StripeMisconfigured(StripeUnavailable):
    """Stripe rejected our API key (401/403): nothing was applied; retrying is safe but will
    not help until someone fixes the configuration, so it is logged as an error."""


class InvalidWebhook(Exception):
    """A webhook delivery whose signature is missing, forged or stale."""


class MalformedEvent(Exception):
    """A correctly signed delivery whose body is not a Stripe event (not JSON, fields missing
    or of the wrong type). `event_id` is the event's id when it has a usable one."""

    def __init__(self, message: str, *, event_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.event_id = event_id


def translate_error(error: stripe.StripeError) -> StripeGatewayError:
    details = getattr(error, "error", None)
    kwargs: dict[str, Any] = {
        "code": getattr(details, "code", None) or getattr(error, "code", None) or "",
        "param": getattr(details, "param", None) or "",
        "http_status": error.http_status,
        "request_id": error.request_id or "",
    }
    message = getattr(details, "message", None) or error.user_message or str(error)
    if isinstance(error, stripe.CardError):
        return CardDeclined(
            message, decline_code=getattr(details, "decline_code", None) or "", **kwargs
        )
    if isinstance(error, stripe.IdempotencyError):
        return IdempotencyConflict(message, **kwargs)
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        logger.error("Stripe rejected our API key: %s", message)
        return StripeMisconfigured(message, **kwargs)
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        return StripeUnavailable(message, **kwargs)
    if error.http_status == 409 or (error.http_status or 0) >= 500:
        # 409: a request with the same key is still running at Stripe; ask again later.
        return StripeUnavailable(message, **kwargs)
    if kwargs["code"] == "resource_missing" or error.http_status == 404:
        return NotFound(message, **kwargs)
    return InvalidRequest(message, **kwargs)


# The client ---------------------------------------------------------------------------------


@cache
def _client_for(api_key: str, api_base: str, timeout: float) -> stripe.StripeClient:
    addresses = {"api": api_base} if api_base else None
    return stripe.StripeClient(
        api_key,
        stripe_version=API_VERSION,
        base_addresses=addresses,  # type: ignore[arg-type]
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=(min(5.0, timeout), timeout)),
    )


def client() -> stripe.StripeClient:
    return _client_for(
        settings.STRIPE_API_KEY, settings.STRIPE_API_BASE, float(settings.STRIPE_TIMEOUT_SECONDS)
    )


# A stripe-python service method (e.g. `client.v1.refunds.create`) and a service.
type Method = Callable[..., Any]
type Service = Any


# Stripe's id of the last request this context made that Stripe answered, for the logs (the
# money event of an action names the request that made its change).
_last_request_id: ContextVar[str] = ContextVar("stripe_last_request_id", default="")


def last_request_id() -> str:
    return _last_request_id.get()


def forget_request_id() -> None:
    _last_request_id.set("")


def _call(method: Method, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        result = method(*args, **kwargs)
    except stripe.StripeError as error:
        raise translate_error(error) from error
    response = getattr(result, "last_response", None)
    _last_request_id.set(getattr(response, "request_id", None) or "")
    data: dict[str, Any] = result.to_dict()
    return data


def _post(
    method: Method, *args: Any, params: dict[str, Any], idempotency_key: str
) -> dict[str, Any]:
    if not idempotency_key:
        raise ValueError("Every POST to Stripe needs an idempotency key.")
    return _call(method, *args, params=params, options={"idempotency_key": idempotency_key})


def _list(service: Service, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every object of a list endpoint, newest first, a page of 100 at a time."""
    query = {"limit": PAGE_SIZE, **(params or {})}
    while True:
        page = _call(service.list, params=query)
        yield from page["data"]
        if not page["has_more"] or not page["data"]:
            return
        query["starting_after"] = page["data"][-1]["id"]


def _with_all_lines(invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice with every line: Stripe embeds the first ten and says `has_more`."""
    lines = invoice.get("lines") or {}
    if not lines.get("has_more"):
        return invoice
    found = list(lines.get("data") or [])
    query: dict[str, Any] = {"limit": PAGE_SIZE}
    while True:
        if found:
            query["starting_after"] = found[-1]["id"]
        page = _call(client().v1.invoices.line_items.list, invoice["id"], params=query)
        found.extend(page["data"])
        if not page["has_more"] or not page["data"]:
            return {**invoice, "lines": {**lines, "data": found, "has_more": False}}


def list_page(resource: str, *, starting_after: str = "", limit: int = PAGE_SIZE) -> ListPage:
    """One page of a top-level list (for the resumable backfill)."""
    service: Any = {
        "products": client().v1.products,
        "prices": client().v1.prices,
        "customers": client().v1.customers,
        "subscriptions": client().v1.subscriptions,
        "invoices": client().v1.invoices,
        "charges": client().v1.charges,
        "refunds": client().v1.refunds,
    }[resource]
    query: dict[str, Any] = {"limit": limit}
    if resource == "subscriptions":
        query["status"] = "all"
        query["expand"] = ["data.discounts.source.coupon"]
    if starting_after:
        query["starting_after"] = starting_after
    page = _call(service.list, params=query)
    items = page["data"]
    if resource == "invoices":
        items = [_with_all_lines(item) for item in items]
    return ListPage(items=items, has_more=page["has_more"])


@dataclass(frozen=True)
class ListPage:
    items: list[dict[str, Any]]
    has_more: bool


# Typed results ------------------------------------------------------------------------------


def _time(value: int | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, tz=dt.UTC)


def id_of(value: Any) -> str:
    """An id, whether Stripe sent the id or the expanded object."""
    if value is None:
        return ""
    return value["id"] if isinstance(value, Mapping) else str(value)


@dataclass(frozen=True)
class CustomerData:
    id: str
    name: str
    email: str
    currency: str
    balance: int
    delinquent: bool
    deleted: bool
    country: str
    created: dt.datetime | None
    metadata: dict[str, str]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> CustomerData:
        address = data.get("address") or {}
        return cls(
            id=data["id"],
            name=data.get("name") or "",
            email=data.get("email") or "",
            currency=data.get("currency") or "",
            balance=data.get("balance") or 0,
            delinquent=bool(data.get("delinquent")),
            deleted=bool(data.get("deleted")),
            country=address.get("country") or "",
            created=_time(data.get("created")),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class BalanceTransactionData:
    id: str
    customer: str
    amount: int
    currency: str
    type: str
    description: str
    ending_balance: int
    invoice: str
    created: dt.datetime
    metadata: dict[str, str]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> BalanceTransactionData:
        return cls(
            id=data["id"],
            customer=id_of(data["customer"]),
            amount=data["amount"],
            currency=data["currency"],
            type=data.get("type") or "adjustment",
            description=data.get("description") or "",
            ending_balance=data["ending_balance"],
            invoice=id_of(data.get("invoice")),
            created=_time(data["created"]),  # type: ignore[arg-type]
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class ProductData:
    id: str
    name: str
    description: str
    active: bool
    metadata: dict[str, str]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ProductData:
        return cls(
            id=data["id"],
            name=data.get("name") or "",
            description=data.get("description") or "",
            active=bool(data.get("active", True)) and not data.get("deleted"),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class PriceData:
    id: str
    product: str
    unit_amount: int
    currency: str
    interval: str
    active: bool

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PriceData:
        recurring = data.get("recurring") or {}
        return cls(
            id=data["id"],
            product=id_of(data["product"]),
            unit_amount=data.get("unit_amount") or 0,
            currency=data["currency"],
            interval=recurring.get("interval") or "",
            active=bool(data.get("active", True)),
        )


@dataclass(frozen=True)
class SubscriptionData:
    id: str
    customer: str
    status: str
    item_id: str
    price: str
    quantity: int
    current_period_start: dt.datetime | None
    current_period_end: dt.datetime | None
    trial_start: dt.datetime | None
    trial_end: dt.datetime | None
    cancel_at_period_end: bool
    canceled_at: dt.datetime | None
    ended_at: dt.datetime | None
    pause_behavior: str
    pause_resumes_at: dt.datetime | None
    discount_coupon: str
    discount_percent_off: Decimal | None
    discount_amount_off: int | None
    discount_end: dt.datetime | None
    created: dt.datetime
    metadata: dict[str, str]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SubscriptionData:
        items = (data.get("items") or {}).get("data") or []
        item = items[0] if items else {}
        pause = data.get("pause_collection") or {}
        discount = _first_discount(data)
        coupon = (discount or {}).get("coupon") or ((discount or {}).get("source") or {}).get(
            "coupon"
        )
        coupon = coupon if isinstance(coupon, Mapping) else {}
        percent = coupon.get("percent_off")
        return cls(
            id=data["id"],
            customer=id_of(data["customer"]),
            status=data["status"],
            item_id=item.get("id", ""),
            price=id_of(item.get("price")),
            quantity=item.get("quantity") or 1,
            # Since API version 2025-03-31 the billing period lives on the items.
            current_period_start=_time(item.get("current_period_start")),
            current_period_end=_time(item.get("current_period_end")),
            trial_start=_time(data.get("trial_start")),
            trial_end=_time(data.get("trial_end")),
            cancel_at_period_end=bool(data.get("cancel_at_period_end")),
            canceled_at=_time(data.get("canceled_at")),
            ended_at=_time(data.get("ended_at")),
            pause_behavior=pause.get("behavior") or "",
            pause_resumes_at=_time(pause.get("resumes_at")),
            discount_coupon=coupon.get("id", ""),
            discount_percent_off=None if percent is None else Decimal(str(percent)),
            discount_amount_off=coupon.get("amount_off"),
            discount_end=_time((discount or {}).get("end")),
            created=_time(data["created"]),  # type: ignore[arg-type]
            metadata=dict(data.get("metadata") or {}),
        )


def _first_discount(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The subscription's discount, when `discounts` was expanded (else only ids are known)."""
    for discount in data.get("discounts") or []:
        if isinstance(discount, Mapping):
            return discount
    return None


@dataclass(frozen=True)
class InvoiceData:
    """An invoice. Its service period is its lines' (`lines.data[].period`); Stripe's own
    `period_start`/`period_end` are the window in which pending invoice items were gathered,
    which for a renewal is the period that just ended, not the one it bills."""

    id: str
    customer: str
    subscription: str
    number: str
    status: str
    currency: str
    subtotal: int
    total: int
    amount_due: int
    amount_paid: int
    amount_remaining: int
    period_start: dt.datetime
    period_end: dt.datetime
    service_period_start: dt.datetime | None
    service_period_end: dt.datetime | None
    due_date: dt.datetime | None
    hosted_invoice_url: str
    created: dt.datetime
    finalized_at: dt.datetime | None
    paid_at: dt.datetime | None
    voided_at: dt.datetime | None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> InvoiceData:
        """`data` with all its lines (see `_with_all_lines`): the service period spans them."""
        parent = data.get("parent") or {}
        transitions = data.get("status_transitions") or {}
        periods = [line.get("period") or {} for line in (data.get("lines") or {}).get("data") or []]
        starts = [period["start"] for period in periods if period.get("start") is not None]
        ends = [period["end"] for period in periods if period.get("end") is not None]
        return cls(
            id=data["id"],
            customer=id_of(data["customer"]),
            subscription=id_of((parent.get("subscription_details") or {}).get("subscription")),
            number=data.get("number") or "",
            status=data["status"],
            currency=data["currency"],
            subtotal=data.get("subtotal") or 0,
            total=data.get("total") or 0,
            amount_due=data.get("amount_due") or 0,
            amount_paid=data.get("amount_paid") or 0,
            amount_remaining=data.get("amount_remaining") or 0,
            period_start=_time(data["period_start"]),  # type: ignore[arg-type]
            period_end=_time(data["period_end"]),  # type: ignore[arg-type]
            service_period_start=_time(min(starts)) if starts else None,
            service_period_end=_time(max(ends)) if ends else None,
            due_date=_time(data.get("due_date")),
            hosted_invoice_url=data.get("hosted_invoice_url") or "",
            created=_time(data["created"]),  # type: ignore[arg-type]
            finalized_at=_time(transitions.get("finalized_at")),
            paid_at=_time(transitions.get("paid_at")),
            voided_at=_time(transitions.get("voided_at")),
        )


@dataclass(frozen=True)
class ChargeData:
    id: str
    payment_intent: str
    customer: str
    amount: int
    amount_refunded: int
    currency: str
    status: str
    card_brand: str
    card_last4: str
    failure_code: str
    failure_message: str
    # The `txn_` that moved the money into the Stripe balance (none for a failed charge):
    # finance reconciles payouts by it.
    balance_transaction: str
    created: dt.datetime

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ChargeData:
        card = (data.get("payment_method_details") or {}).get("card") or {}
        return cls(
            id=data["id"],
            payment_intent=id_of(data.get("payment_intent")),
            customer=id_of(data.get("customer")),
            amount=data["amount"],
            amount_refunded=data.get("amount_refunded") or 0,
            currency=data["currency"],
            status=data["status"],
            card_brand=card.get("brand") or "",
            card_last4=card.get("last4") or "",
            failure_code=data.get("failure_code") or "",
            failure_message=data.get("failure_message") or "",
            balance_transaction=id_of(data.get("balance_transaction")),
            created=_time(data["created"]),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class RefundData:
    id: str
    charge: str
    payment_intent: str
    amount: int
    currency: str
    status: str
    reason: str
    # The `txn_` taking the refund out of the balance, and, if the refund failed later, the
    # one giving it back.
    balance_transaction: str
    failure_balance_transaction: str
    created: dt.datetime
    metadata: dict[str, str]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RefundData:
        return cls(
            id=data["id"],
            charge=id_of(data.get("charge")),
            payment_intent=id_of(data.get("payment_intent")),
            amount=data["amount"],
            currency=data["currency"],
            status=data["status"],
            reason=data.get("reason") or "",
            balance_transaction=id_of(data.get("balance_transaction")),
            failure_balance_transaction=id_of(data.get("failure_balance_transaction")),
            created=_time(data["created"]),  # type: ignore[arg-type]
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class InvoicePaymentData:
    id: str
    invoice: str
    payment_intent: str
    status: str

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> InvoicePaymentData:
        payment = data.get("payment") or {}
        return cls(
            id=data["id"],
            invoice=id_of(data["invoice"]),
            payment_intent=id_of(payment.get("payment_intent")),
            status=data.get("status") or "",
        )


@dataclass(frozen=True)
class PreviewLine:
    description: str
    amount: int
    proration: bool
    period_start: dt.datetime | None
    period_end: dt.datetime | None


@dataclass(frozen=True)
class InvoicePreviewData:
    currency: str
    subtotal: int
    total: int
    amount_due: int
    lines: list[PreviewLine] = field(default_factory=list)

    @property
    def proration_total(self) -> int:
        return sum(line.amount for line in self.lines if line.proration)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> InvoicePreviewData:
        lines = []
        for line in (data.get("lines") or {}).get("data") or []:
            parent = line.get("parent") or {}
            details = (
                parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
            )
            period = line.get("period") or {}
            lines.append(
                PreviewLine(
                    description=line.get("description") or "",
                    amount=line["amount"],
                    proration=bool(details.get("proration")),
                    period_start=_time(period.get("start")),
                    period_end=_time(period.get("end")),
                )
            )
        return cls(
            currency=data["currency"],
            subtotal=data.get("subtotal") or 0,
            total=data.get("total") or 0,
            amount_due=data.get("amount_due") or 0,
            lines=lines,
        )


@dataclass(frozen=True)
class EventData:
    id: str
    type: str
    created: dt.datetime
    api_version: str
    livemode: bool
    object: dict[str, Any]
    previous_attributes: dict[str, Any]

    @property
    def object_id(self) -> str:
        return str(self.object.get("id") or "")

    @property
    def object_type(self) -> str:
        return str(self.object.get("object") or "")

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> EventData:
        """An event as Stripe sends it; anything else is a MalformedEvent naming what is wrong
        (so a body that is signed but not an event is refused, never half-processed)."""
        if not isinstance(data, Mapping):
            raise MalformedEvent("The body is not a JSON object.")
        event_id = data.get("id")
        if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
            raise MalformedEvent("The event has no Stripe event id (evt_…).")
        problems = []
        kind, created = data.get("type"), data.get("created")
        payload = data.get("data")
        obj = payload.get("object") if isinstance(payload, Mapping) else None
        previous = payload.get("previous_attributes") if isinstance(payload, Mapping) else None
        if not isinstance(kind, str) or not 0 < len(kind) <= 100:
            problems.append("type")
        if type(created) is not int or not 0 <= created < 253_402_300_800:  # year 9999
            problems.append("created")
        if not isinstance(obj, Mapping) or not isinstance(obj.get("object"), str):
            problems.append("data.object")
        if previous is not None and not isinstance(previous, Mapping):
            problems.append("data.previous_attributes")
        api_version = data.get("api_version") or ""
        if not isinstance(api_version, str) or len(api_version) > 40:
            problems.append("api_version")
        if problems:
            raise MalformedEvent(
                f"The event lacks or misshapes {', '.join(problems)}.", event_id=event_id
            )
        return cls(
            id=event_id,
            type=str(kind),
            created=dt.datetime.fromtimestamp(int(str(created)), tz=dt.UTC),
            api_version=api_version,
            livemode=bool(data.get("livemode")),
            object=dict(obj or {}),
            previous_attributes=dict(previous or {}),
        )


# Webhooks -----------------------------------------------------------------------------------


def verify_webhook(payload: bytes, signature_header: str, secret: str) -> EventData:
    """Check Stripe's signature (HMAC-SHA256 of `t.payload`, at most 300 s old) and parse.

    InvalidWebhook: the signature is missing, forged or stale (nothing to keep).
    MalformedEvent: signed, but not an event we can store and process."""
    if not signature_header:
        raise InvalidWebhook("The Stripe-Signature header is missing.")
    text = payload.decode("utf-8", errors="replace")
    try:
        stripe.WebhookSignature.verify_header(
            text, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as error:
        raise InvalidWebhook(str(error)) from None
    if "\x00" in text or "\\u0000" in text:
        raise MalformedEvent("The body holds NUL characters, which no Stripe event does.")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise MalformedEvent(f"The body is not JSON: {error}") from None
    return EventData.parse(data)


# Reads --------------------------------------------------------------------------------------


def retrieve_customer(customer_id: str) -> CustomerData:
    return CustomerData.parse(_call(client().v1.customers.retrieve, customer_id))


def retrieve_subscription(subscription_id: str) -> SubscriptionData:
    return SubscriptionData.parse(
        _call(
            client().v1.subscriptions.retrieve,
            subscription_id,
            params={"expand": ["discounts.source.coupon"]},
        )
    )


def retrieve_invoice(invoice_id: str) -> InvoiceData:
    return InvoiceData.parse(_with_all_lines(_call(client().v1.invoices.retrieve, invoice_id)))


def retrieve_charge(charge_id: str) -> ChargeData:
    return ChargeData.parse(_call(client().v1.charges.retrieve, charge_id))


def retrieve_refund(refund_id: str) -> RefundData:
    return RefundData.parse(_call(client().v1.refunds.retrieve, refund_id))


def retrieve_product(product_id: str) -> ProductData:
    return ProductData.parse(_call(client().v1.products.retrieve, product_id))


def retrieve_price(price_id: str) -> PriceData:
    return PriceData.parse(_call(client().v1.prices.retrieve, price_id))


def list_subscriptions(customer_id: str) -> list[SubscriptionData]:
    rows = _list(
        client().v1.subscriptions,
        {"customer": customer_id, "status": "all", "expand": ["data.discounts.source.coupon"]},
    )
    return [SubscriptionData.parse(row) for row in rows]


def list_invoices(customer_id: str) -> list[InvoiceData]:
    return [
        InvoiceData.parse(_with_all_lines(row))
        for row in _list(client().v1.invoices, {"customer": customer_id})
    ]


def list_charges(customer_id: str) -> list[ChargeData]:
    return [ChargeData.parse(row) for row in _list(client().v1.charges, {"customer": customer_id})]


def list_refunds(charge_id: str) -> list[RefundData]:
    return [RefundData.parse(row) for row in _list(client().v1.refunds, {"charge": charge_id})]


def list_balance_transactions(customer_id: str) -> list[BalanceTransactionData]:
    balance = client().v1.customers.balance_transactions
    query: dict[str, Any] = {"limit": PAGE_SIZE}
    found: list[BalanceTransactionData] = []
    while True:
        page = _call(balance.list, customer_id, params=query)
        found.extend(BalanceTransactionData.parse(row) for row in page["data"])
        if not page["has_more"] or not page["data"]:
            return found
        query["starting_after"] = page["data"][-1]["id"]


def invoice_for_payment_intent(payment_intent_id: str) -> str:
    """The invoice a payment intent pays, if any (since 2025-03-31 only invoice payments say)."""
    page = _call(
        client().v1.invoice_payments.list,
        params={"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}},
    )
    for row in page["data"]:
        return InvoicePaymentData.parse(row).invoice
    return ""


def invoices_by_payment_intent() -> dict[str, str]:
    """Every payment intent that pays an invoice, and that invoice: one pass over the invoice
    payments list, where asking per charge would cost a request each (for the backfill)."""
    found: dict[str, str] = {}
    for row in _list(client().v1.invoice_payments):
        payment = InvoicePaymentData.parse(row)
        if payment.payment_intent:
            found.setdefault(payment.payment_intent, payment.invoice)
    return found


def preview_subscription_change(
    *,
    subscription_id: str,
    item_id: str,
    price_id: str | None = None,
    quantity: int | None = None,
    proration_date: dt.datetime,
) -> InvoicePreviewData:
    """The next invoice if the item changed at `proration_date`, prorations included (as the
    change itself will be made: create_prorations at that date). Changes nothing."""
    item: dict[str, Any] = {"id": item_id}
    if price_id:
        item["price"] = price_id
    if quantity is not None:
        item["quantity"] = quantity
    at = int(proration_date.timestamp())
    params = {
        "subscription": subscription_id,
        "subscription_details": {
            "items": [item],
            "proration_behavior": "create_prorations",
            "proration_date": at,
        },
    }
    # create_preview is a POST that creates nothing; it still gets a key, as every POST does.
    key = f"preview:{subscription_id}:{item_id}:{price_id}:{quantity}:{at}"
    return InvoicePreviewData.parse(
        _post(client().v1.invoices.create_preview, params=params, idempotency_key=key)
    )


# Writes (each with the caller's idempotency key) --------------------------------------------


def create_refund(
    *, charge_id: str, amount: int, reason: str, metadata: dict[str, str], idempotency_key: str
) -> RefundData:
    params: dict[str, Any] = {"charge": charge_id, "amount": amount, "metadata": metadata}
    if reason:
        params["reason"] = reason
    return RefundData.parse(
        _post(client().v1.refunds.create, params=params, idempotency_key=idempotency_key)
    )


def create_balance_transaction(
    *,
    customer_id: str,
    amount: int,
    currency: str,
    description: str,
    metadata: dict[str, str],
    idempotency_key: str,
) -> BalanceTransactionData:
    """A customer balance entry; Stripe's sign: negative is a credit to the customer."""
    params = {
        "amount": amount,
        "currency": currency,
        "description": description,
        "metadata": metadata,
    }
    return BalanceTransactionData.parse(
        _post(
            client().v1.customers.balance_transactions.create,
            customer_id,
            params=params,
            idempotency_key=idempotency_key,
        )
    )


def update_subscription(
    *, subscription_id: str, params: dict[str, Any], idempotency_key: str
) -> SubscriptionData:
    return SubscriptionData.parse(
        _post(
            client().v1.subscriptions.update,
            subscription_id,
            params={**params, "expand": ["discounts.source.coupon"]},
            idempotency_key=idempotency_key,
        )
    )


def cancel_subscription(
    *, subscription_id: str, prorate: bool, idempotency_key: str
) -> SubscriptionData:
    try:
        data = client().v1.subscriptions.cancel(
            subscription_id,
            params={"prorate": prorate, "expand": ["discounts.source.coupon"]},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as error:
        raise translate_error(error) from error
    return SubscriptionData.parse(data.to_dict())


def invoice_action(*, invoice_id: str, action: str, idempotency_key: str) -> InvoiceData:
    """pay, void or mark_uncollectible an invoice."""
    service = client().v1.invoices
    method = {
        "pay": service.pay,
        "void": service.void_invoice,
        "mark_uncollectible": service.mark_uncollectible,
    }[action]
    return InvoiceData.parse(
        _with_all_lines(_post(method, invoice_id, params={}, idempotency_key=idempotency_key))
    )


def create_coupon(*, params: dict[str, Any], idempotency_key: str) -> str:
    coupon = _post(client().v1.coupons.create, params=params, idempotency_key=idempotency_key)
    return str(coupon["id"])
