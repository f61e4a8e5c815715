"""Forms of the ticket screens. They turn what a person types into the arguments of
support.services; the rules (what a reference looks like, who may be assigned) stay there."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import User
from billing.models import Customer, clean_ticket_ref
from support.models import Ticket, TicketStatus
from support.services import NOTE_MAX, SUBJECT_MAX, WORK_TICKETS


def ticket_workers() -> QuerySet[User]:
    """Active staff who work tickets: those a ticket may be assigned to."""
    return (
        User.objects.filter(is_active=True)
        .filter(groups__permissions__codename=WORK_TICKETS.split(".")[1])
        .distinct()
        .order_by("username")
    )


class StaffChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:  # type: ignore[override]
        return obj.get_full_name() or obj.username


def find_customer(text: str) -> Customer:
    """The one customer `text` names: our id, a Stripe customer id or a billing email."""
    text = text.strip()
    if text.isdigit():
        found = Customer.objects.filter(pk=int(text))
    elif text.startswith("cus_"):
        found = Customer.objects.filter(stripe_customer_id=text)
    elif "@" in text:
        found = Customer.objects.filter(billing_email__iexact=text)
    else:
        raise ValidationError("Give the customer’s id, Stripe id (cus_…) or billing email.")
    matches = list(found[:2])
    if not matches:
        raise ValidationError(f"No customer is “{text}”.")
    if len(matches) > 1:
        raise ValidationError(f"Several customers have “{text}”; give the customer’s id.")
    return matches[0]


class TicketForm(forms.Form):
    external_ref = forms.CharField(
        label="Reference",
        max_length=64,
        help_text="The helpdesk’s key, e.g. ZD-48213.",
        widget=forms.TextInput(attrs={"placeholder": "ZD-48213", "autocomplete": "off"}),
    )
    subject = forms.CharField(label="Subject", max_length=SUBJECT_MAX)
    requester_email = forms.CharField(
        label="Requester email", max_length=254, widget=forms.EmailInput()
    )
    customer = forms.CharField(
        label="Customer",
        required=False,
        max_length=512,
        help_text="Id, Stripe id (cus_…) or billing email. Empty: not known yet.",
    )
    assignee = StaffChoiceField(
        label="Assign to", queryset=User.objects.none(), required=False, empty_label="nobody"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = ticket_workers()  # type: ignore[attr-defined]

    def clean_customer(self) -> Customer | None:
        text = self.cleaned_data.get("customer") or ""
        return find_customer(text) if text.strip() else None

    def absorb(self, error: ValidationError) -> None:
        """The service's errors, by field."""
        for field, messages in error.message_dict.items():
            name = "assignee" if field == "assignee_id" else field
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class AssignForm(forms.Form):
    assignee = StaffChoiceField(
        label="Assignee", queryset=User.objects.none(), required=False, empty_label="nobody"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = ticket_workers()  # type: ignore[attr-defined]


class StatusForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=TicketStatus.choices)


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Note", max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )


class CustomerNoteForm(NoteForm):
    """A note from the customer page. A note is kept under a ticket: one of the customer's,
    picked from the list, or typed as a reference (which must be one of theirs)."""

    ticket = forms.TypedChoiceField(
        label="Under ticket", coerce=int, required=False, empty_value=None
    )
    ticket_ref = forms.CharField(
        label="or reference",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "ZD-48213", "autocomplete": "off"}),
    )

    def __init__(
        self, *args: Any, customer: Customer, tickets: list[Ticket], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.tickets = {ticket.pk: ticket for ticket in tickets}
        self.order_fields(["ticket", "ticket_ref", "body"])
        choices: list[tuple[object, str]] = [("", "—")]
        choices += [
            (ticket.pk, f"{ticket.external_ref}: {ticket.subject[:60]}") for ticket in tickets
        ]
        cast(forms.ChoiceField, self.fields["ticket"]).choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        typed = (data.get("ticket_ref") or "").strip()
        picked = self.tickets.get(data.get("ticket") or 0)
        if typed:
            ref = clean_ticket_ref(typed)
            if ref is None:
                self.add_error("ticket_ref", "A helpdesk reference looks like ZD-48213.")
                return data
            ticket = Ticket.objects.filter(external_ref=ref).first()
            if ticket is None or ticket.customer_id != self.customer.pk:
                self.add_error(
                    "ticket_ref",
                    f"{ref} is not a ticket of this customer; open it first (New ticket).",
                )
                return data
            if picked is not None and picked.pk != ticket.pk:
                self.add_error("ticket_ref", "Pick a ticket or type a reference, not both.")
                return data
            data["ticket"] = ticket
        elif picked is not None:
            data["ticket"] = picked
        else:
            self.add_error(
                "ticket", "A note is kept under a ticket: pick one or type its reference."
            )
        return data
