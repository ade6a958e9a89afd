"""People use cases: provisioning (joiners, movers, leavers; groups) for every path, the
SCIM tokens, CSV imports, and the offboarding case of a leaver."""
