"""CSV exports that stream and that no spreadsheet runs as a formula."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse
from django.utils import timezone


class Echo:
    def write(self, value):
        return value


def _cell(value):
    """A CSV cell a spreadsheet shows as text: what people typed (an address, a note) never
    runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(filename: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    """A CSV download streamed row by row (big exports never sit in memory)."""
    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(v) for v in row])

    stamp = timezone.localdate().isoformat()
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response


PAYROLL_HEADER = ["employee", "e-mail", "device", "serial", "amount", "currency", "paid"]


def payroll_response(filename: str, deductions: Iterable[tuple]) -> StreamingHttpResponse:
    """Salary deductions for the company's payroll, one per row: ``(employee, device,
    amount, currency, paid_at)`` each (lease buyouts and leavers' owned devices alike)."""
    return csv_response(
        filename,
        PAYROLL_HEADER,
        (
            [
                employee.get_full_name(),
                employee.email,
                device.name,
                device.serial_number,
                amount,
                currency,
                paid_at.date().isoformat() if paid_at else "",
            ]
            for employee, device, amount, currency, paid_at in deductions
        ),
    )
