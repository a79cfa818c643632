"""Read-side logic of the API: turn what billing.reads returns into the contract's responses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from billing import keys, ledger, reads, refresh
from billing.api import cursor
from billing.api.models import (
    ActiveLot,
    ActivityItem,
    ActivityPage,
    BalanceResponse,
    BucketBalance,
    BucketStatement,
    LedgerLine,
    LedgerPage,
    MonthlyStatement,
    PlanList,
    PlanView,
    RefreshMeta,
    SpendSummary,
    Subscription,
    TaskSpendSummary,
)
from billing.clock import month_of, parse, stamp, utcnow
from billing.errors import AccountNotFound, NotFound, ValidationFailed
from billing.money import ZERO, fmt, quantize
from billing.plans import Plan
from billing.wallet import ALL_BUCKETS, DAILY_FREE, LOT_BUCKETS, MONTHLY_PLAN, Lot, Wallet

Clock = Callable[[], datetime]


def _d(value: Any) -> Decimal:
    return quantize(Decimal(str(value if value is not None else 0)))


def _amounts(mapping: dict[str, Any] | None) -> dict[str, str]:
    return {k: fmt(_d(v)) for k, v in sorted((mapping or {}).items())}


# -- filters -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """A list query, normalized: what a cursor is bound to."""

    start: str | None = None  # recorded_at stamp, inclusive
    end: str | None = None  # recorded_at stamp, inclusive
    task_id: str | None = None
    execution_id: str | None = None
    direction: str | None = None
    reason_code: str | None = None

    @classmethod
    def build(cls, start: datetime | None, end: datetime | None, **rest: str | None) -> Filters:
        if start is not None and start.tzinfo is None or end is not None and end.tzinfo is None:
            raise ValidationFailed("from and to need a UTC offset (RFC 3339)")
        if start is not None and end is not None and start > end:
            raise ValidationFailed("from must not be after to")
        return cls(start=stamp(start) if start else None, end=stamp(end) if end else None, **rest)

    def as_dict(self) -> dict[str, str | None]:
        return {"from": self.start, "to": self.end, "task_id": self.task_id, "execution_id": self.execution_id,
                "direction": self.direction, "reason_code": self.reason_code}


# -- balance -------------------------------------------------------------------------------------
def _wallet(account_id: str) -> Wallet:
    wallet = reads.wallet(account_id)
    if wallet is None:
        raise AccountNotFound(f"account {account_id} does not exist")
    return wallet


def _refresh_meta(wallet: Wallet, plan: Plan) -> dict[str, RefreshMeta]:
    meta = {"promotional": RefreshMeta(period=None, last_period=None, last_refresh=None, next_refresh=None)}
    created = parse(wallet.created_at)
    daily = wallet.periods.get(DAILY_FREE)
    if daily:
        day = parse(daily + "T00:00:00Z")
        meta[DAILY_FREE] = RefreshMeta(period="day", last_period=daily, last_refresh=stamp(max(day, created)),
                                       next_refresh=stamp(day + timedelta(days=1)))
    else:
        meta[DAILY_FREE] = RefreshMeta(period="day", last_period=None, last_refresh=None, next_refresh=None)
    monthly = wallet.periods.get(MONTHLY_PLAN)
    if monthly:
        first = parse(monthly + "-01T00:00:00Z")
        meta[MONTHLY_PLAN] = RefreshMeta(period="month", last_period=monthly, last_refresh=stamp(max(first, created)),
                                         next_refresh=stamp(refresh.next_month(first)))
    else:
        meta[MONTHLY_PLAN] = RefreshMeta(period="month", last_period=None, last_refresh=None, next_refresh=None)
    return meta


def balance(account_id: str, include_active_lots: bool, include_refresh_meta: bool,
            ctx: ledger.Context = ledger.DEFAULT) -> BalanceResponse:
    """One GetItem of the wallet, then due expiries and grants projected in memory (nothing written)."""
    now = ctx.now()
    wallet = ledger.as_of(_wallet(account_id), now, ctx)
    lots = sorted((lot for lot in wallet.lots.values() if lot.remaining > 0), key=Lot.burn_order)
    return BalanceResponse(
        account_id=account_id,
        total_available=fmt(wallet.available()),
        buckets={b: BucketBalance(available=fmt(wallet.available(b))) for b in LOT_BUCKETS},
        overage=fmt(wallet.overage),
        net_balance=fmt(wallet.net()),
        as_of=stamp(now),
        active_lots=[ActiveLot(lot_id=lot.lot_id, bucket=lot.bucket, granted=fmt(lot.granted),  # type: ignore[arg-type]
                               remaining=fmt(lot.remaining), granted_at=lot.granted_at, expires_at=lot.expires_at,
                               source=lot.source) for lot in lots] if include_active_lots else None,
        refresh_meta=_refresh_meta(wallet, ledger.plan_of(wallet, ctx.plans())) if include_refresh_meta else None,
    )


# -- ledger ----------------------------------------------------------------------------------------
def _line_view(entry: dict[str, Any], line: dict[str, Any]) -> LedgerLine:
    version = entry.get("pricing_version")
    return LedgerLine(
        id=line["id"], occurred_at=entry["occurred_at"], recorded_at=entry["recorded_at"],
        direction=line["direction"], amount=fmt(_d(line["amount"])), reason_code=line["reason_code"],
        bucket=line["bucket"], lot_id=line.get("lot_id"), task_id=entry.get("task_id"),
        execution_id=entry.get("execution_id"), event_id=entry.get("event_id"),
        pricing_version=int(version) if version is not None else None, balance_after=fmt(_d(line["balance_after"])),
    )


def _matching_lines(entry: dict[str, Any], filters: Filters) -> list[dict[str, Any]]:
    """The entry's lines newest first (reverse write order), restricted to direction and reason filters."""
    return [line for line in reversed(entry.get("lines") or [])
            if filters.direction in (None, line["direction"]) and filters.reason_code in (None, line["reason_code"])]


