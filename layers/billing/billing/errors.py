"""Domain errors. Storage errors are translated into these in billing.aws, never by matching messages."""

from __future__ import annotations

from typing import Any


class BillingError(Exception):
    """Base of every domain error. `code` is stable and reaches API clients and the DLQ."""

    code = "billing_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(BillingError):
    code = "invalid_request"


class NotFound(BillingError):
    code = "not_found"


class AccountNotFound(NotFound):
    code = "account_not_found"


class Conflict(BillingError):
    code = "conflict"


class EventConflict(Conflict):
    """Same event_id, different content: nothing applied; names the differing fields."""

    code = "event_conflict"


class RefundsDisabled(BillingError):
    code = "refunds_disabled"


class RefundTargetMissing(BillingError):
    """The refunded usage event has not been applied (yet): retried, then DLQ."""

    code = "refund_target_missing"


class StorageError(BillingError):
    code = "storage_error"


class Retryable(StorageError):
    """Throttling, transaction conflicts, timeouts: nothing was written, try again."""

    code = "retryable"


class ConditionFailed(StorageError):
    code = "condition_failed"

    def __init__(self, message: str, item: dict | None = None) -> None:
        super().__init__(message)
        self.item = item


class TransactionCancelled(StorageError):
    """A transaction was cancelled; `reasons` is one (code, old_item) per item, in request order."""

    code = "transaction_cancelled"

    def __init__(self, message: str, reasons: list[tuple[str, dict | None]]) -> None:
        super().__init__(message)
        self.reasons = reasons
