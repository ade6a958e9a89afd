"""Publishing tasks without ever failing or hanging the caller."""

import logging

logger = logging.getLogger(__name__)


def enqueue(task, *args, **kwargs) -> bool:
    """Publish ``task`` with these arguments. If the broker is down or slow the error is
    logged and swallowed: the callers' work is already committed (an outbox row, a due
    time) and a periodic job picks it up. Returns whether the task was published."""
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception:  # broker unreachable, timeout, ...: never fail the request
        logger.warning(
            "could not publish %s; a periodic job will catch up", task.name, exc_info=True
        )
        return False
    return True
