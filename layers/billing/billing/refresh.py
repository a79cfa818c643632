"""Period refresh: the daily free allowance and the monthly plan credits, keyed on their period.

`apply_due` is pure: it brings a wallet up to `now` inside a Journal. Every writer of an account
calls it first (lazy refresh), readers project it without writing, and the scheduled job calls it
for every account with `now` = the schedule's scheduled time, so correctness never depends on the
schedule being on time. Each grant's entry key names its period (`grant:daily_free:2026-12-04`),
entries are put with attribute_not_exists and the wallet version serialises writers: a period is
granted once however often, late or half-way the job runs.

What happens at each period start `at`, in this order (recorded_at strictly increases per account,
so simultaneous effects sit microseconds apart in this order):
1. every lot whose expiry time is <= `at` expires, each with an `expiry` line at its exact time;
2. at a month start, a downgrade left pending by a plan change takes effect (`plan_change` entry);
3. the daily grant (it expires first, so it is the one that pays overage off first);
4. at a month start, the rollover of the previous period's monthly credits, then the monthly grant.

Catch-up look-back: the day containing `now` and the CATCHUP_DAYS - 1 days before it, and the
month containing `now` and the CATCHUP_MONTHS - 1 months before it; never before the account was
created, never a period already granted (`wallet.periods`). Older missed periods are not granted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.clock import parse, stamp
from billing.money import ZERO, quantize
from billing.plans import Plan
from billing.wallet import DAILY_FREE, MONTHLY_PLAN, Journal, Wallet, lot_id_for

CATCHUP_DAYS = 7  # daily periods looked back, today included (docs/REFRESH.md)
CATCHUP_MONTHS = 2  # monthly periods looked back, this month included: a missed month still rolls over


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(moment: datetime) -> datetime:
    return day_start(moment).replace(day=1)


def next_month(start: datetime) -> datetime:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def prev_month(start: datetime) -> datetime:
    return (start.replace(day=1) - timedelta(days=1)).replace(day=1)


def day_period(start: datetime) -> str:
    return start.strftime("%Y-%m-%d")


def month_period(start: datetime) -> str:
    return start.strftime("%Y-%m")


def daily_periods(last_granted: str | None, now: datetime, created: datetime) -> list[datetime]:
    """Start of every day still to grant: inside the look-back, not before creation, after the last grant."""
    today = day_start(now)
    first = max(today - timedelta(days=CATCHUP_DAYS - 1), day_start(created))
    if last_granted:
        first = max(first, datetime.strptime(last_granted, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1))
    days, day = [], first
    while day <= today:
        days.append(day)
        day += timedelta(days=1)
    return days


def monthly_periods(last_granted: str | None, now: datetime, created: datetime) -> list[datetime]:
    """Start of every month still to grant, with the same bounds as daily_periods."""
    current = month_start(now)
    first = current
    for _ in range(CATCHUP_MONTHS - 1):
        first = prev_month(first)
    first = max(first, month_start(created))
    if last_granted:
        first = max(first, next_month(datetime.strptime(last_granted, "%Y-%m").replace(tzinfo=UTC)))
    months, month = [], first
    while month <= current:
        months.append(month)
        month = next_month(month)
    return months


@dataclass
class _Start:
    """What begins at one instant: a daily period, a monthly period, or both (the 1st of a month)."""

    at: datetime
    day: datetime | None = None
    month: datetime | None = None


def _schedule(wallet: Wallet, now: datetime) -> list[_Start]:
    created = parse(wallet.created_at)
    starts: dict[datetime, _Start] = {}
    for day in daily_periods(wallet.periods.get(DAILY_FREE), now, created):
        at = max(day, created)  # an account created mid-day gets its first grant at creation
        starts.setdefault(at, _Start(at)).day = day
    for month in monthly_periods(wallet.periods.get(MONTHLY_PLAN), now, created):
        at = max(month, created)
        starts.setdefault(at, _Start(at)).month = month
    return [starts[at] for at in sorted(starts) if at <= now]


def apply_due(journal: Journal, plan: Plan, now: datetime, plans: Mapping[str, Plan]) -> None:
    """Expire what is due and grant every period that has started and was not granted yet.

    `plans` is the catalogue, needed to apply a pending downgrade at a month start.
    """
    wallet = journal.wallet
    for start in _schedule(wallet, now):
        at = start.at
        left = _monthly_left(wallet, at) if start.month is not None else ZERO
        journal.expire_due(at)  # first: what ended at or before this instant, at its own time
        carried = ZERO
        if start.month is not None:
            if _had_previous_month(wallet, start.month):
                carried = rollover_amount(plan, left)  # the policy of the plan whose period ended
            plan = _apply_pending_plan(journal, plan, start.month, plans)
        if start.day is not None:
            wallet.periods[DAILY_FREE] = day_period(start.day)
            _grant(journal, plan, DAILY_FREE, day_period(start.day), plan.daily_free_credits, at,
                   start.day + timedelta(days=1))
        if start.month is not None:
            period = month_period(start.month)
            wallet.periods[MONTHLY_PLAN] = period
            if carried > 0:
                _grant(journal, plan, MONTHLY_PLAN, period, carried, at, next_month(start.month),
                       key=f"grant:rollover:{period}", note="rollover", rollover_from=left)
            _grant(journal, plan, MONTHLY_PLAN, period, plan.monthly_credits, at, next_month(start.month))
    journal.expire_due(now)


def rollover_amount(plan: Plan, left: Decimal) -> Decimal:
    """Balance carried into the next period: min(max_rollover, max(left, min_rollover)); 0 without rollover."""
    if not plan.rollover.enabled:
        return ZERO
    return quantize(max(ZERO, min(plan.rollover.max_rollover, max(left, plan.rollover.min_rollover))))


def _monthly_left(wallet: Wallet, at: datetime) -> Decimal:
    """What is left of the monthly credits (grant and rollover lots) whose period ends at `at`."""
    return quantize(sum((lot.remaining for lot in wallet.lots.values()
                         if lot.bucket == MONTHLY_PLAN and lot.expires_at and parse(lot.expires_at) == at), ZERO))


def _had_previous_month(wallet: Wallet, month: datetime) -> bool:
    """Rollover needs a previous period: not for a new account, nor after a gap beyond the look-back."""
    return wallet.periods.get(MONTHLY_PLAN) == month_period(prev_month(month))


def _apply_pending_plan(journal: Journal, plan: Plan, month: datetime,
                        plans: Mapping[str, Plan]) -> Plan:
    """A downgrade chosen during a period takes effect at the next month start, before its grants."""
    wallet = journal.wallet
    pending = wallet.pending_plan_id
    if not pending or month_period(month) == wallet.periods.get(MONTHLY_PLAN):
        return plan
    new_plan = plans.get(pending)
    if new_plan is None:  # an unknown plan is never applied; the subscription stays as it is
        return plan
    previous = wallet.plan_id
    period = month_period(month)
    journal.open(f"plan:{pending}:{period}", "plan_change", occurred_at=stamp(month), at=month,
                 plan_id=pending, previous_plan_id=previous, period=period, note="pending downgrade applied")
    wallet.plan_id, wallet.pending_plan_id, wallet.plan_since = pending, None, stamp(month)
    return new_plan


def _grant(journal: Journal, plan: Plan, bucket: str, period: str, amount: Decimal, at: datetime,
           expires: datetime, key: str | None = None, **attrs: object) -> None:
    if amount <= 0:
        return
    key = key or f"grant:{bucket}:{period}"
    entry = journal.open(key, "grant", occurred_at=stamp(at), at=at, period=period, bucket=bucket,
                         expires_at=stamp(expires), plan_id=plan.plan_id, **attrs)
    journal.grant(entry, bucket, amount, stamp(expires), lot_id=lot_id_for(journal.wallet.account_id, key))


__all__ = ["CATCHUP_DAYS", "CATCHUP_MONTHS", "apply_due", "rollover_amount", "daily_periods", "monthly_periods"]
