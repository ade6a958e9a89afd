"""Every form's fields, bounded: what a person can type is refused with a form error, never
a 500 or a value the database cannot hold. Applied to every admin form (the tenant admin
base), every object-button form and every portal form."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator

from .dates import date_in_range

# Money fits the ledger's DecimalField(max_digits=12, decimal_places=2).
MONEY_LIMIT = Decimal("9999999999.99")
# Free text without its own limit (notes, addresses, reasons).
TEXT_LIMIT = 10_000


def bound_field(field: forms.Field) -> forms.Field:
    """Add the bounds a field lacks (once)."""
    if getattr(field, "_velory_bounded", False):
        return field
    if isinstance(field, forms.DateField | forms.DateTimeField):
        field.validators.append(date_in_range)
    elif isinstance(field, forms.DecimalField):
        field.validators += [MaxValueValidator(MONEY_LIMIT), MinValueValidator(-MONEY_LIMIT)]
    elif isinstance(field, forms.IntegerField) and field.max_value is None:
        field.validators.append(MaxValueValidator(2_000_000_000))
    elif isinstance(field, forms.CharField) and field.max_length is None:
        field.max_length = TEXT_LIMIT
        field.validators.append(MaxLengthValidator(TEXT_LIMIT))
        field.widget.attrs.setdefault("maxlength", str(TEXT_LIMIT))
    field._velory_bounded = True
    return field


def bound_form(form: forms.BaseForm) -> forms.BaseForm:
    for field in form.fields.values():
        bound_field(field)
    return form


class BoundedForm(forms.Form):
    """A form whose fields are bounded."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bound_form(self)
