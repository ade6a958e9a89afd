from django import forms
from django.utils import timezone


class MarkReceivedForm(forms.Form):
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


class OrderDetailsForm(forms.Form):
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


class RequestForm(forms.Form):
    """A product request; the card fields are asked for only when part of the price is over
    the budget and the company lets the employee pay it by card. Card details are passed to
    the payment gateway to be turned into a token and are never stored."""

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
    card_number = forms.CharField(
        label="Card number",
        required=False,
        max_length=23,
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )
    card_expiry = forms.CharField(
        label="Expiry (MM/YY)",
        required=False,
        max_length=7,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "placeholder": "MM/YY"}),
    )
    card_cvc = forms.CharField(
        label="Security code",
        required=False,
        max_length=4,
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )

    def __init__(self, *args, needs_card: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_card = needs_card
        for name in ("card_number", "card_expiry", "card_cvc"):
            if needs_card:
                self.fields[name].required = True
            else:
                del self.fields[name]

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
