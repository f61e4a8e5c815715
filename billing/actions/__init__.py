"""Every change to a customer's billing: validate, preview, policy, execute, record.

Screens and the API call these functions and nothing else to change billing. Each is keyword-
only, takes the acting staff member, and owns its transactions. The pipeline
(billing/actions/pipeline.py) is the only writer of an action's state.
"""

from billing.actions.base import Preview, PreviewLine
from billing.actions.credits import (
    preview_credit,
    preview_credit_reversal,
    request_credit,
    request_credit_reversal,
    reversible,
)
from billing.actions.entitlements import (
    end_override,
    preview_entitlement_override,
    request_entitlement_override,
)
from billing.actions.errors import ActionConflict, ActionError, InvalidAction, NotAllowed
from billing.actions.invoices import preview_invoice_action, request_invoice_action
from billing.actions.pipeline import approve, execute, expire, reject, resync, withdraw
from billing.actions.refunds import preview_refund, refundable, request_refund
from billing.actions.subscriptions import (
    Change,
    preview_subscription_change,
    request_subscription_change,
)

__all__ = [
    "ActionConflict",
    "ActionError",
    "Change",
    "InvalidAction",
    "NotAllowed",
    "Preview",
    "PreviewLine",
    "approve",
    "end_override",
    "execute",
    "expire",
    "preview_credit",
    "preview_credit_reversal",
    "preview_entitlement_override",
    "preview_invoice_action",
    "preview_refund",
    "preview_subscription_change",
    "refundable",
    "reject",
    "request_credit",
    "request_credit_reversal",
    "request_entitlement_override",
    "request_invoice_action",
    "request_refund",
    "request_subscription_change",
    "resync",
    "reversible",
    "withdraw",
]
