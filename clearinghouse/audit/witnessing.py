"""Collecting witness cosignatures for signed checkpoints (the service side of
clearinghouse.audit.witness).

After a checkpoint is signed, ``audit_checkpoint_cosign`` (a Celery task, sent on commit)
offers it to every witness in ``settings.CH_AUDIT_WITNESSES`` with a consistency proof
from the size that witness last cosigned, and stores each valid cosignature. Writers never
wait for this: appends and sealing are unchanged, and a witness that is down only means
its cosignature is missing from this checkpoint (the next one is offered again).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from clearinghouse.audit.models import AuditCheckpoint, AuditCosignature
from clearinghouse.audit.tiles import checkpoint_note
from clearinghouse.audit.tree import TreeReader
from clearinghouse.audit.witness import COSIGNATURE_V1, add_checkpoint_body, cosignature_verify, verifier_key_parse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WitnessConfig:
    name: str
    public_key: bytes
    url: str


def witnesses_configured() -> list[WitnessConfig]:
    """``CH_AUDIT_WITNESSES``: ``<verifier key>@<url>``, or ``file:<path>@<url>`` for a key
    the witness publishes into a file (docker/compose.yaml, the demo). A published key
    not there yet leaves that witness out of this round (logged), never the others."""
    configured = []
    for item in settings.CH_AUDIT_WITNESSES:
        vkey, _sep, url = item.partition("@")
        if vkey.startswith("file:"):
            try:
                vkey = Path(vkey[len("file:") :]).read_text(encoding="utf-8").strip()
            except OSError as error:
                log.warning("witness key %s not published yet: %s", vkey, error)
                continue
        name, signature_type, public_key = verifier_key_parse(vkey)
        if signature_type != COSIGNATURE_V1:
            raise ValueError(f"CH_AUDIT_WITNESSES: {name} is not a cosignature/v1 key")
        configured.append(WitnessConfig(name=name, public_key=public_key, url=url.rstrip("/")))
    return configured


def _post(url: str, body: str) -> tuple[int, str]:
    request = urllib.request.Request(url + "/add-checkpoint", data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.CH_AUDIT_WITNESS_TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _last_cosigned_size(witness: str) -> int:
    latest = AuditCosignature.objects.filter(witness=witness).select_related("checkpoint").order_by("-checkpoint__tree_size").first()
    return latest.checkpoint.tree_size if latest else 0


def audit_checkpoint_cosign(*, checkpoint_id: int) -> dict[str, str]:
    """Offer one checkpoint to every configured witness; {witness: outcome}. Idempotent."""
    checkpoint = AuditCheckpoint.objects.get(pk=checkpoint_id)
    note = checkpoint_note(checkpoint)
    body = note.split("\n\n", 1)[0] + "\n"
    outcomes = {}
    for witness in witnesses_configured():
        if AuditCosignature.objects.filter(checkpoint=checkpoint, witness=witness.name).exists():
            outcomes[witness.name] = "cosigned"
            continue
        old = _last_cosigned_size(witness.name)
        try:
            for _attempt in range(2):
                proof = TreeReader(checkpoint.tree_size).consistency(old) if 0 < old < checkpoint.tree_size else []
                status, answer = _post(witness.url, add_checkpoint_body(old_size=old, proof=proof, note=note))
                if status == 409 and answer.strip().isdigit() and int(answer) != old and int(answer) <= checkpoint.tree_size:
                    old = int(answer)  # the witness saw a size we have no record of: prove from there
                    continue
                break
        except (OSError, urllib.error.URLError) as error:
            log.warning("witness %s unreachable: %s", witness.name, error)
            outcomes[witness.name] = "unreachable"
            continue
        if status != 200:
            log.error("witness %s refused checkpoint %s (%s): %s", witness.name, checkpoint.tree_size, status, answer.strip())
            outcomes[witness.name] = f"refused {status}: {answer.strip()}"
            continue
        line = answer.strip().split("\n")[0]
        if cosignature_verify(line=line, body=body, name=witness.name, public_key=witness.public_key) is None:
            log.error("witness %s returned a cosignature that does not verify", witness.name)
            outcomes[witness.name] = "invalid cosignature"
            continue
        AuditCosignature.objects.get_or_create(checkpoint=checkpoint, witness=witness.name, defaults={"line": line})
        outcomes[witness.name] = "cosigned"
    return outcomes


def checkpoint_note_cosigned(checkpoint: AuditCheckpoint) -> str:
    """The checkpoint note with the log's signature and every stored cosignature."""
    lines = list(checkpoint.cosignatures.order_by("witness").values_list("line", flat=True))
    return checkpoint_note(checkpoint) + "".join(line + "\n" for line in lines)
