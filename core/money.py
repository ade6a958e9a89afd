"""Money as people read it, in the reader's locale: thousands separated, two decimals, the
currency on every figure the way the language writes it ("€1,234.56" in English,
"1 234,56 kr" in Swedish, "1.234,56 €" in Danish), and a real minus sign where the amount is
signed ("+€1,500.00", "−€249.00").

Babel (CLDR) knows each locale's pattern; formatting through it costs about 10 µs, and Your
Details formats dozens of figures, so each (language, currency) pair is read from Babel once
and kept as a prefix, separators and a suffix, which then format in about a microsecond."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, format_decimal
from django.conf import settings
from django.utils import translation

MINUS = "\u2212"
PROBE = Decimal("1234567.89")

# Django's language codes to CLDR locales: each language in its home country.
LOCALES = {
    "en-gb": "en_GB",
    "en": "en_GB",
    "sv": "sv_SE",
    "fi": "fi_FI",
    "nb": "nb_NO",
    "da": "da_DK",
}


def locale_name(language: str | None = None) -> str:
    language = (language or translation.get_language() or settings.LANGUAGE_CODE).lower()
    return LOCALES.get(language) or LOCALES.get(language.split("-")[0]) or "en_GB"


@lru_cache(maxsize=256)
def _shape(locale: str, currency: str) -> tuple[str, str, str, str]:
    """(prefix, group separator, decimal separator, suffix) of ``currency`` in ``locale``,
    read off Babel's rendering of 1234567.89."""
    text = (
        format_currency(PROBE, currency, locale=Locale.parse(locale))
        if currency
        else (format_decimal(PROBE, format="#,##0.00", locale=Locale.parse(locale)))
    )
    first, last = text.index("1"), text.rindex("9")
    digits = text[first : last + 1]
    # "1,234,567.89" / "1 234 567,89" / "1.234.567,89": the separator after 1 groups, the
    # one before the last two digits is the decimal mark.
    group, decimal = digits[1], digits[-3]
    assert digits == f"1{group}234{group}567{decimal}89", (locale, currency, text)
    prefix, suffix = text[:first], text[last + 1 :]
    # CLDR's currency spacing: a code or letters next to the digits get a no-break space
    # ("SEK 249.00", not "SEK249.00"); a symbol does not ("€249.00").
    if prefix[-1:].isalpha():
        prefix += "\xa0"
    if suffix[:1].isalpha():
        suffix = "\xa0" + suffix
    return prefix, group, decimal, suffix


def money(amount, currency: str = "", *, signed: bool = False, language: str | None = None) -> str:
    """``amount`` in ``currency`` as the active language (or ``language``) writes it; "—" for
    None. ``signed`` puts a plus sign on positive amounts (ledgers)."""
    if amount is None:
        return "—"
    amount = Decimal(amount)
    prefix, group, decimal, suffix = _shape(locale_name(language), currency or "")
    digits = f"{abs(amount):,.2f}"
    if group != "," or decimal != ".":
        digits = digits.replace(",", "\0").replace(".", decimal).replace("\0", group)
    text = f"{prefix}{digits}{suffix}"
    if amount < 0:
        return MINUS + text
    if signed and amount > 0:
        return "+" + text
    return text


def number(value, decimals: int = 0, language: str | None = None) -> str:
    """A plain number with the locale's separators: "1,234" / "1 234" / "1.234"."""
    _prefix, group, decimal, _suffix = _shape(locale_name(language), "")
    digits = f"{Decimal(value):,.{decimals}f}"
    if group != "," or decimal != ".":
        digits = digits.replace(",", "\0").replace(".", decimal).replace("\0", group)
    return digits