def ledger_page(account_id: str, filters: Filters, limit: int, token: str | None) -> LedgerPage:
    """Lines newest first. Entries come from a key-range Query of the right index; the page counts lines.

    A cursor is (gt_sk of the entry where the page stopped, lines of it already returned): the next
    page queries gt_sk <= that key and skips those lines, so an entry straddling two pages loses or
    repeats nothing.
    """
    route = "ledger"
    high = filters.end + reads.HIGH if filters.end else None
    skip_key, skip = None, 0
    if token:
        position = cursor.decode(token, account_id, route, filters.as_dict())
        skip_key, skip = str(position.get("k", "")), int(position.get("n", 0))
        if not skip_key or skip < 0:
            raise cursor.InvalidCursor("cursor is malformed")
        high = min(high, skip_key) if high else skip_key
    span = reads.ledger_range(account_id, filters.execution_id, filters.task_id, filters.start, high)
    taken: list[tuple[str, int, LedgerLine]] = []  # (gt_sk, index within the entry's matching lines, line)
    for entry in reads.ledger_entries(span, first=limit + 1):
        lines = _matching_lines(entry, filters)
        first = skip if entry["gt_sk"] == skip_key else 0
        for index in range(first, len(lines)):
            taken.append((entry["gt_sk"], index, _line_view(entry, lines[index])))
        if len(taken) > limit:
            break
    page, has_more = taken[:limit], len(taken) > limit
    next_cursor = None
    if has_more:
        key, index, _ = page[-1]
        next_cursor = cursor.encode(account_id, route, filters.as_dict(), {"k": key, "n": index + 1})
    return LedgerPage(data=[line for _, _, line in page], has_more=has_more, next_cursor=next_cursor)


# -- activity --------------------------------------------------------------------------------------
def _activity_view(item: dict[str, Any]) -> ActivityItem:
    if item.get("type") == "usage":
        ident = f"usage:{item['day']}:{item['execution_id']}"
    else:
        ident = f"{item.get('type')}:{item.get('entry_id')}"
    return ActivityItem(
        id=ident, type=item["type"], at=item.get("at") or item.get("last_at") or "", day=item["day"],
        direction=item.get("direction") or "debit", amount=fmt(_d(item.get("amount"))),
        reason_code=item.get("reason_code"), bucket=item.get("bucket"), lot_id=item.get("lot_id"),
        task_id=item.get("task_id"), execution_id=item.get("execution_id"),
        event_count=int(item["event_count"]) if item.get("event_count") is not None else None,
        by_action_type=_amounts(item["by_action_type"]) if item.get("by_action_type") is not None else None,
        first_at=item.get("first_at"),
        details={k: str(v) for k, v in (item.get("details") or {}).items() if v is not None},
    )


def _activity_matches(item: dict[str, Any], filters: Filters) -> bool:
    """An item is in the range when its lines' recorded_at span [first_at, at] overlaps [from, to]."""
    last = item.get("at") or ""
    first = item.get("first_at") or last
    return (filters.start is None or last >= filters.start) and (filters.end is None or first <= filters.end)


def activity_page(account_id: str, filters: Filters, limit: int, token: str | None) -> ActivityPage:
    """Newest first: one descending key-range Query over `V#` items (usage groups sort by their day)."""
    route = "activity"
    low = keys.ACTIVITY + (filters.start[:10] if filters.start else "")
    high = keys.ACTIVITY + (filters.end if filters.end else "") + reads.HIGH
    start_after = None
    if token:
        position = cursor.decode(token, account_id, route, filters.as_dict())
        start_after = str(position.get("s", ""))
        if not start_after.startswith(keys.ACTIVITY):
            raise cursor.InvalidCursor("cursor is malformed")
    wanted = {"task_id": filters.task_id, "execution_id": filters.execution_id,
              "direction": filters.direction, "reason_code": filters.reason_code}
    taken: list[tuple[str, ActivityItem]] = []
    items: Iterator[dict[str, Any]] = reads.activity_items(
        account_id, low, high, start_after, {k: v for k, v in wanted.items() if v is not None}, first=limit + 1)
    for item in items:
        if _activity_matches(item, filters):
            taken.append((item["sk"], _activity_view(item)))
        if len(taken) > limit:
            break
    page, has_more = taken[:limit], len(taken) > limit
    next_cursor = cursor.encode(account_id, route, filters.as_dict(), {"s": page[-1][0]}) if has_more else None
    return ActivityPage(data=[view for _, view in page], has_more=has_more, next_cursor=next_cursor)


