"""Devices: the status machine of each physical product (see DESIGN.md)."""
