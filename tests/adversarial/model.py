"""A pure in-memory reference model of one account's wallet, written from the contract and the design notes.

It shares no code with billing.wallet / billing.refresh: lots, buckets, overage, expiry, period grants,
rollover, plan changes, pricing and refunds are re-derived here, so the state machine can compare the
two after every step. Lots are named by the key of the entry that created them (their `source`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
BURN_BUCKET_ORDER = ("daily_free", "promotional", "monthly_plan")
FAR = datetime(9999, 12, 31, tzinfo=UTC)
DAYS_LOOKED_BACK = 7
MONTHS_LOOKED_BACK = 2


def q(amount: Decimal) -> Decimal:
    value = Decimal(amount).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
    return value if value != 0 else ZERO


def day_start(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(t: datetime) -> datetime:
    return day_start(t).replace(day=1)


def add_month(m: datetime) -> datetime:
    return m.replace(year=m.year + 1, month=1) if m.month == 12 else m.replace(month=m.month + 1)


def sub_month(m: datetime) -> datetime:
    return m.replace(year=m.year - 1, month=12) if m.month == 1 else m.replace(month=m.month - 1)


@dataclass(frozen=True)
class ModelPlan:
    plan_id: str
    monthly: Decimal
    daily: Decimal
    rollover: tuple[Decimal, Decimal] | None = None  # (min, max) when enabled


@dataclass(frozen=True)
class ModelRate:
    unit: str  # url | call
    rate: Decimal
    retry_rate: Decimal


@dataclass
class MLot:
    source: str
    bucket: str
    granted: Decimal
    remaining: Decimal
    expires: datetime | None
    seq: int

    def burn_key(self) -> tuple:
        return (self.expires or FAR, BURN_BUCKET_ORDER.index(self.bucket), self.seq)


@dataclass(frozen=True)
class MLine:
    direction: str
    amount: Decimal
    reason: str
    bucket: str
    lot: str | None  # source of the lot
    balance_after: Decimal

    @property
    def signed(self) -> Decimal:
        return self.amount if self.direction == "credit" else -self.amount


@dataclass
class MEntry:
    key: str
    kind: str
    lines: list[MLine] = field(default_factory=list)


@dataclass
class WalletModel:
    account_id: str
    created: datetime
    plan_id: str
    plans: dict[str, ModelPlan]
    rates: dict[str, ModelRate]
    preview_quota: Decimal
    lots: dict[str, MLot] = field(default_factory=dict)
    overage: Decimal = ZERO
    entries: list[MEntry] = field(default_factory=list)
    last_day: datetime | None = None
    last_month: datetime | None = None
    pending: str | None = None
    preview_day: str | None = None
    preview_used: Decimal = ZERO
    usage_lines: dict[str, list[MLine]] = field(default_factory=dict)  # usage event_id -> its debit lines
    contents: dict[str, str] = field(default_factory=dict)  # event_id -> kind applied
    refunded: set[str] = field(default_factory=set)
    seq: int = 0

    # -- balances ---------------------------------------------------------------------
    def available(self, bucket: str | None = None) -> Decimal:
        return q(sum((lot.remaining for lot in self.lots.values() if bucket in (None, lot.bucket)), ZERO))

    def net(self) -> Decimal:
        return q(self.available() - self.overage)

    def buckets(self) -> dict[str, Decimal]:
        out = {b: self.available(b) for b in BURN_BUCKET_ORDER}
        out["overage"] = q(-self.overage)
        return out

    def projected(self, now: datetime) -> WalletModel:
        twin = copy.deepcopy(self)
        twin.bring_up_to_date(now)
        return twin

    # -- lines ------------------------------------------------------------------------
    def _open(self, key: str, kind: str) -> MEntry:
        entry = MEntry(key, kind)
        self.entries.append(entry)
        return entry

    def _line(self, entry: MEntry, direction: str, amount: Decimal, reason: str, bucket: str,
              lot: str | None, balance_after: Decimal | None = None) -> MLine:
        line = MLine(direction, q(amount), reason, bucket, lot, self.net() if balance_after is None else balance_after)
        entry.lines.append(line)
        return line

    def _new_lot(self, source: str, bucket: str, amount: Decimal, expires: datetime | None) -> MLot:
        self.seq += 1
        lot = MLot(source, bucket, q(amount), q(amount), expires, self.seq)
        self.lots[source] = lot
        return lot

    def _settle(self, entry: MEntry, lot: MLot) -> None:
        paid = min(self.overage, lot.remaining)
        if paid <= 0:
            return
        lot.remaining = q(lot.remaining - paid)
        self._line(entry, "debit", paid, "overage.settled", lot.bucket, lot.source)
        self.overage = q(self.overage - paid)
        self._line(entry, "credit", paid, "overage.settled", "overage", None)

    def _grant(self, entry: MEntry, bucket: str, amount: Decimal, expires: datetime | None, reason: str) -> None:
        lot = self._new_lot(entry.key, bucket, amount, expires)
        self._line(entry, "credit", amount, reason, bucket, lot.source)
        self._settle(entry, lot)

    def _debit(self, entry: MEntry, amount: Decimal, reason: str) -> None:
        left = q(amount)
        for lot in sorted(self.lots.values(), key=MLot.burn_key):
            if left <= 0:
                break
            take = min(lot.remaining, left)
            if take <= 0:
                continue
            lot.remaining, left = q(lot.remaining - take), q(left - take)
            self._line(entry, "debit", take, reason, lot.bucket, lot.source)
        if left > 0:
            self.overage = q(self.overage + left)
            self._line(entry, "debit", left, reason, "overage", None)

    def _expire(self, until: datetime) -> None:
        for lot in sorted((lot for lot in self.lots.values() if lot.expires and lot.expires <= until),
                          key=MLot.burn_key):
            del self.lots[lot.source]
            if lot.remaining > 0:
                entry = self._open(f"exp:{lot.source}", "expiry")
                amount, lot.remaining = lot.remaining, ZERO
                self._line(entry, "debit", amount, "expiry", lot.bucket, lot.source)

    # -- period grants ----------------------------------------------------------------
    def bring_up_to_date(self, now: datetime) -> None:
        today = day_start(now)
        first_day = max(today - timedelta(days=DAYS_LOOKED_BACK - 1), day_start(self.created))
        if self.last_day is not None:
            first_day = max(first_day, self.last_day + timedelta(days=1))
        this_month = month_start(now)
        first_month = max(sub_month(this_month) if MONTHS_LOOKED_BACK == 2 else this_month, month_start(self.created))
        if self.last_month is not None:
            first_month = max(first_month, add_month(self.last_month))
        starts: dict[datetime, dict[str, datetime]] = {}
        day = first_day
        while day <= today:
            starts.setdefault(max(day, self.created), {})["day"] = day
            day += timedelta(days=1)
        month = first_month
        while month <= this_month:
            starts.setdefault(max(month, self.created), {})["month"] = month
            month = add_month(month)
        plan = self.plans[self.plan_id]
        for at in sorted(s for s in starts if s <= now):
            what = starts[at]
            carried = ZERO
            left = q(sum((lot.remaining for lot in self.lots.values()
                          if lot.bucket == "monthly_plan" and lot.expires == at), ZERO)) if "month" in what else ZERO
            self._expire(at)
            if "month" in what:
                m = what["month"]
                if self.last_month == sub_month(m) and plan.rollover:
                    low, high = plan.rollover
                    carried = q(max(ZERO, min(high, max(left, low))))
                if self.pending and self.pending in self.plans:
                    self._open(f"plan:{self.pending}:{m:%Y-%m}", "plan_change")
                    self.plan_id, self.pending = self.pending, None
                    plan = self.plans[self.plan_id]
            if "day" in what:
                d = what["day"]
                self.last_day = d
                if plan.daily > 0:
                    entry = self._open(f"grant:daily_free:{d:%Y-%m-%d}", "grant")
                    self._grant(entry, "daily_free", plan.daily, d + timedelta(days=1), "grant.daily_free")
            if "month" in what:
                m = what["month"]
                self.last_month = m
                if carried > 0:
                    entry = self._open(f"grant:rollover:{m:%Y-%m}", "grant")
                    self._grant(entry, "monthly_plan", carried, add_month(m), "grant.monthly_plan")
                if plan.monthly > 0:
                    entry = self._open(f"grant:monthly_plan:{m:%Y-%m}", "grant")
                    self._grant(entry, "monthly_plan", plan.monthly, add_month(m), "grant.monthly_plan")
        self._expire(now)

    # -- operations (each is called after bring_up_to_date, as the engine does) --------
    def usage(self, event_id: str, action: str, urls: int, attempt: int, preview: bool, now: datetime) -> Decimal:
        rate = self.rates[action]
        units = urls if rate.unit == "url" else 1
        gross = q((rate.retry_rate if attempt >= 2 else rate.rate) * units)
        today = f"{now.astimezone(UTC):%Y-%m-%d}"
        if self.preview_day != today:
            self.preview_day, self.preview_used = today, ZERO
        free = max(ZERO, min(gross, self.preview_quota - self.preview_used)) if preview else ZERO
        self.preview_used = q(self.preview_used + free)
        entry = self._open(f"evt:{event_id}", "usage")
        self._debit(entry, q(gross - free), f"usage.{action}")
        self.usage_lines[event_id] = list(entry.lines)
        self.contents[event_id] = "usage"
        return q(gross - free)

    def refund(self, event_id: str, refund_of: str) -> None:
        entry = self._open(f"evt:{event_id}", "refund")
        self.contents[event_id] = "refund"
        if refund_of in self.refunded:
            return  # a second refund of the same usage returns nothing
        self.refunded.add(refund_of)
        for source in self.usage_lines[refund_of]:
            amount = source.amount
            if source.bucket == "overage":
                back = min(self.overage, amount)
                if back > 0:
                    self.overage = q(self.overage - back)
                    self._line(entry, "credit", back, "refund", "overage", None)
                rest = q(amount - back)
                if rest > 0:  # the overage was paid off by a grant since: it comes back as credits
                    lot = self._new_lot(entry.key, "promotional", rest, None)
                    self._line(entry, "credit", rest, "refund", "promotional", lot.source)
                continue
            lot = self.lots.get(source.lot or "")
            if lot is not None:
                lot.remaining = q(lot.remaining + amount)
                self._line(entry, "credit", amount, "refund", lot.bucket, lot.source)
                self._settle(entry, lot)
            else:  # its lot expired since: credited and expired again at once
                self._line(entry, "credit", amount, "refund", source.bucket, source.lot, q(self.net() + amount))
                self._line(entry, "debit", amount, "expiry", source.bucket, source.lot)

    def promotional(self, key: str, amount: Decimal, expires: datetime | None) -> None:
        entry = self._open(f"promo:{key}", "grant")
        self._grant(entry, "promotional", amount, expires, "grant.promotional")

    def select_plan(self, plan_id: str, now: datetime) -> str:
        target, current = self.plans[plan_id], self.plans[self.plan_id]
        if plan_id == self.plan_id:
            if not self.pending:
                return "unchanged"
            self.pending = None
            self._open(f"plan:@:{plan_id}", "plan_change")
            return "pending_cancelled"
        if target.monthly < current.monthly:
            self.pending = plan_id
            self._open(f"plan:@:{plan_id}", "plan_change")
            return "downgrade_scheduled"
        self.plan_id, self.pending = plan_id, None
        start, end = month_start(now), add_month(month_start(now))
        us = timedelta(microseconds=1)
        amount = q((target.monthly - current.monthly) * Decimal((end - now) // us) / Decimal((end - start) // us))
        key = f"plan:{now:%Y-%m}:{plan_id}"
        change = "upgrade" if target.monthly > current.monthly else "switch"
        if amount <= 0 or any(e.key == key for e in self.entries):
            self._open(f"plan:@:{plan_id}", "plan_change")
            return change
        entry = self._open(key, "plan_change")
        self._grant(entry, "monthly_plan", amount, end, "grant.monthly_plan")
        return "upgrade"
