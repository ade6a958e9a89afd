from django import forms
from django.utils import timezone

from core.forms import BoundedForm


class MarkReceivedForm(BoundedForm):
    serial_number = forms.CharField(
        label="Serial number",
        required=False,
        max_length=100,
        help_text="On the box or the back of the device. Leave it empty if you cannot find it.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    received_on = forms.DateField(
        label="Date received",
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class OrderDetailsForm(BoundedForm):
    delivery_address = forms.CharField(
        label="Delivery address",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "street-address"}),
    )
    note = forms.CharField(
        label="Note for the partner",
        required=False,
        max_length=1000,
        help_text="Delivery hours, a door code, who can sign for it…",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CardForm(BoundedForm):
    """Card details, passed to the payment gateway to be turned into a token and never
    stored. ``cleaned_data["card"]`` is the Card to charge."""

    card_number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )
    card_expiry = forms.CharField(
        label="Expiry (MM/YY)",
        max_length=7,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "placeholder": "MM/YY"}),
    )
    card_cvc = forms.CharField(
        label="Security code",
        max_length=4,
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )
    needs_card = True

    def clean(self):
        data = super().clean()
        if not self.needs_card:
            return data
        number = "".join(ch for ch in data.get("card_number", "") if ch.isdigit())
        if not number:
            self.add_error("card_number", "Enter your card number.")
        expiry = data.get("card_expiry", "").replace(" ", "")
        month = year = None
        if "/" in expiry:
            mm, yy = expiry.split("/", 1)
            if mm.isdigit() and yy.isdigit():
                month, year = int(mm), int(yy) + (2000 if len(yy) == 2 else 0)
        if not month or not 1 <= month <= 12 or not year:
            self.add_error("card_expiry", "Enter the expiry as MM/YY, e.g. 08/29.")
        cvc = data.get("card_cvc", "")
        if not cvc.isdigit() or len(cvc) not in (3, 4):
            self.add_error("card_cvc", "Enter the 3 or 4 digits on the back of the card.")
        if not self.errors:
            from budgets.payments import Card

            data["card"] = Card(number=number, exp_month=month, exp_year=year, cvc=cvc)
        return data


class RequestForm(CardForm):
    """A product request; the card fields are asked for only when part of the price is over
    the budget and the company lets the employee pay it by card. For a leased product that
    replaces a leased device the employee holds, it asks what happens to that one."""

    delivery_address = forms.CharField(
        label="Delivery address",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "street-address"}),
    )
    note = forms.CharField(
        label="Note for your admin and the partner",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    replaces = forms.TypedChoiceField(label="It replaces", coerce=int, required=False)
    replacement_choice = forms.ChoiceField(
        label="What happens to it", widget=forms.RadioSelect, required=False
    )

    field_order = ["replaces", "replacement_choice", "delivery_address", "note"]

    def __init__(
        self, *args, needs_card: bool = False, replaceable=(), buyout_allowed=False, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.needs_card = needs_card
        for name in ("card_number", "card_expiry", "card_cvc"):
            if not needs_card:
                del self.fields[name]
        if not replaceable:
            del self.fields["replaces"], self.fields["replacement_choice"]
            return
        self.fields["replaces"].choices = [
            (d.pk, f"{d.name}, lease ends {d.lease.ends_on:%-d %B %Y}") for d in replaceable
        ]
        self.fields["replaces"].required = True
        self.fields["replaces"].initial = replaceable[0].pk
        choices = [("return", "Return it (you will get the return instructions by e-mail)")]
        if buyout_allowed:
            choices.append(("buyout", "Buy it out (you see the price and pay after approval)"))
        self.fields["replacement_choice"].choices = choices
        self.fields["replacement_choice"].required = True
        if len(choices) == 1:
            self.fields["replacement_choice"].initial = "return"
