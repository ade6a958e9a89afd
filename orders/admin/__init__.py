"""The admin consoles for company admins and partner staff: devices (with transition
buttons and the partner's work queue), orders, requests and the catalogue. Every page is
scoped by ``velory.tenant_admin.TenantAdmin`` and every change goes through a service."""

from . import devices, orders  # noqa: F401  (registers the model admins)
