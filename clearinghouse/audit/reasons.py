"""Why verification stopped: one template per kind of break, filled with its parameters.

A result keeps the template and the parameters beside the English text, so the console
can say the same thing in the reader's language without parsing English back.

Free of Django like the verifier's workers that import it. The local ``gettext_noop`` is
the name makemessages looks for, so the templates still reach the translation catalogue.
"""

from __future__ import annotations

from typing import Any


def gettext_noop(text: str) -> str:
    return text


SEQUENCE_MISSING = gettext_noop("sequence number %(seq)s is missing")
CONTENT_MISMATCH = gettext_noop("row content does not match its leaf hash")
LINK_MISMATCH = gettext_noop("previous-hash link does not match")
CHAIN_MISMATCH = gettext_noop("chain hash does not match")
SUBTREE_MISSING_PROOFS = gettext_noop(
    "stored subtree hash (level %(level)s, index %(index)s) is missing; proofs over seq %(seq)s.. cannot be answered"
)
SUBTREE_MISSING = gettext_noop("stored subtree hash (level %(level)s, index %(index)s) is missing")
SUBTREE_MISMATCH = gettext_noop("stored subtree hash (level %(level)s, index %(index)s) does not match the events it covers")
CHECKPOINT_OTHER_LOG = gettext_noop("checkpoint #%(checkpoint)s names log %(named)s, not this log (%(log)s)")
CHECKPOINT_UNKNOWN_KEY = gettext_noop("checkpoint #%(checkpoint)s is signed by unknown key %(key)s")
CHECKPOINT_BAD_SIGNATURE = gettext_noop("checkpoint #%(checkpoint)s (size %(size)s) has an invalid signature")
CHECKPOINT_ROOT_MISMATCH = gettext_noop("checkpoint #%(checkpoint)s root does not match the log's first %(size)s events")
CHECKPOINT_BEYOND_HEAD = gettext_noop(
    "checkpoint #%(checkpoint)s vouches for %(size)s events but the log holds %(head)s: events were removed"
)
NODE_COUNT_MISMATCH = gettext_noop("the tree stores %(stored)s subtree hashes where %(expected)s are expected")
CHECKPOINT_SHRANK = gettext_noop("checkpoint #%(newer)s is smaller than the earlier checkpoint #%(older)s: the log shrank")
# ``detail`` is the proof checker's own words (merkle.ProofError), meant for the engineer.
CHECKPOINTS_INCONSISTENT = gettext_noop("checkpoint #%(older)s is not consistent with checkpoint #%(newer)s: %(detail)s")

TEMPLATES = frozenset(
    {
        SEQUENCE_MISSING,
        CONTENT_MISMATCH,
        LINK_MISMATCH,
        CHAIN_MISMATCH,
        SUBTREE_MISSING_PROOFS,
        SUBTREE_MISSING,
        SUBTREE_MISMATCH,
        CHECKPOINT_OTHER_LOG,
        CHECKPOINT_UNKNOWN_KEY,
        CHECKPOINT_BAD_SIGNATURE,
        CHECKPOINT_ROOT_MISMATCH,
        CHECKPOINT_BEYOND_HEAD,
        NODE_COUNT_MISMATCH,
        CHECKPOINT_SHRANK,
        CHECKPOINTS_INCONSISTENT,
    }
)


def reason_text(template: str, params: dict[str, Any]) -> str:
    """The English reason, as the API and the command give it."""
    return template % params
