"""Entitlement overrides: a feature granted on top of the plan, from a start to an expiry.

They live only here (Stripe knows nothing of them); a task ends each one at its expiry.
"""

from __future__ import annotations

import datetime as dt
from typing import TypedDict, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audited
from accounts.models import User
from billing.actions.base import Handler, Preview, PreviewLine, Proposal, register, required
from billing.actions.errors import InvalidAction
from billing.actions.justification import justify
from billing.actions.pipeline import submit
from billing.entitlements import effective_entitlements
from billing.models import (
    Action,
    ActionKind,
    Customer,
    EntitlementOverride,
    Feature,
    validate_feature_value,
)
from billing.observability import task

MAX_LENGTH = dt.timedelta(days=366)


class OverridePayload(TypedDict):
    customer_id: int
    feature: str
    value: str
    starts_at: str  # ISO 8601
    expires_at: str


def _proposal(
    customer: Customer,
    feature: str,
    value: str,
    starts_at: dt.datetime | None,
    expires_at: dt.datetime | None,
    now: dt.datetime,
) -> Proposal:
    errors: dict[str, str] = {}
    if feature not in Feature.values:
        errors["feature"] = "Choose a feature from the list."
    else:
        try:
            value = validate_feature_value(feature, value or "")
        except ValidationError as error:
            errors["value"] = error.messages[0]
    starts_at = starts_at or now
    if expires_at is None:
        errors["expires_at"] = "Give the date the override ends."
    elif expires_at <= max(starts_at, now):
        errors["expires_at"] = "The override must end after it starts, and in the future."
    elif expires_at - starts_at > MAX_LENGTH:
        errors["expires_at"] = "An override lasts at most a year; ask again when it ends."
    if errors:
        raise InvalidAction(errors)
    payload: OverridePayload = {
        "customer_id": customer.pk,
        "feature": feature,
        "value": value,
        "starts_at": starts_at.isoformat(),
        "expires_at": required(expires_at, "expiry").isoformat(),
    }
    return Proposal(kind=ActionKind.ENTITLEMENT_OVERRIDE, customer=customer, payload=payload)


def _payload(proposal: Proposal) -> OverridePayload:
    return cast(OverridePayload, proposal.payload)


def preview_entitlement_override(
    *,
    customer: Customer,
    feature: str,
    value: str,
    starts_at: dt.datetime | None,
    expires_at: dt.datetime | None,
    now: dt.datetime | None = None,
) -> Preview:
    now = now or timezone.now()
    payload = _payload(_proposal(customer, feature, value, starts_at, expires_at, now))
    current = {e.feature: e.value for e in effective_entitlements(customer, at=now)}
    label = Feature(feature).label
    return Preview(
        kind=ActionKind.ENTITLEMENT_OVERRIDE,
        summary=f"{label}: {payload['value']} from {payload['starts_at'][:10]} "
        f"until {payload['expires_at'][:10]}, then back to the plan",
        lines=[PreviewLine(label, current.get(feature, "—"), payload["value"])],
    )


def request_entitlement_override(
    *,
    actor: User,
    customer: Customer,
    feature: str,
    value: str,
    starts_at: dt.datetime | None,
    expires_at: dt.datetime | None,
    reason: str,
    ticket: str,
    note: str = "",
    now: dt.datetime | None = None,
    request_key: str = "",
) -> Action:
    now = now or timezone.now()
    justification = justify(
        kind=ActionKind.ENTITLEMENT_OVERRIDE, reason=reason, ticket=ticket, note=note
    )
    proposal = _proposal(customer, feature, value, starts_at, expires_at, now)
    return submit(
        proposal,
        actor=actor,
        justification=justification,
        now=now,
        request_key=request_key,
    )


@register
class EntitlementOverrideHandler(Handler[OverridePayload, None]):
    kind = ActionKind.ENTITLEMENT_OVERRIDE
    uses_stripe = False

    def perform(self, action: Action, metadata: dict[str, str]) -> None:
        return None  # local only: nothing to ask Stripe

    def record(self, action: Action, result: None) -> str:
        payload = self.payload(action)
        override = EntitlementOverride.objects.create(
            customer_id=action.customer_id,
            feature=payload["feature"],
            value=payload["value"],
            starts_at=dt.datetime.fromisoformat(payload["starts_at"]),
            expires_at=dt.datetime.fromisoformat(payload["expires_at"]),
            reason=f"{action.reason_code}: {action.note}".rstrip(": "),
            action=action,
            created_by=action.actor,
        )
        end_entitlement_override.using(run_after=override.expires_at).enqueue(override.pk)
        return ""


def end_override(*, override_pk: int, now: dt.datetime | None = None) -> bool:
    """Mark an override ended once its expiry has passed (run by a task at that time)."""
    now = now or timezone.now()
    with (
        transaction.atomic(durable=True),
        audited(actor=None, reason="Entitlement override reached its expiry"),
    ):
        override = EntitlementOverride.objects.select_for_update(no_key=True).get(pk=override_pk)
        if override.ended_at is not None or override.expires_at > now:
            return False
        override.ended_at = override.expires_at
        override.save()
    return True


@task()
def end_entitlement_override(override_pk: int) -> None:
    end_override(override_pk=override_pk)
