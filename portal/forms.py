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
