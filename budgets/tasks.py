"""Payment tasks: thin, idempotent (a refund row is claimed and keyed)."""

from celery import shared_task

from . import services


@shared_task(name="budgets.tasks.execute_refund", acks_late=True)
def execute_refund(refund_id: int) -> str:
    return services.refund_execute(refund_id)


@shared_task(name="budgets.tasks.retry_refunds", acks_late=True)
def retry_refunds() -> dict[str, int]:
    return services.refunds_retry_due()


@shared_task(name="budgets.tasks.renew_budgets", acks_late=True)
def renew_budgets() -> int:
    return services.budgets_renew()
