"""People tasks: thin and safe to run twice (each chaser is recorded on its case once, each
item settles once, a closed case stays closed)."""

from dataclasses import asdict

from celery import shared_task

from .services import attestation, offboarding


@shared_task(name="people.tasks.offboarding_daily", acks_late=True)
def offboarding_daily() -> dict:
    report = offboarding.offboarding_daily()
    return {k: v for k, v in asdict(report).items() if k != "errors"} | {
        "errors": len(report.errors)
    }


@shared_task(name="people.tasks.attestations_daily", acks_late=True)
def attestations_daily() -> dict:
    return asdict(attestation.attestations_daily())
