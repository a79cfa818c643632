"""Plan selection: what a subscription change does to the monthly plan credits.

The rule (README):
- upgrade (the new plan has more monthly credits): takes effect at once; the account is granted
  the prorated difference of monthly credits for the rest of the current month, as a
  `monthly_plan` lot expiring at the month's end. The grant's entry key is
  `plan:{month}:{plan_id}`, so reaching the same plan twice in a month grants once.
- a plan with the same monthly credits: takes effect at once, nothing granted.
- downgrade (fewer monthly credits): takes effect at the next monthly period. The wallet keeps
  `pending_plan_id`; the month rollover (refresh) switches the plan before granting that month.
  The credits of the current month stay as they are.
- selecting the current plan: nothing changes, except that a pending downgrade is cancelled.
- the daily free allowance follows the plan in effect from the next day's grant on.
Every change is a `plan_change` ledger entry (with the grant's lines, or none) and an activity item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from billing import keys, ledger, store
from billing.clock import month_of, next_stamp, stamp
from billing.errors import NotFound
from billing.money import ZERO, quantize
from billing.plans import Plan
from billing.refresh import month_start, next_month
from billing.wallet import MONTHLY_PLAN, Journal, Wallet, lot_id_for

_US = timedelta(microseconds=1)


class PlanNotFound(NotFound):
    code = "plan_not_found"


@dataclass
class Selection:
    change: str  # unchanged | upgrade | switch | downgrade_scheduled | pending_cancelled
    previous_plan_id: str
    effective_at: str
    granted: Decimal = ZERO
    lot_id: str | None = None
    wallet: Wallet | None = None


def prorated(difference: Decimal, now: datetime) -> Decimal:
    """`difference` x the part of the current month still to come (to the microsecond)."""
    start, end = month_start(now), next_month(month_start(now))
    left = Decimal((end - now) // _US) / Decimal((end - start) // _US)
    return quantize(difference * left)


def select(account_id: str, plan_id: str, ctx: ledger.Context = ledger.DEFAULT) -> Selection:
    catalogue = ctx.plans()
    if plan_id not in catalogue:
        raise PlanNotFound(f"no plan {plan_id!r}", plan_id=plan_id)
    target = catalogue[plan_id]
    result: Selection | None = None

    def build(journal: Journal, wallet: Wallet) -> list[dict[str, Any]]:
        nonlocal result
        result = _apply(journal, wallet, target, ledger.plan_of(wallet, catalogue))
        return []

    wallet = ledger.write_account(account_id, build, ctx)
    assert result is not None
    result.wallet = wallet
    return result


def _record(journal: Journal, plan_id: str, previous: str, month: str, note: str) -> None:
    """A plan_change entry without lines; keyed on its own recorded_at (strictly increasing per account)."""
    key = f"plan:{next_stamp(journal.now, journal.wallet.last_recorded_at)}:{plan_id}"
    journal.open(key, "plan_change", plan_id=plan_id, previous_plan_id=previous, period=month, note=note)


def _apply(journal: Journal, wallet: Wallet, target: Plan, current: Plan) -> Selection:
    now = journal.now
    now_stamp = stamp(now)
    month = month_of(now)
    previous = wallet.plan_id
    if target.plan_id == wallet.plan_id:
        if not wallet.pending_plan_id:
            return Selection("unchanged", previous, wallet.plan_since or now_stamp)
        wallet.pending_plan_id = None
        _record(journal, target.plan_id, previous, month, "pending change cancelled")
        return Selection("pending_cancelled", previous, wallet.plan_since or now_stamp)

    if target.monthly_credits < current.monthly_credits:
        wallet.pending_plan_id = target.plan_id
        effective = stamp(next_month(month_start(now)))
        _record(journal, target.plan_id, previous, month, f"downgrade effective {effective}")
        return Selection("downgrade_scheduled", previous, effective)

    wallet.plan_id, wallet.plan_since, wallet.pending_plan_id = target.plan_id, now_stamp, None
    amount = prorated(target.monthly_credits - current.monthly_credits, now)
    grant_key = f"plan:{month}:{target.plan_id}"
    already = store.get_item(keys.account_pk(wallet.account_id), keys.entry_sk(grant_key)) is not None
    if amount <= 0 or already:
        change = "upgrade" if target.monthly_credits > current.monthly_credits else "switch"
        _record(journal, target.plan_id, previous, month, change)
        return Selection(change, previous, now_stamp)
    expires = stamp(next_month(month_start(now)))
    entry = journal.open(grant_key, "plan_change", plan_id=target.plan_id, previous_plan_id=previous, period=month,
                         bucket=MONTHLY_PLAN, expires_at=expires, note="upgrade")
    lot = journal.grant(entry, MONTHLY_PLAN, amount, expires, lot_id=lot_id_for(wallet.account_id, grant_key))
    return Selection("upgrade", previous, now_stamp, granted=amount, lot_id=lot.lot_id)
