"""Money as people read it: thousands separated, two decimals, the currency on every figure,
and a real minus sign where the amount is signed ("+1,500.00 EUR", "−249.00 EUR")."""

from __future__ import annotations

from decimal import Decimal

MINUS = "\u2212"


def money(amount, currency: str = "", *, signed: bool = False) -> str:
    if amount is None:
        return "—"
    amount = Decimal(amount)
    text = f"{abs(amount):,.2f}"
    if amount < 0:
        text = MINUS + text
    elif signed and amount > 0:
        text = "+" + text
    return f"{text} {currency}".strip()
