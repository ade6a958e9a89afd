"""Budgets: allowances, the append-only ledger, card payments and refunds."""
