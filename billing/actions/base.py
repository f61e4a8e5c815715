"""The parts every kind of action is made of: its proposal (what will be written), its preview
(what will happen), and its handler (how it is checked under lock, made at Stripe, read back
and recorded). One registry maps each kind to its handler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from billing.models import Action, ActionKind, Customer

if TYPE_CHECKING:
    from billing.stripe.mirror import Snapshot

# An action's payload is JSON; each kind declares its shape as a TypedDict.
type JSON = str | int | bool | list[JSON] | dict[str, JSON] | None
type Payload = Mapping[str, object]


@dataclass(frozen=True)
class PreviewLine:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Preview:
    """The effect of an action, shown before anyone commits to it. Computing it changes nothing.

    `currency` and `measure` are the proposal's, what the policy would count (policy.decide),
    so that a dry run can say whether the request would need an approval."""

    kind: str
    summary: str
    lines: list[PreviewLine] = field(default_factory=list)
    currency: str = ""
    measure: int | None = None


@dataclass
class Proposal:
    """A validated request, before policy: what will be written as the Action row."""

    kind: str
    customer: Customer
    payload: Payload
    amount: int | None = None
    currency: str = ""
    measure: int | None = None  # what the policy counts: the amount, or days for trials
    payment_id: int | None = None
    subscription_id: int | None = None
    invoice_id: int | None = None
    balance_transaction_id: int | None = None


def required[T](value: T | None, what: str) -> T:
    """A value every action of a kind has (a refund's payment and amount, ...)."""
    if value is None:
        raise ValueError(f"An action without its {what}.")
    return value


class Handler[P: Payload, R]:
    """How one kind of action is checked under lock, made at Stripe and recorded.

    `P` is the kind's payload (a TypedDict), `R` what Stripe answers (a gateway result)."""

    kind: ActionKind
    uses_stripe = True  # False for changes that live only here (entitlement overrides)

    def payload(self, action: Action) -> P:
        """The action's payload, as this kind declares it."""
        return cast(P, action.payload)

    def check_locked(self, action: Action) -> None:
        """Lock the target row and check the action still applies (raise otherwise)."""

    def find_existing(self, action: Action) -> R | None:
        """Before asking again: Stripe's answer if the change is already made, else None.

        Stripe replays an idempotency key's first answer only for 24 hours, and ignores keys
        on DELETE; so a retry first looks for what an earlier attempt may have done (by the
        action id in the object's metadata, or by the target's state)."""
        return None

    def perform(self, action: Action, metadata: dict[str, str]) -> R:
        """Make the change at Stripe with the action's idempotency key; return its answer."""
        raise NotImplementedError

    def read_back(self, action: Action, result: R) -> Snapshot | None:
        """Read what changed from Stripe (outside any transaction) for the mirror."""
        return None

    def record(self, action: Action, result: R) -> str:
        """Local effects, inside the outcome transaction; returns the Stripe object id."""
        object_id = getattr(result, "id", "")
        return object_id if isinstance(object_id, str) else ""


# Kinds differ in payload and result; the registry holds them all.
HANDLERS: dict[str, Handler[Any, Any]] = {}


def register[H: type[Handler[Any, Any]]](handler_class: H) -> H:
    HANDLERS[handler_class.kind] = handler_class()
    return handler_class
