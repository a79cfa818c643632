"""Fold ledger lines into the items the API reads in one request each.

Spend per execution and per task, statements per month, and the activity feed are put whole in
the same transaction as the lines they sum, so they can never disagree with the ledger.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing import keys
from billing.money import ZERO, quantize
from billing.wallet import ALL_BUCKETS, OVERAGE, Entry

Key = tuple[str, str]

ACTIVITY_TYPE = {
    "grant.daily_free": "refresh",
    "grant.monthly_plan": "refresh",
    "grant.promotional": "grant",
    "rollover": "refresh",
    "expiry": "expiry",
    "refund": "refund",
    "plan_change": "plan_change",
    "adjustment": "adjustment",
}


def _add(mapping: dict[str, Any], key: str, amount: Decimal) -> None:
    mapping[key] = quantize(Decimal(mapping.get(key, 0)) + amount)


def read_keys(account_id: str, entries: list[Entry], months: list[str]) -> list[Key]:
    """The aggregate items these entries will touch (read them before folding)."""
    pk = keys.account_pk(account_id)
    wanted: list[Key] = [(pk, keys.month_sk(m)) for m in months]
    for entry in entries:
        x, t = entry.attrs.get("execution_id"), entry.attrs.get("task_id")
        if x:
            wanted.append((pk, keys.execution_sk(x)))
            wanted.append((pk, keys.usage_activity_sk(entry.recorded_at[:10], x)))
        if t:
            wanted.append((pk, keys.task_sk(t)))
    return wanted


class Folder:
    """Accumulates new aggregate states over a sequence of entries, starting from stored items."""

    def __init__(self, account_id: str, opening: dict[str, Decimal], stored: dict[Key, dict[str, Any]]) -> None:
        self.account_id = account_id
        self.pk = keys.account_pk(account_id)
        self.balances = dict(opening)
        self.stored = stored
        self.changed: dict[Key, dict[str, Any]] = {}

    def _item(self, sk: str, make: Any) -> tuple[dict[str, Any], bool]:
        key = (self.pk, sk)
        if key in self.changed:
            return self.changed[key], False
        existing = self.stored.get(key)
        item = dict(existing) if existing else make()
        self.changed[key] = item
        return item, existing is None

    def fold(self, entry: Entry) -> None:
        self._fold_statement(entry)
        if entry.kind in ("usage", "refund") and entry.attrs.get("execution_id"):
            self._fold_spend(entry)
        else:
            self._fold_activity(entry)

    def items(self) -> list[dict[str, Any]]:
        return list(self.changed.values())

    # -- statements -------------------------------------------------------------------
    def _fold_statement(self, entry: Entry) -> None:
        for line in entry.lines:
            month = line_month(entry)
            item, _ = self._item(keys.month_sk(month), lambda m=month: self._new_month(m))
            bucket_map = "credits_by_bucket" if line.direction == "credit" else "debits_by_bucket"
            reason_map = "credits_by_reason" if line.direction == "credit" else "debits_by_reason"
            total = "total_credits" if line.direction == "credit" else "total_debits"
            _add(item[bucket_map], line.bucket, line.amount)
            _add(item[reason_map], line.reason_code, line.amount)
            item[total] = quantize(item[total] + line.amount)
            self.balances[line.bucket] = quantize(self.balances[line.bucket] + line.signed)
            item["closing_balance"] = quantize(sum(self.balances.values(), ZERO))
            item["closing_by_bucket"] = dict(self.balances)
            item["line_count"] = int(item["line_count"]) + 1
            item["last_recorded_at"] = entry.recorded_at

    def _new_month(self, month: str) -> dict[str, Any]:
        opening = quantize(sum(self.balances.values(), ZERO))
        return {
            "pk": self.pk, "sk": keys.month_sk(month), "kind": "statement", "month": month,
            "opening_balance": opening, "opening_by_bucket": dict(self.balances),
            "credits_by_bucket": {}, "debits_by_bucket": {}, "credits_by_reason": {}, "debits_by_reason": {},
            "total_credits": ZERO, "total_debits": ZERO, "closing_balance": opening,
            "closing_by_bucket": dict(self.balances), "line_count": 0,
        }

    # -- spend summaries and usage activity -------------------------------------------
    def _fold_spend(self, entry: Entry) -> None:
        a = entry.attrs
        execution_id, task_id, action = a["execution_id"], a.get("task_id"), a.get("action_type", "")
        debited = sum((ln.amount for ln in entry.lines
                       if ln.direction == "debit" and ln.reason_code.startswith("usage.")), ZERO)
        refunded = sum((ln.amount for ln in entry.lines
                        if ln.direction == "credit" and ln.reason_code == "refund"), ZERO)
        execution, _ = self._item(
            keys.execution_sk(execution_id), lambda: self._new_spend("execution", execution_id, task_id))
        targets = [execution]
        if task_id:
            task, _ = self._item(keys.task_sk(task_id), lambda: {**self._new_spend("task", None, task_id),
                                                                 "execution_count": 0})
            # an execution counts once per task, even if (against the contract) it reports another task
            tasks_of_execution = set(execution.get("task_ids") or ())
            if task_id not in tasks_of_execution:
                task["execution_count"] = int(task["execution_count"]) + 1
                execution["task_ids"] = tasks_of_execution | {task_id}
            targets.append(task)
        for item in targets:
            item["total_debited"] = quantize(item["total_debited"] + debited)
            item["total_refunded"] = quantize(item["total_refunded"] + refunded)
            item["net"] = quantize(item["total_debited"] - item["total_refunded"])
            if entry.kind == "usage":
                item["event_count"] = int(item["event_count"]) + 1
                _add(item["by_action_type"], action, debited)
            else:
                _add(item["by_action_type"], action, -refunded)
            for line in entry.lines:
                if line.reason_code.startswith("usage.") or line.reason_code == "refund":
                    _add(item["by_reason_code"], line.reason_code, line.amount)
            item["first_at"] = min(item.get("first_at") or entry.occurred_at, entry.occurred_at)
            item["last_at"] = max(item.get("last_at") or entry.occurred_at, entry.occurred_at)
            item["last_recorded_at"] = entry.recorded_at
        if entry.kind == "refund":
            self._fold_activity(entry)
            return
        day = entry.recorded_at[:10]
        group, _ = self._item(keys.usage_activity_sk(day, execution_id), lambda: {
            "pk": self.pk, "sk": keys.usage_activity_sk(day, execution_id), "kind": "activity", "type": "usage",
            "day": day, "execution_id": execution_id, "task_id": task_id, "amount": ZERO, "direction": "debit",
            "event_count": 0, "by_action_type": {}, "first_at": entry.recorded_at,
        })
        group["amount"] = quantize(group["amount"] + debited)
        group["event_count"] = int(group["event_count"]) + 1
        _add(group["by_action_type"], action, debited)
        group["at"] = entry.recorded_at  # the group's latest line
        group["last_at"] = entry.recorded_at

    def _new_spend(self, scope: str, execution_id: str | None, task_id: str | None) -> dict[str, Any]:
        sk = keys.execution_sk(execution_id) if scope == "execution" else keys.task_sk(task_id or "")
        return {
            "pk": self.pk, "sk": sk, "kind": scope, "account_id": self.account_id, "execution_id": execution_id,
            "task_id": task_id, "total_debited": ZERO, "total_refunded": ZERO, "net": ZERO, "event_count": 0,
            "by_action_type": {}, "by_reason_code": {},
        }

    # -- other activity ---------------------------------------------------------------
    def _fold_activity(self, entry: Entry) -> None:
        if not entry.lines and entry.kind != "plan_change":
            return
        main = next((ln for ln in entry.lines if ln.reason_code != "overage.settled"), None)
        reason = main.reason_code if main else entry.kind
        kind = ACTIVITY_TYPE.get(entry.kind) or ACTIVITY_TYPE.get(reason, entry.kind)
        amount = quantize(sum((ln.signed for ln in entry.lines if ln.reason_code == reason), ZERO))
        sk = keys.activity_sk(entry.recorded_at, kind, entry.entry_id)
        self.changed[(self.pk, sk)] = {
            "pk": self.pk, "sk": sk, "kind": "activity", "type": kind, "at": entry.recorded_at,
            "day": entry.recorded_at[:10], "entry_key": entry.key, "entry_id": entry.entry_id,
            "reason_code": reason, "amount": abs(amount), "direction": "credit" if amount >= 0 else "debit",
            "bucket": main.bucket if main else None, "lot_id": main.lot_id if main else None,
            "execution_id": entry.attrs.get("execution_id"), "task_id": entry.attrs.get("task_id"),
            "details": {k: v for k, v in entry.attrs.items()
                        if k in ("plan_id", "previous_plan_id", "refund_of", "period", "expires_at", "note")},
        }
        settled = sum((ln.amount for ln in entry.lines
                       if ln.reason_code == "overage.settled" and ln.bucket == OVERAGE), ZERO)
        if settled > 0:
            sk2 = keys.activity_sk(entry.recorded_at, "overage_settled", entry.entry_id)
            self.changed[(self.pk, sk2)] = {
                "pk": self.pk, "sk": sk2, "kind": "activity", "type": "overage_settled", "at": entry.recorded_at,
                "day": entry.recorded_at[:10], "entry_key": entry.key, "entry_id": entry.entry_id,
                "reason_code": "overage.settled", "amount": quantize(settled), "direction": "credit",
                "bucket": OVERAGE, "details": {},
            }


def line_month(entry: Entry) -> str:
    return entry.recorded_at[:7]


def empty_balances() -> dict[str, Decimal]:
    return dict.fromkeys(ALL_BUCKETS, ZERO)
