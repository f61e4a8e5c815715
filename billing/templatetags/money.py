from django import template

from billing.money import format_amount

register = template.Library()


@register.simple_tag
def money(amount: int | None, currency: str) -> str:
    """{% money payment.amount payment.currency %} → "$12.34"."""
    return format_amount(amount, currency)


@register.filter
def neg(amount: int) -> int:
    return -amount
