"""Leasing: leases, returns and buyouts of leased devices."""
