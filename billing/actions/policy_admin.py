"""Admins' writes to the policy (SPEC §3: limits and reason codes are admin-editable and
historied). Each takes the acting admin and the reason they give, validates everything at once
(errors by field), and owns its durable transaction; the history row of the change carries the
actor, what changed in words and their reason.

Limits are read by policy.decide under the actor's lock: a change here applies to the next
action submitted after it commits.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from accounts.audit import audited
from accounts.models import User
from billing.actions import policy
from billing.actions.errors import ActionConflict, InvalidAction, NotAllowed
from billing.models import MEASURED_KINDS, MONEY_KINDS, ActionKind, PolicyLimit, ReasonCode
from billing.money import format_amount, normalize_currency

MANAGE_POLICY = "billing.manage_policy"
LABEL_MAX = 100


def _check_admin(actor: User, reason: str, errors: dict[str, str]) -> str:
    if not actor.is_active or not actor.has_perm(MANAGE_POLICY):
        raise NotAllowed("Your roles do not allow changing the policy.")
    why = (reason or "").strip()
    if not why:
        errors["reason"] = "Say why (it goes in the history)."
    return why


def describe_cap(kind: str, currency: str, value: int | None) -> str:
    """A cap in words, as the policy page shows it."""
    if value is None:
        return "no limit" if kind in MEASURED_KINDS else "direct"
    if value == 0:
        return "request only"
    if kind in MONEY_KINDS:
        return format_amount(value, currency)
    if kind == ActionKind.TRIAL_EXTENSION:
        return f"{value} day{'s' if value != 1 else ''}"
    return "direct"


def _check_caps(
    kind: str, per_action: int | None, per_day: int | None, errors: dict[str, str]
) -> None:
    for field, value in (("per_action", per_action), ("per_day", per_day)):
        if value is not None and value < 0:
            errors[field] = "A limit is 0 (request only) or more."
    if kind not in MEASURED_KINDS and per_action not in (None, 0):
        errors["per_action"] = "This kind has no amount: direct or request only."
    if (
        per_action is not None
        and per_day is not None
        and per_day != 0
        and per_day < per_action
        and "per_day" not in errors
    ):
        errors["per_day"] = "The 24-hour limit cannot be below the per-action limit."


def _change_words(limit: PolicyLimit, per_action: int | None, per_day: int | None) -> str:
    kind, currency = limit.kind, limit.currency
    return (
        f"per action {describe_cap(kind, currency, limit.per_action)} → "
        f"{describe_cap(kind, currency, per_action)}, per 24 h "
        f"{describe_cap(kind, currency, limit.per_day)} → {describe_cap(kind, currency, per_day)}"
    )


def limit_name(role: Group, kind: str, currency: str) -> str:
    """ "support refund in USD": a limit in words."""
    label = ActionKind(kind).label.lower()
    return f"{role.name} {label}" + (f" in {currency.upper()}" if currency else "")


def set_limit(
    *,
    actor: User,
    limit: PolicyLimit,
    per_action: int | None,
    per_day: int | None,
    reason: str,
) -> PolicyLimit:
    """Change the caps of one limit (None: no cap; 0: request only)."""
    errors: dict[str, str] = {}
    why = _check_admin(actor, reason, errors)
    _check_caps(limit.kind, per_action, per_day, errors)
    if errors:
        raise InvalidAction(errors)
    name = limit_name(limit.role, limit.kind, limit.currency)
    with (
        transaction.atomic(durable=True),
        audited(
            actor=actor,
            reason=f"Limit of {name}: {_change_words(limit, per_action, per_day)}. {why}",
        ),
    ):
        locked = PolicyLimit.objects.select_for_update().get(pk=limit.pk)
        locked.per_action = per_action
        locked.per_day = per_day
        locked.save()
        return locked


def add_limit(
    *,
    actor: User,
    role: Group,
    kind: str,
    currency: str,
    per_action: int | None,
    per_day: int | None,
    reason: str,
) -> PolicyLimit:
    """A limit for a role, kind and currency that has none yet (no row meant request only)."""
    errors: dict[str, str] = {}
    why = _check_admin(actor, reason, errors)
    if kind not in ActionKind.values:
        errors["kind"] = "Choose an action kind."
    elif kind in MONEY_KINDS:
        try:
            currency = normalize_currency(currency or "")
        except ValueError as error:
            errors["currency"] = str(error)
    elif currency:
        errors["currency"] = "Only money actions have a currency."
    if not role.permissions.filter(
        codename__in=[policy.ACT_DIRECTLY.split(".")[1], policy.APPROVE.split(".")[1]]
    ).exists():
        errors["role"] = f"The {role.name} role neither acts directly nor approves: no limit."
    if "kind" not in errors:
        _check_caps(kind, per_action, per_day, errors)
    if errors:
        raise InvalidAction(errors)
    name = limit_name(role, kind, currency)
    words = (
        f"per action {describe_cap(kind, currency, per_action)}, "
        f"per 24 h {describe_cap(kind, currency, per_day)}"
    )
    try:
        with (
            transaction.atomic(durable=True),
            audited(actor=actor, reason=f"New limit of {name}: {words}. {why}"),
        ):
            return PolicyLimit.objects.create(
                role=role, kind=kind, currency=currency, per_action=per_action, per_day=per_day
            )
    except IntegrityError:
        # The unique constraint, when two admins add the same row at once.
        raise ActionConflict(f"There is a limit of {name} already; change that one.") from None


def add_reason_code(
    *, actor: User, kind: str, code: str, label: str, requires_note: bool, reason: str
) -> ReasonCode:
    """A new reason staff may give for actions of `kind`, listed after the others."""
    errors: dict[str, str] = {}
    why = _check_admin(actor, reason, errors)
    code = (code or "").strip().lower()
    label = (label or "").strip()
    if kind not in ActionKind.values:
        errors["kind"] = "Choose an action kind."
    if not code or not all(char.isalnum() or char == "_" for char in code) or len(code) > 40:
        errors["code"] = "A code is up to 40 letters, digits or _, e.g. service_issue."
    elif kind in ActionKind.values and ReasonCode.objects.filter(kind=kind, code=code).exists():
        errors["code"] = f"{ActionKind(kind).label} has a reason {code} already."
    if not label:
        errors["label"] = "Give the reason a label staff will read."
    elif len(label) > LABEL_MAX:
        errors["label"] = f"Keep the label under {LABEL_MAX} characters."
    if errors:
        raise InvalidAction(errors)
    note = " (note required)" if requires_note else ""
    try:
        with (
            transaction.atomic(durable=True),
            audited(
                actor=actor,
                reason=f"New reason {code} for {ActionKind(kind).label.lower()}{note}. {why}",
            ),
        ):
            last = ReasonCode.objects.filter(kind=kind).order_by("-position").first()
            return ReasonCode.objects.create(
                kind=kind,
                code=code,
                label=label,
                requires_note=requires_note,
                position=(last.position + 1) if last else 0,
            )
    except IntegrityError:
        raise ActionConflict(f"There is a reason {code} already.") from None


def change_reason_code(
    *, actor: User, reason_code: ReasonCode, active: bool, requires_note: bool, reason: str
) -> ReasonCode:
    """Deactivate (or bring back) a reason, or require a note with it. A deactivated reason
    is no longer offered or accepted for new actions; actions that gave it keep it."""
    errors: dict[str, str] = {}
    why = _check_admin(actor, reason, errors)
    if errors:
        raise InvalidAction(errors)
    changes = []
    if active != reason_code.active:
        changes.append("reactivated" if active else "deactivated")
    if requires_note != reason_code.requires_note:
        changes.append("note required" if requires_note else "note optional")
    words = ", ".join(changes) or "unchanged"
    kind = ActionKind(reason_code.kind).label.lower()
    with (
        transaction.atomic(durable=True),
        audited(actor=actor, reason=f"Reason {reason_code.code} for {kind}: {words}. {why}"),
    ):
        locked = ReasonCode.objects.select_for_update().get(pk=reason_code.pk)
        locked.active = active
        locked.requires_note = requires_note
        locked.save()
        return locked
