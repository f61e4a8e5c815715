"""An action already asked for, seen again: its change in words, and its preview as things
stand now (for the approvals inbox, where a request may wait for days)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import cast

from billing.actions.base import Preview
from billing.actions.credits import preview_credit, preview_credit_reversal
from billing.actions.entitlements import preview_entitlement_override
from billing.actions.invoices import BY_KIND, INVOICE_ACTIONS, preview_invoice_action
from billing.actions.refunds import preview_refund
from billing.actions.subscriptions import Change, preview_subscription_change
from billing.models import (
    INVOICE_KINDS,
    SUBSCRIPTION_KINDS,
    Action,
    ActionKind,
    Feature,
    PauseBehavior,
    Price,
)
from billing.money import format_amount


def _time(value: object) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(str(value)), tz=dt.UTC) if value else None


def _day(value: object) -> str:
    moment = _time(value)
    return f"{moment:%Y-%m-%d}" if moment else "—"


def change_of(action: Action) -> Change:
    """The Change a subscription action was asked with, rebuilt from its payload."""
    payload = action.payload
    price_id = payload.get("price_id")
    percent = payload.get("percent_off")
    amount_off = payload.get("amount_off")
    months = payload.get("duration_in_months")
    return Change(
        change=str(payload["change"]),
        price=Price.objects.select_related("plan").filter(pk=price_id).first()
        if price_id
        else None,
        quantity=cast(int, payload.get("quantity")) if action.kind == "seat_change" else None,
        trial_end=_time(payload.get("trial_end")),
        percent_off=Decimal(str(percent)) if percent is not None else None,
        amount_off=cast(int, amount_off) if amount_off is not None else None,
        duration=str(payload.get("duration") or "once"),
        duration_in_months=cast(int, months) if months is not None else None,
        behavior=str(payload.get("behavior") or ""),
        resumes_at=_time(payload.get("resumes_at")),
        at_period_end=bool(payload.get("at_period_end", True)),
    )


def preview_action(action: Action) -> Preview:
    """The action's preview computed again now (raises what the preview raises when the
    request no longer applies, e.g. ActionConflict)."""
    kind = action.kind
    if kind == ActionKind.REFUND and action.payment is not None:
        return preview_refund(payment=action.payment, amount=action.amount)
    if kind == ActionKind.CREDIT:
        return preview_credit(
            customer=action.customer, amount=action.amount or 0, currency=action.currency
        )
    if kind == ActionKind.CREDIT_REVERSAL and action.balance_transaction is not None:
        return preview_credit_reversal(credit=action.balance_transaction, amount=action.amount)
    if kind in SUBSCRIPTION_KINDS and action.subscription is not None:
        return preview_subscription_change(
            subscription=action.subscription, change=change_of(action)
        )
    if kind == ActionKind.ENTITLEMENT_OVERRIDE:
        payload = action.payload
        return preview_entitlement_override(
            customer=action.customer,
            feature=str(payload["feature"]),
            value=str(payload["value"]),
            starts_at=dt.datetime.fromisoformat(str(payload["starts_at"])),
            expires_at=dt.datetime.fromisoformat(str(payload["expires_at"])),
        )
    if kind in INVOICE_KINDS and action.invoice is not None:
        name = next(n for n, spec in INVOICE_ACTIONS.items() if spec.kind == kind)
        return preview_invoice_action(invoice=action.invoice, action=name)
    raise ValueError(f"Action #{action.pk} has no target to preview.")


def describe(action: Action) -> str:
    """The change an action asks for, in words, from its own row (no query)."""
    payload = action.payload
    money = format_amount(action.amount, action.currency) if action.amount else ""
    kind = action.kind
    if kind == ActionKind.REFUND:
        return f"Refund {money} of payment {payload.get('charge', '')}"
    if kind == ActionKind.CREDIT:
        return f"Credit {money} to the balance"
    if kind == ActionKind.CREDIT_REVERSAL:
        return f"Take back {money} of credit {payload.get('reverses', '')}"
    if kind == ActionKind.PRICE_CHANGE:
        return f"Move to price {payload.get('stripe_price', '')} (from {payload.get('from_price')})"
    if kind == ActionKind.SEAT_CHANGE:
        return f"Seats {payload.get('from_quantity')} → {payload.get('quantity')}"
    if kind == ActionKind.TRIAL_EXTENSION:
        return (
            f"Trial end {_day(payload.get('from_trial_end'))} → {_day(payload.get('trial_end'))}"
            f" ({payload.get('days')} days)"
        )
    if kind == ActionKind.DISCOUNT:
        if payload.get("percent_off"):
            off = f"{payload['percent_off']}% off"
        else:
            amount_off = cast(int, payload.get("amount_off"))
            off = f"{format_amount(amount_off, str(payload.get('currency')))} off"
        return f"Discount: {off}, {payload.get('duration')}"
    if kind == ActionKind.PAUSE_COLLECTION:
        behavior = PauseBehavior(str(payload["behavior"])).label.lower()
        until = f" until {_day(payload.get('resumes_at'))}" if payload.get("resumes_at") else ""
        return f"Pause collection ({behavior}){until}"
    if kind == ActionKind.RESUME_COLLECTION:
        return "Resume collection"
    if kind == ActionKind.CANCEL:
        return "Cancel at the end of the period" if payload.get("at_period_end") else "Cancel now"
    if kind == ActionKind.REACTIVATE:
        return "Keep the subscription (undo the cancellation at period end)"
    if kind == ActionKind.ENTITLEMENT_OVERRIDE:
        feature = Feature(str(payload["feature"])).label
        return (
            f"{feature}: {payload['value']} from {str(payload['starts_at'])[:10]} "
            f"until {str(payload['expires_at'])[:10]}"
        )
    if kind in INVOICE_KINDS:
        return f"{BY_KIND[ActionKind(kind)].kind.label}: invoice {payload.get('stripe_invoice')}"
    return ActionKind(kind).label