# -- spend summaries -------------------------------------------------------------------------------
def _spend(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "execution_id": item.get("execution_id"), "task_id": item.get("task_id"),
        "total_debited": fmt(_d(item.get("total_debited"))), "total_refunded": fmt(_d(item.get("total_refunded"))),
        "net": fmt(_d(item.get("net"))), "by_action_type": _amounts(item.get("by_action_type")),
        "by_reason_code": _amounts(item.get("by_reason_code")), "first_at": item.get("first_at"),
        "last_at": item.get("last_at"), "event_count": int(item.get("event_count") or 0),
    }


def execution_spend(account_id: str, execution_id: str) -> SpendSummary:
    item = reads.account_item(account_id, keys.execution_sk(execution_id))
    if item is None:
        raise NotFound(f"no usage recorded for execution {execution_id}")
    return SpendSummary(**_spend(item))


def task_spend(account_id: str, task_id: str) -> TaskSpendSummary:
    item = reads.account_item(account_id, keys.task_sk(task_id))
    if item is None:
        raise NotFound(f"no usage recorded for task {task_id}")
    return TaskSpendSummary(**_spend(item), execution_count=int(item.get("execution_count") or 0))


# -- statements ------------------------------------------------------------------------------------
def statement(account_id: str, month: str, now: Clock = utcnow) -> MonthlyStatement:
    """One GetItem of the month; a month without lines carries the previous closing balance over."""
    current = month_of(now())
    if month > current:
        raise ValidationFailed(f"month {month} is in the future")
    item = reads.account_item(account_id, keys.month_sk(month))
    if item is None:
        previous = reads.statement_before(account_id, month)
        closing = _d(previous.get("closing_balance")) if previous else ZERO
        by_bucket = dict((previous or {}).get("closing_by_bucket") or {})
        item = {"opening_balance": closing, "closing_balance": closing, "opening_by_bucket": by_bucket,
                "closing_by_bucket": by_bucket, "total_credits": ZERO, "total_debits": ZERO}
    opening_b, closing_b = item.get("opening_by_bucket") or {}, item.get("closing_by_bucket") or {}
    credits_b, debits_b = item.get("credits_by_bucket") or {}, item.get("debits_by_bucket") or {}
    return MonthlyStatement(
        month=month, month_to_date=month == current,
        opening_balance=fmt(_d(item.get("opening_balance"))), total_credits=fmt(_d(item.get("total_credits"))),
        total_debits=fmt(_d(item.get("total_debits"))), closing_balance=fmt(_d(item.get("closing_balance"))),
        credits_by_bucket=_amounts(credits_b), debits_by_bucket=_amounts(debits_b),
        credits_by_reason=_amounts(item.get("credits_by_reason")),
        debits_by_reason=_amounts(item.get("debits_by_reason")),
        buckets={b: BucketStatement(opening_balance=fmt(_d(opening_b.get(b))), credits=fmt(_d(credits_b.get(b))),
                                    debits=fmt(_d(debits_b.get(b))), closing_balance=fmt(_d(closing_b.get(b))))
                 for b in ALL_BUCKETS},
    )


# -- plans -----------------------------------------------------------------------------------------
def plan_view(plan: Plan) -> PlanView:
    return PlanView(plan_id=plan.plan_id, name=plan.name, monthly_credits=fmt(plan.monthly_credits),
                    daily_free_credits=fmt(plan.daily_free_credits), price_cents=plan.price_cents,
                    currency=plan.currency)


def plans(ctx: ledger.Context = ledger.DEFAULT) -> PlanList:
    catalogue = ctx.plans()
    ordered = sorted(catalogue.values(), key=lambda p: (p.monthly_credits, p.price_cents, p.plan_id))
    return PlanList(data=[plan_view(p) for p in ordered])


def subscription_of(wallet: Wallet, catalogue: dict[str, Plan]) -> Subscription:
    plan = ledger.plan_of(wallet, catalogue)
    pending_at = None
    if wallet.pending_plan_id:
        pending_at = stamp(refresh.next_month(refresh.month_start(utcnow())))
    return Subscription(account_id=wallet.account_id, plan_id=wallet.plan_id, plan_since=wallet.plan_since,
                        pending_plan_id=wallet.pending_plan_id, pending_effective_at=pending_at,
                        plan=plan_view(plan))


def subscription(account_id: str, ctx: ledger.Context = ledger.DEFAULT) -> Subscription:
    return subscription_of(_wallet(account_id), ctx.plans())


__all__ = ["Filters", "balance", "ledger_page", "activity_page", "execution_spend", "task_spend", "statement",
           "plans", "subscription"]
