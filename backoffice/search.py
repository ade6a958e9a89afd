"""One search box for the console: devices by serial number (or IMEI, kept in the same
field), orders by number, people by name or e-mail, each within the user's own scope
(``visible_to``), in a fixed number of queries (one per kind, at most LIMIT rows each)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import admin
from django.db.models import Q
from django.shortcuts import render
from django.utils.translation import gettext as _

from companies.models import User
from devices.models import LABELS, Device
from orders.models import Order, order_pk

LIMIT = 10
MAX_QUERY = 100


@dataclass
class Results:
    query: str
    devices: list = field(default_factory=list)
    orders: list = field(default_factory=list)
    people: list = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.devices) + len(self.orders) + len(self.people)


def console_search(user, query: str) -> Results:
    """What ``query`` finds for ``user``: at most LIMIT of each kind, exact matches first."""
    query = " ".join(query.split())[:MAX_QUERY]
    results = Results(query)
    if len(query) < 2:
        return results
    devices = Device.objects.visible_to(user).filter(
        Q(serial_number__iexact=query) | Q(serial_number__istartswith=query)
    )
    results.devices = [
        {
            "pk": d.pk,
            "name": d.name,
            "serial": d.serial_number,
            "status": LABELS[d.status],
            "owner": d.owner.get_full_name() if d.owner_id else "",
            "company": d.company.name,
        }
        for d in devices.select_related("owner", "company").order_by("serial_number", "pk")[:LIMIT]
    ]
    pk = order_pk(query)
    if pk is not None:
        results.orders = [
            {
                "pk": o.pk,
                "number": o.number,
                "employee": o.employee.get_full_name(),
                "company": o.company.name,
            }
            for o in Order.objects.visible_to(user)
            .filter(pk=pk)
            .select_related("employee", "company")[:LIMIT]
        ]
    if user.is_superuser or getattr(user, "role", None) == "company_admin":
        people = User.objects.visible_to(user).filter(
            Q(email__istartswith=query) | Q(full_name__icontains=query)
        )
        results.people = [
            {
                "pk": p.pk,
                "name": p.get_full_name(),
                "email": p.email,
                "company": p.company.name if p.company_id else "",
            }
            for p in people.select_related("company").order_by("full_name", "pk")[:LIMIT]
        ]
    return results


def search_view(request):
    """The console's search page (behind the admin's own login and staff check)."""
    results = console_search(request.user, request.GET.get("q", ""))
    context = {
        **admin.site.each_context(request),
        "title": (
            _("Search: %(query)s") % {"query": results.query} if results.query else _("Search")
        ),
        "results": results,
    }
    return render(request, "admin/search.html", context)
