"""Request and response models of the HTTP API (contract section 2). Amounts are JSON strings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_serializer

Amount = Annotated[str, Field(description="exact decimal amount of credits as a string", examples=["12.5"])]
Stamp = Annotated[str, Field(description="RFC 3339 UTC timestamp", examples=["2026-12-04T20:15:00.123456Z"])]
Bucket = Literal["daily_free", "monthly_plan", "promotional", "overage"]
Direction = Literal["debit", "credit"]
ReasonCode = Literal[
    "usage.search", "usage.crawl", "usage.scrape", "usage.api_call", "refund", "grant.daily_free",
    "grant.monthly_plan", "grant.promotional", "expiry", "overage.settled", "adjustment",
]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@/+=-]+$")]
Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    error: ErrorBody


# -- balance ---------------------------------------------------------------------------------
class BucketBalance(BaseModel):
    available: Amount


class ActiveLot(BaseModel):
    lot_id: str
    bucket: Bucket
    granted: Amount
    remaining: Amount
    granted_at: Stamp
    expires_at: Stamp | None
    source: str


class RefreshMeta(BaseModel):
    period: Literal["day", "month"] | None = Field(description="refresh period; null: the bucket never refreshes")
    last_period: str | None = Field(description="the last period granted, e.g. 2026-12-04 or 2026-12")
    last_refresh: Stamp | None = Field(description="start of the last period granted")
    next_refresh: Stamp | None = Field(description="start of the next period")


class BalanceResponse(BaseModel):
    account_id: str
    total_available: Amount
    buckets: dict[Literal["daily_free", "monthly_plan", "promotional"], BucketBalance]
    overage: Amount
    net_balance: Amount
    as_of: Stamp
    active_lots: list[ActiveLot] | None = None
    refresh_meta: dict[Literal["daily_free", "monthly_plan", "promotional"], RefreshMeta] | None = None

    @model_serializer(mode="wrap")
    def _omit_unrequested(self, handler):  # noqa: ANN001, ANN202 - keeps the generated schema as is
        data = handler(self)
        for name in ("active_lots", "refresh_meta"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


# -- ledger and activity -------------------------------------------------------------------------
class LedgerLine(BaseModel):
    id: str
    occurred_at: Stamp
    recorded_at: Stamp
    direction: Direction
    amount: Amount
    reason_code: str
    bucket: Bucket
    lot_id: str | None
    task_id: str | None
    execution_id: str | None
    event_id: str | None
    pricing_version: int | None
    balance_after: Amount


class LedgerPage(BaseModel):
    data: list[LedgerLine]
    has_more: bool
    next_cursor: str | None


class ActivityItem(BaseModel):
    id: str
    type: Literal["usage", "refresh", "grant", "expiry", "refund", "plan_change", "overage_settled", "adjustment"]
    at: Stamp = Field(description="recorded_at of the item's latest line")
    day: str
    direction: Direction
    amount: Amount
    reason_code: str | None = None
    bucket: str | None = None
    lot_id: str | None = None
    task_id: str | None = None
    execution_id: str | None = None
    event_count: int | None = Field(default=None, description="usage: events of the execution that day")
    by_action_type: dict[str, Amount] | None = None
    first_at: Stamp | None = None
    details: dict[str, str] = Field(default_factory=dict)


class ActivityPage(BaseModel):
    data: list[ActivityItem]
    has_more: bool
    next_cursor: str | None


# -- spend summaries -----------------------------------------------------------------------------
class SpendSummary(BaseModel):
    execution_id: str | None = None
    task_id: str | None = None
    total_debited: Amount
    total_refunded: Amount
    net: Amount
    by_action_type: dict[str, Amount]
    by_reason_code: dict[str, Amount]
    first_at: Stamp | None
    last_at: Stamp | None
    event_count: int


class TaskSpendSummary(SpendSummary):
    execution_count: int


# -- statements ----------------------------------------------------------------------------------
class BucketStatement(BaseModel):
    opening_balance: Amount
    credits: Amount
    debits: Amount
    closing_balance: Amount


class MonthlyStatement(BaseModel):
    month: str
    month_to_date: bool = Field(description="true for the current month")
    opening_balance: Amount
    total_credits: Amount
    total_debits: Amount
    closing_balance: Amount
    credits_by_bucket: dict[str, Amount]
    debits_by_bucket: dict[str, Amount]
    credits_by_reason: dict[str, Amount]
    debits_by_reason: dict[str, Amount]
    buckets: dict[Bucket, BucketStatement] = Field(description="per bucket: opening + credits - debits = closing")


# -- plans ---------------------------------------------------------------------------------------
class PlanView(BaseModel):
    plan_id: str
    name: str
    monthly_credits: Amount
    daily_free_credits: Amount
    price_cents: int
    currency: str


class PlanList(BaseModel):
    data: list[PlanView]
    has_more: bool = False
    next_cursor: str | None = None


class Subscription(BaseModel):
    account_id: str
    plan_id: str
    plan_since: Stamp | None
    pending_plan_id: str | None = Field(description="a downgrade that takes effect at the next monthly period")
    pending_effective_at: Stamp | None
    plan: PlanView


class SelectPlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]


class PlanSelection(BaseModel):
    account_id: str
    change: Literal["unchanged", "upgrade", "switch", "downgrade_scheduled", "pending_cancelled"]
    plan_id: str = Field(description="the plan in effect now")
    previous_plan_id: str
    pending_plan_id: str | None
    effective_at: Stamp = Field(description="when the selected plan takes effect")
    granted: Amount = Field(description="prorated monthly_plan credits granted by an upgrade")
    lot_id: str | None
    subscription: Subscription
