"""The wallet and its journal: pure burn-down, grants, refunds and expiry (no I/O here).

Every change to a wallet goes through a Journal, which turns it into ledger lines: one line per
lot touched, each with the account's net balance after it. The ledger engine persists the
journal's entries together with the new wallet in one transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.clock import next_stamp, parse
from billing.money import ZERO, quantize

DAILY_FREE, PROMOTIONAL, MONTHLY_PLAN, OVERAGE = "daily_free", "promotional", "monthly_plan", "overage"
LOT_BUCKETS = (DAILY_FREE, PROMOTIONAL, MONTHLY_PLAN)  # also the burn-down tie order
ALL_BUCKETS = (*LOT_BUCKETS, OVERAGE)
GRANT_REASON = {DAILY_FREE: "grant.daily_free", MONTHLY_PLAN: "grant.monthly_plan", PROMOTIONAL: "grant.promotional"}
NEVER = "9999-12-31T23:59:59.999999Z"


@dataclass
class Lot:
    lot_id: str
    bucket: str
    granted: Decimal
    remaining: Decimal
    granted_at: str
    expires_at: str | None
    source: str

    def burn_order(self) -> tuple[str, int, str, str]:
        return (self.expires_at or NEVER, LOT_BUCKETS.index(self.bucket), self.granted_at, self.lot_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lot_id": self.lot_id, "bucket": self.bucket, "granted": self.granted, "remaining": self.remaining,
            "granted_at": self.granted_at, "expires_at": self.expires_at, "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lot:
        return cls(
            lot_id=data["lot_id"], bucket=data["bucket"], granted=Decimal(data["granted"]),
            remaining=Decimal(data["remaining"]), granted_at=data["granted_at"],
            expires_at=data.get("expires_at"), source=data.get("source", ""),
        )


@dataclass
class Wallet:
    account_id: str
    created_at: str
    plan_id: str
    version: int = 0
    lots: dict[str, Lot] = field(default_factory=dict)
    overage: Decimal = ZERO
    last_recorded_at: str | None = None
    plan_since: str | None = None
    pending_plan_id: str | None = None
    periods: dict[str, str] = field(default_factory=dict)  # bucket -> last period granted
    preview_day: str | None = None
    preview_used: Decimal = ZERO

    def available(self, bucket: str | None = None) -> Decimal:
        return sum((lot.remaining for lot in self.lots.values() if bucket in (None, lot.bucket)), ZERO)

    def net(self) -> Decimal:
        return quantize(self.available() - self.overage)

    def bucket_balances(self) -> dict[str, Decimal]:
        """Net balance per bucket; overage is a negative position."""
        balances = {bucket: self.available(bucket) for bucket in LOT_BUCKETS}
        balances[OVERAGE] = -self.overage
        return balances

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id, "created_at": self.created_at, "plan_id": self.plan_id,
            "version": self.version, "lots": {k: v.to_dict() for k, v in self.lots.items()},
            "overage": self.overage, "last_recorded_at": self.last_recorded_at, "plan_since": self.plan_since,
            "pending_plan_id": self.pending_plan_id, "periods": dict(self.periods),
            "preview_day": self.preview_day, "preview_used": self.preview_used,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Wallet:
        return cls(
            account_id=data["account_id"], created_at=data["created_at"], plan_id=data["plan_id"],
            version=int(data.get("version", 0)),
            lots={k: Lot.from_dict(v) for k, v in (data.get("lots") or {}).items()},
            overage=Decimal(data.get("overage", 0)), last_recorded_at=data.get("last_recorded_at"),
            plan_since=data.get("plan_since"), pending_plan_id=data.get("pending_plan_id"),
            periods=dict(data.get("periods") or {}), preview_day=data.get("preview_day"),
            preview_used=Decimal(data.get("preview_used", 0)),
        )


@dataclass
class Line:
    id: str
    direction: str  # "debit" | "credit"
    amount: Decimal  # always positive
    reason_code: str
    bucket: str
    lot_id: str | None
    balance_after: Decimal

    @property
    def signed(self) -> Decimal:
        return self.amount if self.direction == "credit" else -self.amount

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "direction": self.direction, "amount": self.amount, "reason_code": self.reason_code,
            "bucket": self.bucket, "lot_id": self.lot_id, "balance_after": self.balance_after,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Line:
        return cls(
            id=data["id"], direction=data["direction"], amount=Decimal(data["amount"]),
            reason_code=data["reason_code"], bucket=data["bucket"], lot_id=data.get("lot_id"),
            balance_after=Decimal(data["balance_after"]),
        )


@dataclass
class Entry:
    """One idempotent effect on an account (an event, a grant, an expiry): its key and its lines."""

    key: str
    entry_id: str
    kind: str
    recorded_at: str
    occurred_at: str
    lines: list[Line] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    def debited(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.direction == "debit"), ZERO)


def lot_id_for(account_id: str, source_key: str) -> str:
    """Deterministic, so an idempotent replay of a grant reports the same lot."""
    return "lot_" + hashlib.sha256(f"{account_id}|{source_key}".encode()).hexdigest()[:20]


class Journal:
    """Applies changes to a wallet and records them as entries with ledger lines."""

    def __init__(self, wallet: Wallet, now: datetime) -> None:
        self.wallet = wallet
        self.now = now
        self.entries: list[Entry] = []

    # -- entries and lines -------------------------------------------------------------
    def open(self, key: str, kind: str, occurred_at: str | None = None, at: datetime | None = None,
             **attrs: Any) -> Entry:
        recorded = next_stamp(at or self.now, self.wallet.last_recorded_at)
        self.wallet.last_recorded_at = recorded
        entry = Entry(
            key=key, entry_id=f"en_{self.wallet.version + 1:010d}_{len(self.entries):03d}", kind=kind,
            recorded_at=recorded, occurred_at=occurred_at or recorded, attrs=attrs,
        )
        self.entries.append(entry)
        return entry

    def _line(self, entry: Entry, direction: str, amount: Decimal, reason: str, bucket: str,
              lot_id: str | None) -> Line:
        line = Line(
            id=f"{entry.entry_id}.{len(entry.lines)}", direction=direction, amount=quantize(amount),
            reason_code=reason, bucket=bucket, lot_id=lot_id, balance_after=self.wallet.net(),
        )
        entry.lines.append(line)
        return line

    # -- operations ----------------------------------------------------------------------
    def debit(self, entry: Entry, amount: Decimal, reason: str) -> None:
        """Burn lots soonest-expiring first; what no lot covers becomes overage."""
        left = quantize(amount)
        for lot in sorted(self.wallet.lots.values(), key=Lot.burn_order):
            if left <= 0:
                break
            take = min(lot.remaining, left)
            if take <= 0:
                continue
            lot.remaining = quantize(lot.remaining - take)
            left = quantize(left - take)
            self._line(entry, "debit", take, reason, lot.bucket, lot.lot_id)
        if left > 0:
            self.wallet.overage = quantize(self.wallet.overage + left)
            self._line(entry, "debit", left, reason, OVERAGE, None)

    def grant(self, entry: Entry, bucket: str, amount: Decimal, expires_at: str | None,
              lot_id: str | None = None, reason: str | None = None) -> Lot:
        """Create a lot, then pay any overage off from it first (a pair of overage.settled lines)."""
        lot = Lot(
            lot_id=lot_id or lot_id_for(self.wallet.account_id, entry.key), bucket=bucket,
            granted=quantize(amount), remaining=quantize(amount), granted_at=entry.recorded_at,
            expires_at=expires_at, source=entry.key,
        )
        self.wallet.lots[lot.lot_id] = lot
        self._line(entry, "credit", amount, reason or GRANT_REASON[bucket], bucket, lot.lot_id)
        self.settle_overage(entry, lot)
        return lot

    def settle_overage(self, entry: Entry, lot: Lot) -> None:
        settle = min(self.wallet.overage, lot.remaining)
        if settle <= 0:
            return
        lot.remaining = quantize(lot.remaining - settle)
        self._line(entry, "debit", settle, "overage.settled", lot.bucket, lot.lot_id)
        self.wallet.overage = quantize(self.wallet.overage - settle)
        self._line(entry, "credit", settle, "overage.settled", OVERAGE, None)

    def expire_due(self, until: datetime) -> None:
        """Every lot whose expiry time has passed gets an `expiry` line at that exact time."""
        due = sorted(
            (lot for lot in self.wallet.lots.values() if lot.expires_at and parse(lot.expires_at) <= until),
            key=Lot.burn_order,
        )
        for lot in due:
            del self.wallet.lots[lot.lot_id]
            if lot.remaining <= 0:
                continue
            at = parse(lot.expires_at)  # type: ignore[arg-type]
            entry = self.open(f"exp:{lot.lot_id}", "expiry", occurred_at=lot.expires_at, at=at,
                              lot_id=lot.lot_id, bucket=lot.bucket)
            amount, lot.remaining = lot.remaining, ZERO
            self._line(entry, "debit", amount, "expiry", lot.bucket, lot.lot_id)

    def refund(self, entry: Entry, charged: list[Line]) -> Decimal:
        """Return what a usage entry was charged to the lots it came from; expired lots expire again."""
        total = ZERO
        for source in charged:
            if source.direction != "debit" or not source.reason_code.startswith("usage."):
                continue
            amount = source.amount
            total += amount
            if source.bucket == OVERAGE:
                back = min(self.wallet.overage, amount)
                if back > 0:
                    self.wallet.overage = quantize(self.wallet.overage - back)
                    self._line(entry, "credit", back, "refund", OVERAGE, None)
                rest = quantize(amount - back)
                if rest > 0:  # the overage was already settled by a grant: give it back as a credit lot
                    lot = Lot(
                        lot_id=lot_id_for(self.wallet.account_id, f"{entry.key}#{source.id}"), bucket=PROMOTIONAL,
                        granted=rest, remaining=rest, granted_at=entry.recorded_at, expires_at=None, source=entry.key,
                    )
                    self.wallet.lots[lot.lot_id] = lot
                    self._line(entry, "credit", rest, "refund", PROMOTIONAL, lot.lot_id)
                continue
            lot = self.wallet.lots.get(source.lot_id or "")
            if lot is not None:
                lot.remaining = quantize(lot.remaining + amount)
                self._line(entry, "credit", amount, "refund", lot.bucket, lot.lot_id)
                self.settle_overage(entry, lot)
            else:  # the lot has expired since: the credit expires again at once
                self._credit_and_expire(entry, amount, source)
        return quantize(total)

    def _credit_and_expire(self, entry: Entry, amount: Decimal, source: Line) -> None:
        line = Line(
            id=f"{entry.entry_id}.{len(entry.lines)}", direction="credit", amount=amount, reason_code="refund",
            bucket=source.bucket, lot_id=source.lot_id, balance_after=quantize(self.wallet.net() + amount),
        )
        entry.lines.append(line)
        self._line(entry, "debit", amount, "expiry", source.bucket, source.lot_id)


__all__ = ["Wallet", "Lot", "Line", "Entry", "Journal"]
