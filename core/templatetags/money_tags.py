"""``money`` and ``signed_money``, in every template (a builtin library, settings.TEMPLATES):
{{ amount|money:currency }} → "€1,234.56" / "1 234,56 kr", as the reader's language writes
it (core.money)."""

from django import template

from core.money import money as format_money

register = template.Library()


@register.filter
def money(amount, currency=""):
    return format_money(amount, currency)


@register.filter
def signed_money(amount, currency=""):
    return format_money(amount, currency, signed=True)
