"""The ledger invariant as code: re-derive every balance, lot and aggregate from the ledger lines.

For every account: net balance = sum of its lines; each bucket and each lot = sum of its lines;
no lot below zero; every line's balance_after = the running sum; recorded_at strictly increases;
spend aggregates and monthly statements equal the sums of their lines and reconcile.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from billing import aws, keys, store
from billing.money import ZERO, quantize
from billing.wallet import ALL_BUCKETS, OVERAGE, Wallet


def account_items(account_id: str) -> list[dict[str, Any]]:
    """Every item of the account's partition (an operator's read; never on a request path)."""
    pages = store.query_pages(
        TableName=store.billing_table(), KeyConditionExpression="pk = :pk", ConsistentRead=True,
        ExpressionAttributeValues=aws.to_item({":pk": keys.account_pk(account_id)}))
    return [item for page in pages for item in page]


def all_account_ids() -> list[str]:
    """Every account with a wallet, from the sparse Accounts index."""
    return sorted(a for page in store.account_id_pages() for a in page)


def _d(value: Any) -> Decimal:
    return quantize(Decimal(str(value or 0)))


def verify_account(account_id: str) -> list[str]:
    """Every difference between the stored state and what the ledger lines say (empty: consistent)."""
    items = account_items(account_id)
    problems: list[str] = []
    wallet_item = next((i for i in items if i["sk"] == keys.WALLET), None)
    if wallet_item is None:
        return [f"{account_id}: no wallet"]
    wallet = Wallet.from_dict(wallet_item)
    entries = sorted((i for i in items if i["sk"].startswith(keys.ENTRY)), key=lambda i: i["gt_sk"])

    net = ZERO
    by_bucket: dict[str, Decimal] = defaultdict(lambda: ZERO)
    by_lot: dict[str, Decimal] = defaultdict(lambda: ZERO)
    months: dict[str, dict[str, Any]] = {}
    spend: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    executions_of_task: dict[str, set[str]] = defaultdict(set)
    seen_ids: set[str] = set()
    last_recorded = ""
    for entry in entries:
        if entry["recorded_at"] <= last_recorded:
            problems.append(f"{entry['sk']}: recorded_at {entry['recorded_at']} does not increase")
        last_recorded = entry["recorded_at"]
        month = entry["recorded_at"][:7]
        stmt = months.setdefault(month, {"opening": net, "opening_by_bucket": dict(by_bucket), "credits": ZERO,
                                         "debits": ZERO, "credits_by_bucket": defaultdict(lambda: ZERO),
                                         "debits_by_bucket": defaultdict(lambda: ZERO)})
        for line in entry.get("lines", []):
            if line["id"] in seen_ids:
                problems.append(f"line {line['id']} appears twice")
            seen_ids.add(line["id"])
            amount = _d(line["amount"])
            if amount <= 0:
                problems.append(f"line {line['id']}: amount {amount} is not positive")
            signed = amount if line["direction"] == "credit" else -amount
            net += signed
            by_bucket[line["bucket"]] += signed
            if line.get("lot_id"):
                by_lot[line["lot_id"]] += signed
            if _d(line["balance_after"]) != net:
                problems.append(f"line {line['id']}: balance_after {line['balance_after']} != running sum {net}")
            side = "credits" if signed > 0 else "debits"
            stmt[side] += amount
            stmt[f"{side}_by_bucket"][line["bucket"]] += amount
        if entry.get("entry_kind") in ("usage", "refund") and entry.get("execution_id"):
            debited = sum((_d(ln["amount"]) for ln in entry["lines"]
                           if ln["direction"] == "debit" and ln["reason_code"].startswith("usage.")), ZERO)
            refunded = sum((_d(ln["amount"]) for ln in entry["lines"]
                            if ln["direction"] == "credit" and ln["reason_code"] == "refund"), ZERO)
            for scope in (keys.execution_sk(entry["execution_id"]), keys.task_sk(entry.get("task_id") or "")):
                spend[scope]["total_debited"] += debited
                spend[scope]["total_refunded"] += refunded
                spend[scope]["event_count"] += 1 if entry["entry_kind"] == "usage" else 0
            executions_of_task[keys.task_sk(entry.get("task_id") or "")].add(entry["execution_id"])

    if quantize(net) != wallet.net():
        problems.append(f"net balance {wallet.net()} != sum of lines {quantize(net)}")
    for bucket, balance in wallet.bucket_balances().items():
        if quantize(by_bucket[bucket]) != balance:
            problems.append(f"bucket {bucket}: wallet {balance} != lines {quantize(by_bucket[bucket])}")
    for lot in wallet.lots.values():
        if lot.remaining < 0:
            problems.append(f"lot {lot.lot_id}: remaining {lot.remaining} below zero")
        if quantize(by_lot[lot.lot_id]) != lot.remaining:
            problems.append(f"lot {lot.lot_id}: remaining {lot.remaining} != lines {quantize(by_lot[lot.lot_id])}")
    for lot_id, total in by_lot.items():
        if lot_id not in wallet.lots and quantize(total) != 0:
            problems.append(f"lot {lot_id} is gone from the wallet but its lines sum to {quantize(total)}")
    if wallet.overage < 0:
        problems.append(f"overage {wallet.overage} below zero")

    stored = {i["sk"]: i for i in items}
    for month, expect in months.items():
        item = stored.get(keys.month_sk(month))
        if item is None:
            problems.append(f"statement {month} missing")
            continue
        closing = quantize(expect["opening"] + expect["credits"] - expect["debits"])
        checks = {"opening_balance": quantize(expect["opening"]), "total_credits": quantize(expect["credits"]),
                  "total_debits": quantize(expect["debits"]), "closing_balance": closing}
        for name, value in checks.items():
            if _d(item.get(name)) != value:
                problems.append(f"statement {month}: {name} {item.get(name)} != {value}")
        for bucket in ALL_BUCKETS:
            opening_b = _d((item.get("opening_by_bucket") or {}).get(bucket))
            credits_b = _d((item.get("credits_by_bucket") or {}).get(bucket))
            debits_b = _d((item.get("debits_by_bucket") or {}).get(bucket))
            closing_b = _d((item.get("closing_by_bucket") or {}).get(bucket))
            if quantize(opening_b + credits_b - debits_b) != closing_b:
                problems.append(f"statement {month}: bucket {bucket} does not reconcile")
            if credits_b != quantize(expect["credits_by_bucket"][bucket]) or \
                    debits_b != quantize(expect["debits_by_bucket"][bucket]):
                problems.append(f"statement {month}: bucket {bucket} totals differ from the lines")
    for sk, sums in spend.items():
        item = stored.get(sk)
        if item is None:
            problems.append(f"spend aggregate {sk} missing")
            continue
        for name in ("total_debited", "total_refunded"):
            if _d(item.get(name)) != quantize(sums[name]):
                problems.append(f"{sk}: {name} {item.get(name)} != lines {quantize(sums[name])}")
        if int(item.get("event_count", 0)) != int(sums["event_count"]):
            problems.append(f"{sk}: event_count {item.get('event_count')} != {int(sums['event_count'])}")
        if _d(item.get("net")) != quantize(sums["total_debited"] - sums["total_refunded"]):
            problems.append(f"{sk}: net does not equal debited - refunded")
        if sk.startswith(keys.TASK) and int(item.get("execution_count", 0)) != len(executions_of_task[sk]):
            problems.append(f"{sk}: execution_count {item.get('execution_count')} != {len(executions_of_task[sk])}")
    if OVERAGE not in ALL_BUCKETS:  # pragma: no cover - guards the bucket list itself
        problems.append("overage bucket missing")
    return problems


def verify_all(account_ids: list[str] | None = None) -> dict[str, list[str]]:
    return {a: p for a in (account_ids or all_account_ids()) if (p := verify_account(a))}
