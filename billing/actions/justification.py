"""What every action carries besides its change: a reason from the list, a ticket, a note, and
no card numbers anywhere in the free text staff type (SPEC §3, validate)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from billing.actions.errors import InvalidAction
from billing.models import ActionKind, ReasonCode, clean_ticket_ref
from billing.money import MAX_AMOUNT

NOTE_MAX = 2000

# Card numbers: 13 to 19 digits, written in groups however people write them (spaces, dashes,
# dots, slashes, line breaks, any run of them), passing the Luhn check and starting like a card
# of a scheme that issues that length. The scheme check keeps innocent numbers (two dates or
# two phone numbers in a row) from being mistaken for cards.
# (prefix ranges as (digits, lowest, highest), card lengths the scheme issues)
_SCHEMES: list[tuple[list[tuple[int, int, int]], frozenset[int]]] = [
    ([(1, 4, 4)], frozenset({13, 16, 19})),  # Visa
    ([(2, 51, 55), (4, 2221, 2720)], frozenset({16})),  # Mastercard
    ([(2, 34, 34), (2, 37, 37)], frozenset({15})),  # American Express
    ([(4, 6011, 6011), (3, 644, 649), (2, 65, 65)], frozenset(range(16, 20))),  # Discover
    ([(4, 3528, 3589)], frozenset(range(16, 20))),  # JCB
    ([(3, 300, 305), (2, 36, 36), (2, 38, 39)], frozenset(range(14, 20))),  # Diners Club
    ([(2, 62, 62)], frozenset(range(16, 20))),  # UnionPay
    (  # Maestro
        [(4, n, n) for n in (5018, 5020, 5038, 5893, 6304, 6759)] + [(4, 6761, 6763)],
        frozenset(range(13, 20)),
    ),
]


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _looks_like_a_card(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or not _luhn(digits):
        return False
    return any(
        len(digits) in lengths
        and any(low <= int(digits[:size]) <= high for size, low, high in prefixes)
        for prefixes, lengths in _SCHEMES
    )


def _digit_groups(text: str) -> list[list[str]]:
    """The runs of digit groups in `text`: groups are split by anything that is neither a
    letter nor a digit (whatever its length), and a letter ends a run. Text is normalised
    first (NFKC, so full-width digits and separators become ASCII), and every Unicode decimal
    digit (Arabic-Indic, Devanagari, ...) is read as its value."""
    runs: list[list[str]] = [[]]
    group: list[str] = []
    for char in unicodedata.normalize("NFKC", text):
        value = unicodedata.decimal(char, None)
        if value is not None:
            group.append(str(value))
            continue
        if group:
            runs[-1].append("".join(group))
            group = []
        if unicodedata.category(char)[0] in "LM" and runs[-1]:
            runs.append([])
    if group:
        runs[-1].append("".join(group))
    return [run for run in runs if run]


def has_card_number(text: str) -> bool:
    """Whether free text holds something that looks like a card number, however written."""
    for groups in _digit_groups(text or ""):
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > 19:
                    break
                if _looks_like_a_card(digits):
                    return True
    return False


def check_free_text(text: str, field: str, errors: dict[str, str]) -> None:
    """Refuse what looks like a card number in any text staff type: we never store them."""
    if has_card_number(text):
        errors[field] = "Remove what looks like a card number: we never store them."


def check_positive_amount(amount: object, errors: dict[str, str]) -> None:
    """Whole minor units above zero and below MAX_AMOUNT; else a message in `errors`."""
    if type(amount) is not int or amount <= 0:
        errors["amount"] = "Enter an amount above zero."
    elif amount > MAX_AMOUNT:
        errors["amount"] = "That amount is too large."


@dataclass(frozen=True)
class Justification:
    """The reason code, ticket and note every action carries, already validated."""

    reason: ReasonCode
    ticket: str
    note: str

    def audit_reason(self, kind: str) -> str:
        text = f"{ActionKind(kind).label}: {self.reason.label}"
        return f"{text}. {self.note}" if self.note else text


def justify(*, kind: str, reason: str, ticket: str, note: str) -> Justification:
    """Validate reason, ticket and note together, reporting every problem at once."""
    errors: dict[str, str] = {}
    label = ActionKind(kind).label.lower()
    reason_code = ReasonCode.objects.filter(
        kind=kind, code=(reason or "").strip(), active=True
    ).first()
    if reason_code is None:
        errors["reason"] = f"Choose a reason from the list for a {label}."
    ticket_ref = clean_ticket_ref(ticket or "")
    if not (ticket or "").strip():
        errors["ticket"] = "Give the ticket this is done under (e.g. ZD-48213)."
    elif ticket_ref is None:
        errors["ticket"] = (
            f"“{ticket.strip()[:40]}” is not a ticket reference; it looks like ZD-48213."
        )
    note = (note or "").strip()
    if reason_code is not None and reason_code.requires_note and not note:
        errors["note"] = "Explain the reason in the note."
    elif len(note) > NOTE_MAX:
        errors["note"] = f"Keep the note under {NOTE_MAX} characters."
    else:
        check_free_text(note, "note", errors)
    if errors or reason_code is None or ticket_ref is None:
        raise InvalidAction(errors)
    return Justification(reason=reason_code, ticket=ticket_ref, note=note)
