"""The errors a money action can end in, each with a message a person understands."""

from __future__ import annotations


class ActionError(Exception):
    """Base of the domain errors: nothing was changed when one is raised."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidAction(ActionError):
    """The request is not valid as given; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


class ActionConflict(ActionError):
    """The request was valid but the state it relies on is not (anymore): e.g. the payment
    was refunded meanwhile, or the approval was already decided."""


class NotAllowed(ActionError):
    """The staff member's roles do not allow this."""
