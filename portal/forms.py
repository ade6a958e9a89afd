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


class RequestForm(BoundedForm):
    """A product request. A part of the price over the budget is paid on the card
    processor's own page afterwards: this form has no card fields, ever. For a leased
    product that replaces a leased device the employee holds, it asks what happens to
    that one."""

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

    def __init__(self, *args, replaceable=(), buyout_allowed=False, **kwargs):
        super().__init__(*args, **kwargs)
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
