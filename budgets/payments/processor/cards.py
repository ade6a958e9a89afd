"""The test cards the sandbox processor knows and what each one does, the checks the hosted
page makes of what a customer typed (Luhn, expiry, CVC), and money as a customer reads it
("€199.00", "SEK 1,990.00"). No state and no HTTP here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

# Currencies whose amounts have no minor unit (Stripe's list): 1990 JPY is ¥1,990.
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£"}
# Stripe's smallest charge per currency, in minor units; others: 1.
MINIMUM_AMOUNTS = {
    "usd": 50,
    "eur": 50,
    "chf": 50,
    "cad": 50,
    "aud": 50,
    "gbp": 30,
    "sek": 300,
    "nok": 300,
    "dkk": 250,
    "pln": 200,
    "jpy": 50,
}

GENERIC_DECLINE = "Your card was declined."


@dataclass(frozen=True)
class Decline:
    """How a card is refused: Stripe's error code, decline code and message."""

    code: str
    decline_code: str | None
    message: str


@dataclass(frozen=True)
class KnownCard:
    """A test card: its brand, whether it asks for 3-D Secure, how it ends (None: it
    succeeds) and what happens later (``refund_fails`` or ``dispute``)."""

    number: str
    brand: str
    behaviour: str  # what the hosted page's table says
    three_ds: bool = False
    decline: Decline | None = None
    later: str | None = None


def _declined(decline_code: str, message: str = GENERIC_DECLINE) -> Decline:
    return Decline("card_declined", decline_code, message)


TEST_CARDS: dict[str, KnownCard] = {
    card.number: card
    for card in (
        KnownCard("4242424242424242", "visa", "Succeeds"),
        KnownCard("5555555555554444", "mastercard", "Succeeds"),
        KnownCard("378282246310005", "amex", "Succeeds (4-digit CVC)"),
        KnownCard("4000002500003155", "visa", "3-D Secure, then succeeds", three_ds=True),
        KnownCard("4000002760003184", "visa", "3-D Secure, then succeeds", three_ds=True),
        KnownCard("4000000000003220", "visa", "3-D Secure 2, then succeeds", three_ds=True),
        KnownCard(
            "4000008400001629",
            "visa",
            "3-D Secure, then declined",
            three_ds=True,
            decline=_declined("card_declined"),
        ),
        KnownCard(
            "4000008260003178",
            "visa",
            "3-D Secure, then insufficient funds",
            three_ds=True,
            decline=_declined("insufficient_funds", "Your card has insufficient funds."),
        ),
        KnownCard(
            "4000000000000002",
            "visa",
            "Declined (generic)",
            decline=_declined("generic_decline"),
        ),
        KnownCard(
            "4000000000009995",
            "visa",
            "Declined: insufficient funds",
            decline=_declined("insufficient_funds", "Your card has insufficient funds."),
        ),
        KnownCard(
            "4000000000009987", "visa", "Declined: lost card", decline=_declined("lost_card")
        ),
        KnownCard(
            "4000000000009979", "visa", "Declined: stolen card", decline=_declined("stolen_card")
        ),
        KnownCard(
            "4000000000000069",
            "visa",
            "Declined: expired card",
            decline=Decline("expired_card", "expired_card", "Your card has expired."),
        ),
        KnownCard(
            "4000000000000127",
            "visa",
            "Declined: incorrect CVC",
            decline=Decline(
                "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
            ),
        ),
        KnownCard(
            "4000000000000119",
            "visa",
            "Declined: processing error",
            decline=Decline(
                "processing_error",
                "processing_error",
                "An error occurred while processing your card. Try again in a little bit.",
            ),
        ),
        KnownCard(
            "4000000000005126",
            "visa",
            "Succeeds; its refunds fail after 5 s",
            later="refund_fails",
        ),
        KnownCard(
            "4000000000000259",
            "visa",
            "Succeeds; a dispute opens once captured",
            later="dispute",
        ),
    )
}

# A number that passes the checks but is no test card: refused as Stripe's test mode does.
LIVE_CARD_DECLINE = Decline(
    "card_declined",
    "test_mode_live_card",
    "Your card was declined. Your request was in test mode, but used a non test card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing.",
)
AUTHENTICATION_FAILED = (
    "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again."
)


def card_for(number: str) -> KnownCard:
    """The test card with this number, or one that is refused like a real card in test
    mode."""
    known = TEST_CARDS.get(number)
    if known is not None:
        return known
    return KnownCard(number, brand_of(number), "", decline=LIVE_CARD_DECLINE)


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if re.match(r"5[1-5]|2[2-7]", number):
        return "mastercard"
    if re.match(r"3[47]", number):
        return "amex"
    return "unknown"


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


@dataclass(frozen=True)
class CardInput:
    """What the customer typed, once it passed the checks."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str
    name: str


def check_card(
    number: str, expiry: str, cvc: str, name: str, now: float
) -> tuple[CardInput | None, list[str]]:
    """(the card, []) when the fields are acceptable, else (None, the messages to show), in
    the words of Stripe's card form."""
    errors: list[str] = []
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits:
        errors.append("Your card number is incomplete.")
    elif not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
        errors.append("Your card number is invalid.")
    month = year = 0
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", expiry or "")
    if match is None:
        errors.append("Your card's expiration date is incomplete.")
    else:
        month, year = int(match[1]), int(match[2])
        if year < 100:
            year += 2000
        today = datetime.fromtimestamp(now, UTC)
        if not 1 <= month <= 12:
            errors.append("Your card's expiration month is invalid.")
        elif (year, month) < (today.year, today.month):
            errors.append("Your card's expiration date is in the past.")
        elif year > today.year + 50:
            errors.append("Your card's expiration year is invalid.")
    cvc = (cvc or "").strip()
    if not re.fullmatch(r"\d{3,4}", cvc):
        errors.append("Your card's security code is incomplete.")
    if errors:
        return None, errors
    return CardInput(digits, month, year, cvc, (name or "").strip()[:200]), []


def format_amount(minor: int, currency: str) -> str:
    """1990 sek → "SEK 19.90", 19900 eur → "€199.00", 1990 jpy → "JPY 1,990"."""
    currency = currency.lower()
    places = 0 if currency in ZERO_DECIMAL else 2
    text = f"{Decimal(minor).scaleb(-places):,.{places}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency.upper()} {text}"


def minimum_amount(currency: str) -> int:
    return MINIMUM_AMOUNTS.get(currency.lower(), 1)


def grouped(number: str) -> str:
    """A card number as printed: 4242 4242 4242 4242 (Amex: 3782 822463 10005)."""
    if len(number) == 15:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
