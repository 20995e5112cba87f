"""Signed erasure certificates: proof, for the person, of what was deleted, when and why.

One certificate per erasure (after a withdrawal, after the service ended a consent because
its purpose was retired or replaced, after an account erasure, and one per person and run
of the daily retention purge), signed in the
transaction that deleted, with the receipts key and in the receipts' encoding (canonical
JSON, Ed25519; ``tools/verify_receipt.py`` checks both). It names the person only by their
pseudonymous id, and what was deleted only as counts per platform and purpose.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings

from clearinghouse.core.crypto import Signer, signer_get
from clearinghouse.core.operator import controller_name
from clearinghouse.intake.models import Erasure

CERTIFICATE_SCHEMA = "clearinghouse-erasure-certificate/1"
CONSENT_WITHDRAWN, PURPOSE_RETIRED, PURPOSE_SUPERSEDED, ACCOUNT_ERASED, RETENTION_ENDED = (
    "consent_withdrawn",
    "purpose_retired",
    "purpose_superseded",
    "account_erased",
    "retention_ended",
)
CAUSES = (CONSENT_WITHDRAWN, PURPOSE_RETIRED, PURPOSE_SUPERSEDED, ACCOUNT_ERASED, RETENTION_ENDED)

# The certificate's sentences in its own language: a Chinese certificate carries no English.
_TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "causes": {
            CONSENT_WITHDRAWN: "you withdrew your consent",
            PURPOSE_RETIRED: "the purpose was retired, which ended your consent",
            PURPOSE_SUPERSEDED: "a new version of the purpose replaced the one you agreed to, which ended your consent",
            ACCOUNT_ERASED: "you erased your account",
            RETENTION_ENDED: "the retention period ended",
        },
        "statement": (
            "The clearinghouse deleted the preference signals counted here, which platforms had sent about the person "
            "with this pseudonymous id. They can no longer be used in any statistic."
        ),
        "remains": (
            "What stays: the consent ledger and the audit log, which hold only the pseudonymous id, and statistics "
            "published earlier, which never contained anyone's records."
        ),
    },
    "zh-hans": {
        "causes": {
            CONSENT_WITHDRAWN: "你撤回了同意",
            PURPOSE_RETIRED: "这个用途已停用，你的同意随之结束",
            PURPOSE_SUPERSEDED: "用途的新版本取代了你同意的版本，你的同意随之结束",
            ACCOUNT_ERASED: "你注销了账户",
            RETENTION_ENDED: "保存期限已到",
        },
        "statement": "数据授权中心已删除这里计数的偏好信号，它们是各平台发来的、关于持有这个化名编号的人的数据。这些数据再也不能用于任何统计。",
        "remains": "保留的只有：同意记录和审计日志（其中只有化名编号），以及此前已发布的统计结果（其中从来没有任何人的记录）。",
    },
}


def certificate_language(language: str | None) -> str:
    return language if language in _TEXT else settings.LANGUAGE_CODE


def certificate_sign(
    *,
    cause: str,
    language: str,
    pseudonym: str,
    receipt_id: Any,
    requested_at: datetime,
    completed_at: datetime,
    deleted: list[dict[str, Any]],
    signer: Signer | None = None,
) -> tuple[uuid.UUID, dict[str, Any]]:
    """The signed envelope and its id, touching no table: ``erasure_certificate_issue``
    stores one, the retention purge stores thousands with one bulk insert (and passes the
    receipts ``signer`` it looked up once, instead of one key-file check per certificate)."""
    language = certificate_language(language)
    cause = cause if cause in CAUSES else CONSENT_WITHDRAWN
    controller = settings.CH_CONTROLLER
    certificate_id = uuid.uuid4()
    text = _TEXT[language]
    payload = {
        "certificate_id": str(certificate_id),
        "schema_version": CERTIFICATE_SCHEMA,
        "jurisdiction": controller["jurisdiction"],
        "controller": {"name": controller_name(language=language), "contact": controller["contact"]},
        "issued_at": completed_at.isoformat(),
        "language": language,
        "subject": {"pseudonym": str(pseudonym)},
        "reason": {"code": cause, "text": text["causes"][cause]},
        "consent_receipt_id": str(receipt_id) if receipt_id else None,
        "requested_at": requested_at.isoformat(),
        "completed_at": completed_at.isoformat(),
        "deleted": sorted(deleted, key=lambda row: (row["platform"] or "", row["purpose"] or "")),
        "total_signals": sum(row["signals"] for row in deleted),
        "statement": text["statement"],
        "what_remains": text["remains"],
    }
    return certificate_id, (signer or signer_get("receipts")).envelope(payload)


def erasure_certificate_issue(*, erasure: Erasure, deleted: list[dict[str, Any]], completed_at: datetime) -> dict[str, Any]:
    """Sign the certificate for ``erasure`` and store it on the row. ``deleted`` lists
    ``{"platform", "purpose", "signals"}`` (slugs and codes, every pair that held data; one
    row with 0 when nothing was held). Call inside the transaction that deleted."""
    language = certificate_language(erasure.language)
    cause = erasure.cause if erasure.cause in CAUSES else CONSENT_WITHDRAWN
    certificate_id, envelope = certificate_sign(
        cause=cause,
        language=language,
        pseudonym=str(erasure.consumer.pseudonym),
        receipt_id=erasure.receipt_id,
        requested_at=erasure.requested_at,
        completed_at=completed_at,
        deleted=deleted,
    )
    Erasure.objects.filter(pk=erasure.pk).update(certificate_id=certificate_id, certificate=envelope, language=language, cause=cause)
    erasure.certificate_id, erasure.certificate = certificate_id, envelope
    return envelope
