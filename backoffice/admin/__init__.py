"""The back-office consoles: the device console (with the partner's work queue) and the order
console. They call the use cases of devices, orders, leasing and partners."""

from . import devices, orders, queue  # noqa: F401  (registers the model admins)
