"""What the consent ledger tells the apps above it."""

from django.dispatch import Signal

# Sent inside the withdrawal's transaction, after the ledger and the state are written,
# with consumer_id, purpose_code and platform_id, and why (``reason``: "consent_withdrawn",
# "purpose_retired" or "purpose_superseded"), the ``receipt_id`` of the event that ended
# it and the receipt's ``language`` (the erasure certificate names and speaks them). Receivers run in that transaction, so
# work they record (intake's erasure) commits or rolls back with the withdrawal itself.
consent_withdrawn = Signal()
