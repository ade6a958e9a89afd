"""Reads of budgets for pages and for the services that decide on them."""

from __future__ import annotations

from .models import Budget, BudgetEntry


def budget_applicable(employee, category: str) -> Budget | None:
    """The budget a product of this category is paid from: its category's own budget, else
    the employee's overall one."""
    budgets = {b.category: b for b in Budget.objects.filter(employee=employee)}
    return budgets.get(category) or budgets.get("")


def orders_with_budget(order_ids) -> set[int]:
    """Which of these orders hold budget money (have ledger entries)."""
    return set(
        BudgetEntry.objects.filter(order_id__in=list(order_ids))
        .values_list("order_id", flat=True)
        .distinct()
    )
