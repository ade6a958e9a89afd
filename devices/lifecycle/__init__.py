"""Every device use case, in one place: the partner's steps, shipping, delivery, receipt,
registration of outside hardware, corrections, removal, the daily receipt job (reminders,
receipt by policy some days after delivery), and the one event router that
decides what a status event means for admin buttons, bulk actions and partner reports.

This is the upper tier of the devices app: it stands on orders, leasing and budgets, which
themselves stand on the lower tier (``devices.models``, ``devices.engine``,
``devices.notices``). See docs/architecture.md."""

from .daily import RECEIPT_REMINDERS, ReceiptsReport, receipts_daily
from .progress import (
    PARTNER_STEPS,
    STEPS_MAILED,
    ShipmentReport,
    TrackingEvent,
    devices_advance,
    devices_deliver,
    devices_progress,
    devices_ship,
    shipment_record_progress,
    shipments_record,
)
from .receipt import device_mark_received, devices_receive_by_policy, receipts_record
from .registration import REGISTRABLE_STATUSES, device_register_manually, device_update_details
from .removal import REMOVAL_KINDS, device_remove
from .router import (
    LEASE_CHOICES,
    NEEDS_REASON,
    NEEDS_SHIPMENT,
    Reported,
    ReportResult,
    devices_apply,
    devices_report,
    status_path,
)

__all__ = [
    "LEASE_CHOICES",
    "NEEDS_REASON",
    "NEEDS_SHIPMENT",
    "PARTNER_STEPS",
    "RECEIPT_REMINDERS",
    "REGISTRABLE_STATUSES",
    "REMOVAL_KINDS",
    "STEPS_MAILED",
    "ReceiptsReport",
    "ReportResult",
    "Reported",
    "ShipmentReport",
    "TrackingEvent",
    "device_mark_received",
    "device_register_manually",
    "device_remove",
    "device_update_details",
    "devices_advance",
    "devices_apply",
    "devices_deliver",
    "devices_progress",
    "devices_receive_by_policy",
    "devices_report",
    "devices_ship",
    "receipts_daily",
    "receipts_record",
    "shipment_record_progress",
    "shipments_record",
    "status_path",
]
