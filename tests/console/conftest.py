from tests.audit.conftest import offline  # noqa: F401  (the offline verifier, loaded as an auditor runs it)
