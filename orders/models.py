"""Orders: catalogue, requests, orders, lines, shipments and distributor adapters."""
