"""Reading customers: search, a customer with their subscriptions, balance and entitlements,
and their payments, invoices and balance entries."""

from __future__ import annotations

from typing import Annotated

from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema

from billing.api.auth import staff
from billing.api.base import OBJECT_ERRORS, READ_ERRORS, Cursor, Limit, ObjectId, documented
from billing.api.pagination import Keyset
from billing.api.problems import not_found
from billing.api.schemas import (
    BalanceTransactionPage,
    CustomerDetailOut,
    CustomerPage,
    InvoicePage,
    PaymentPage,
    balance_transaction_out,
    customer_detail_out,
    customer_out,
    invoice_out,
    payment_out,
)
from billing.entitlements import effective_entitlements
from billing.models import (
    ActionKind,
    Customer,
    Invoice,
    Payment,
    ReasonCode,
    Refund,
    customers_with_balance,
    ledger_with_reversible,
)

router = Router(tags=["customers"])

BY_NAME = Keyset("name", descending=False)
NEWEST = Keyset("created")


def _customer(customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise not_found(f"customer {customer_id}")
    return customer


@router.get(
    "/customers",
    response=CustomerPage,
    auth=staff("billing.view_customer"),
    operation_id="search_customers",
    summary="Search customers",
    openapi_extra=documented(*READ_ERRORS),
)
def search_customers(
    request: HttpRequest,
    cursor: Cursor,
    limit: Limit,
    q: Annotated[
        str,
        Query(
            "",
            max_length=200,
            description="As the search box: an email, email domain, name, handle, Stripe id "
            "(cus_, sub_, in_, ch_, pi_, re_), invoice number or card last4. Empty: everyone.",
        ),
    ],
) -> CustomerPage:
    """Customers matching `q`, by name."""
    query = q.strip()
    rows = Customer.objects.search(query) if query else Customer.objects.all()
    found, after = BY_NAME.page(rows, cursor=cursor, limit=limit)
    return CustomerPage(items=[customer_out(customer) for customer in found], next=after)


@router.get(
    "/customers/{customer_id}",
    response=CustomerDetailOut,
    auth=staff("billing.view_customer"),
    operation_id="get_customer",
    summary="A customer",
    openapi_extra=documented(*OBJECT_ERRORS),
)
def get_customer(request: HttpRequest, customer_id: ObjectId) -> CustomerDetailOut:
    """The customer, their subscriptions, their balance (Stripe's sign: below zero is credit)
    and their effective entitlements (plan plus active overrides, each with its source)."""
    customer = customers_with_balance().filter(pk=customer_id).first()
    if customer is None:
        raise not_found(f"customer {customer_id}")
    subscriptions = list(
        customer.subscriptions.select_related("price__plan").order_by("-created", "-id")
    )
    return customer_detail_out(
        customer,
        balance=customer.balance_amount,  # type: ignore[attr-defined]
        subscriptions=subscriptions,
        entitlements=effective_entitlements(customer, at=timezone.now()),
    )


@router.get(
    "/customers/{customer_id}/payments",
    response=PaymentPage,
    auth=staff("billing.view_payment"),
    operation_id="list_payments",
    summary="A customer's payments",
    openapi_extra=documented(*OBJECT_ERRORS),
)
def list_payments(
    request: HttpRequest, customer_id: ObjectId, cursor: Cursor, limit: Limit
) -> PaymentPage:
    """Card payments, newest first, each with what was refunded, what may still be refunded
    and its refunds."""
    customer = _customer(customer_id)
    rows = (
        Payment.objects.filter(customer=customer)
        .with_refundable()
        .prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("-created", "-id")))
    )
    found, after = NEWEST.page(rows, cursor=cursor, limit=limit)
    return PaymentPage(items=[payment_out(payment) for payment in found], next=after)


@router.get(
    "/customers/{customer_id}/invoices",
    response=InvoicePage,
    auth=staff("billing.view_invoice"),
    operation_id="list_invoices",
    summary="A customer's invoices",
    openapi_extra=documented(*OBJECT_ERRORS),
)
def list_invoices(
    request: HttpRequest, customer_id: ObjectId, cursor: Cursor, limit: Limit
) -> InvoicePage:
    """Invoices, newest first."""
    customer = _customer(customer_id)
    found, after = NEWEST.page(
        Invoice.objects.filter(customer=customer), cursor=cursor, limit=limit
    )
    return InvoicePage(items=[invoice_out(invoice) for invoice in found], next=after)


@router.get(
    "/customers/{customer_id}/balance-transactions",
    response=BalanceTransactionPage,
    auth=staff("billing.view_balancetransaction"),
    operation_id="list_balance_transactions",
    summary="A customer's balance entries (credits and their reversals)",
    openapi_extra=documented(*OBJECT_ERRORS),
)
def list_balance_transactions(
    request: HttpRequest, customer_id: ObjectId, cursor: Cursor, limit: Limit
) -> BalanceTransactionPage:
    """Entries of the customer's Stripe balance, newest first; a credit shows what of it may
    still be reversed."""
    customer = _customer(customer_id)
    rows = ledger_with_reversible().filter(customer=customer)
    found, after = NEWEST.page(rows, cursor=cursor, limit=limit)
    return BalanceTransactionPage(
        items=[balance_transaction_out(entry) for entry in found], next=after
    )


class ReasonCodeOut(Schema):
    kind: str
    code: str
    label: str
    requires_note: bool


@router.get(
    "/reason-codes",
    response=list[ReasonCodeOut],
    auth=staff("billing.view_reasoncode"),
    operation_id="list_reason_codes",
    summary="The reasons each kind of action may be asked for",
    tags=["actions"],
    openapi_extra=documented(*READ_ERRORS),
)
def list_reason_codes(
    request: HttpRequest,
    kind: Annotated[ActionKind | None, Query(None, description="Only this kind's.")],
) -> list[ReasonCodeOut]:
    """The `reason` values an action of each kind accepts; `other` needs a note."""
    rows = ReasonCode.objects.filter(active=True).order_by("kind", "position", "code")
    if kind is not None:
        rows = rows.filter(kind=kind)
    return [
        ReasonCodeOut(
            kind=row.kind, code=row.code, label=row.label, requires_note=row.requires_note
        )
        for row in rows
    ]
