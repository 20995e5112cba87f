"""Python client for the Clearinghouse manufacturer API.

    from clearinghouse_client import Client
    client = Client("http://127.0.0.1:8000", "chm_…", language="en")
    plan = client.plan("report", purpose="c2m-product-design", measure="consumers",
                       marginals=[["attribute"], ["age_band"]], accuracy=200)
    report = client.report(purpose="c2m-product-design", measure="consumers",
                           marginals=[["attribute"], ["age_band"]], accuracy=200).wait()
    report.verify()
    frame = report.to_pandas()

See clients/python/README.md.
"""

from clearinghouse_client.client import Client, Job, request_body
from clearinghouse_client.errors import (
    AccuracyUnreachable,
    ApiError,
    AuthError,
    BudgetExhausted,
    ClearinghouseError,
    ConflictError,
    JobError,
    JobFailed,
    JobRefused,
    NotFoundError,
    SignatureError,
    ThrottledError,
    UnavailableError,
    ValidationError,
    WaitTimeout,
)
from clearinghouse_client.notices import NoticeSignatureError, verify_notice
from clearinghouse_client.verify import Verification, canonical, verify_document

__version__ = "0.1.0"

__all__ = [
    "AccuracyUnreachable",
    "ApiError",
    "AuthError",
    "BudgetExhausted",
    "ClearinghouseError",
    "Client",
    "ConflictError",
    "Job",
    "JobError",
    "JobFailed",
    "JobRefused",
    "NoticeSignatureError",
    "NotFoundError",
    "SignatureError",
    "ThrottledError",
    "UnavailableError",
    "ValidationError",
    "Verification",
    "WaitTimeout",
    "canonical",
    "request_body",
    "verify_document",
    "verify_notice",
]
