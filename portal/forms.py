from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.forms import BoundedForm

from .selectors import long_date


class MarkReceivedForm(BoundedForm):
    serial_number = forms.CharField(
        label=gettext_lazy("Serial number"),
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "On the box or the back of the device. Leave it empty if you cannot find it."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    received_on = forms.DateField(
        label=gettext_lazy("Date received"),
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class OrderDetailsForm(BoundedForm):
    delivery_address = forms.CharField(
        label=gettext_lazy("Delivery address"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "street-address"}),
    )
    note = forms.CharField(
        label=gettext_lazy("Note for the partner"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("Delivery hours, a door code, who can sign for it…"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RequestForm(BoundedForm):
    """A product request. A part of the price over the budget is paid on the card
    processor's own page afterwards: this form has no card fields, ever. For a leased
    product that replaces a leased device the employee holds, it asks what happens to
    that one."""

    delivery_address = forms.CharField(
        label=gettext_lazy("Delivery address"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "street-address"}),
    )
    note = forms.CharField(
        label=gettext_lazy("Note for your admin and the partner"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    replaces = forms.TypedChoiceField(label=gettext_lazy("It replaces"), coerce=int, required=False)
    replacement_choice = forms.ChoiceField(
        label=gettext_lazy("What happens to it"), widget=forms.RadioSelect, required=False
    )

    field_order = ["replaces", "replacement_choice", "delivery_address", "note"]

    def __init__(self, *args, replaceable=(), buyout_allowed=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not replaceable:
            del self.fields["replaces"], self.fields["replacement_choice"]
            return
        self.fields["replaces"].choices = [
            (
                d.pk,
                # Translators: the leased device a new one replaces: "MacBook, lease ends
                # 3 January 2026".
                _("%(device)s, lease ends %(date)s")
                % {"device": d.name, "date": long_date(d.lease.ends_on)},
            )
            for d in replaceable
        ]
        self.fields["replaces"].required = True
        self.fields["replaces"].initial = replaceable[0].pk
        choices = [("return", _("Return it (you will get the return instructions by e-mail)"))]
        if buyout_allowed:
            choices.append(("buyout", _("Buy it out (you see the price and pay after approval)")))
        self.fields["replacement_choice"].choices = choices
        self.fields["replacement_choice"].required = True
        if len(choices) == 1:
            self.fields["replacement_choice"].initial = "return"
