"""The kernel every app stands on: tenancy, the tenant admin base, locks, bulk writes, crypto,
cache, dates and jobs. It imports no app of ours. See docs/architecture.md."""
