from celery import shared_task

from clearinghouse.audit import services


@shared_task
def audit_seal_task(sweep: bool = False) -> int:
    return services.audit_seal(sweep=sweep)


@shared_task
def audit_checkpoint_task() -> int:
    """Sign a checkpoint if the log grew (idempotent: no growth, no new checkpoint)."""
    checkpoint, _ = services.audit_checkpoint_sign()
    return checkpoint.tree_size


@shared_task
def audit_verify_task(run_id: int) -> None:
    services.audit_verification_run(run_id=run_id)


@shared_task
def audit_checkpoint_cosign_task(checkpoint_id: int) -> dict:
    """Offer a signed checkpoint to the configured witnesses (clearinghouse.audit.witnessing)."""
    from clearinghouse.audit.witnessing import audit_checkpoint_cosign

    return audit_checkpoint_cosign(checkpoint_id=checkpoint_id)
