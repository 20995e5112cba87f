"""What the release engine tells the apps above it."""

from django.dispatch import Signal

# Sent inside the transaction that ends a job of any kind (release, report, trend) as done,
# failed or refused, with release_id and status. Receivers run in that transaction, so what
# they record (a notice for the manufacturer) commits or rolls back with the job's end; work
# that must wait for the commit is theirs to send with transaction.on_commit.
job_ended = Signal()
