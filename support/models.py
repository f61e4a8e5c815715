"""Support tickets and the notes staff keep on customers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Lookup, Q

from accounts.audit import AuditedHistory
from billing.models import Customer


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    SOLVED = "solved", "Solved"


class _Unsolved(Lookup):
    """`status <> 'solved'` with the status written into the statement, not bound: a prepared
    statement's generic plan can then read the queue's partial index (`ticket_unsolved_created`),
    whose condition only a literal can be proved to imply. With a parameter PostgreSQL sorted
    every open ticket to show a hundred. A lookup, not a function, so that no database (SQLite
    has no boolean type) compares it with a bound true either."""

    lookup_name = "unsolved"
    prepare_rhs = False

    def __init__(self, status) -> None:
        super().__init__(status, None)

    def as_sql(self, compiler, connection):
        status, params = self.process_lhs(compiler, connection)
        return f"NOT ({status} = '{TicketStatus.SOLVED.value}')", params


class TicketQuerySet(models.QuerySet):
    def unsolved(self):
        return self.filter(_Unsolved(F("status")))

    def assigned_to(self, user):
        return self.filter(assignee=user)

    def unassigned(self):
        return self.filter(assignee__isnull=True)


class Ticket(models.Model):
    external_ref = models.CharField(
        max_length=64, unique=True, help_text="The helpdesk key, e.g. ZD-48213."
    )
    subject = models.CharField(max_length=300)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets"
    )
    requester_email = models.EmailField()
    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    solved_at = models.DateTimeField(null=True, blank=True)

    history = AuditedHistory(indexed_by="customer")
    objects = TicketQuerySet.as_manager()

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created_at"]
        permissions = [("work_ticket", "Work tickets: assign, change status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=TicketStatus.SOLVED, solved_at__isnull=False)
                | (~Q(status=TicketStatus.SOLVED) & Q(solved_at__isnull=True)),
                name="ticket_solved_at_iff_solved",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="ticket_status_created"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_status"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_created"),
            # The queue's open tickets, newest first, read from the top: solved tickets (most
            # of them, and ever more) are not in it.
            models.Index(
                fields=["-created_at"],
                condition=~Q(status=TicketStatus.SOLVED),
                name="ticket_unsolved_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_ref}: {self.subject}"


class Note(models.Model):
    """A staff note on a customer, optionally under a ticket."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="notes")
    ticket = models.ForeignKey(
        Ticket, on_delete=models.PROTECT, null=True, blank=True, related_name="notes"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditedHistory(indexed_by="customer")

    class Meta:
        default_permissions = ("view",)
        ordering = ["-created_at"]
        permissions = [("add_note", "Add notes to customers")]
        indexes = [models.Index(fields=["customer", "-created_at"], name="note_customer_created")]

    def __str__(self) -> str:
        return f"Note by {self.author} on {self.customer}"
