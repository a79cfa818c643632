"""Measure the allowance refresh per account and project it to 1,000,000 accounts.

    .venv/bin/python bench/refresh_bench.py [--accounts 200] [--json]

moto in-process, tables and queues from template.yaml. Every DynamoDB request the domain makes goes
through billing.aws.client("dynamodb"); botocore event hooks on that client count the requests and
size every item written or read, with DynamoDB's rules: 1 WRU per started KB per item write, x2
inside TransactWriteItems, plus one write per started KB in each GSI the item appears in (ByTime
for every ledger entry, projection ALL); 1 RRU per started 4 KB for a strongly consistent read.
Time per account is measured in-process (moto included); the projection replaces moto's time by
assumed in-region DynamoDB latencies (stated in the output).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

# Assumed prices (us-east-1, on-demand, as published after the Nov 2024 DynamoDB price cut; checked 2026-12-04).
PRICE_WRU = 0.625 / 1e6
PRICE_RRU = 0.125 / 1e6
PRICE_LAMBDA_GBS_ARM = 0.0000133334
PRICE_LAMBDA_REQUEST = 0.20 / 1e6
PRICE_SQS_REQUEST = 0.40 / 1e6
# Assumed in-region latencies of one call from Lambda (p50-ish, milliseconds).
LATENCY_MS = {"GetItem": 4.0, "BatchGetItem": 6.0, "TransactWriteItems": 15.0, "Query": 6.0, "Scan": 20.0,
              "PutItem": 6.0}
GROUP = 10  # accounts per set of moto tables
GSI_ATTRS = ("gt_pk", "gx_pk", "gk_pk")  # ByTime, ByExecution, ByTask (each written when the attribute is set)


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind in ("SS", "NS"):
        return sum(len(x) for x in inner)
    raise ValueError(kind)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


class Meter:
    """Counts requests, write and read units of the domain's DynamoDB client."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.wru = 0
        self.wru_table = 0
        self.wru_gsi = 0
        self.rru = 0.0
        self.items_written = 0
        self.bytes_written = 0
        self.aws_seconds = 0.0
        self._started: dict[int, float] = {}
        self.sizes: Counter[str] = Counter()

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        op = model.name
        self.calls[op] += 1
        if op == "TransactWriteItems":
            for action in params["TransactItems"]:
                put = action.get("Put")
                if put:
                    self._write(put["Item"], transactional=True)
        elif op == "PutItem":
            self._write(params["Item"], transactional=False)

    def _write(self, item: dict[str, Any], transactional: bool) -> None:
        size = item_size(item)
        units = math.ceil(size / 1024)
        self.items_written += 1
        self.bytes_written += size
        self.wru_table += units * (2 if transactional else 1)
        gsi = sum(units for attr in GSI_ATTRS if attr in item)
        self.wru_gsi += gsi
        self.wru = self.wru_table + self.wru_gsi
        sk = item["sk"]["S"]
        self.sizes[sk.split("#")[0].split(":")[0] if sk != "W" else "W"] = max(
            self.sizes[sk.split("#")[0].split(":")[0] if sk != "W" else "W"], size)

    def after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        op = model.name
        if op == "GetItem" and parsed.get("Item"):
            self.rru += math.ceil(item_size(parsed["Item"]) / 4096)
        elif op == "GetItem":
            self.rru += 1
        elif op == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                self.rru += sum(math.ceil(item_size(i) / 4096) for i in items) or 1

    def timing_start(self, **kwargs: Any) -> None:
        self._started[id(kwargs.get("context"))] = time.perf_counter()

    def timing_end(self, **kwargs: Any) -> None:
        started = self._started.pop(id(kwargs.get("context")), None)
        if started is not None:
            self.aws_seconds += time.perf_counter() - started

    def install(self, client: Any) -> None:
        events = client.meta.events  # a fresh client after reset_settings(): hook it again
        events.register("before-parameter-build.dynamodb.*", self.before)
        events.register("after-call.dynamodb.*", self.after)
        events.register("before-call.dynamodb.*", self.timing_start)
        events.register("after-call.dynamodb.*", self.timing_end)

    def snapshot(self) -> dict[str, Any]:
        return {"calls": dict(self.calls), "wru": self.wru, "wru_table": self.wru_table, "wru_gsi": self.wru_gsi,
                "rru": self.rru, "items_written": self.items_written, "bytes_written": self.bytes_written,
                "aws_seconds": self.aws_seconds}


def _add(total: dict[str, Any] | None, d: dict[str, Any]) -> dict[str, Any]:
    if total is None:
        return d
    out = {k: total[k] + d[k] for k in d if k != "calls"}
    out["calls"] = dict(Counter(total["calls"]) + Counter(d["calls"]))
    return out


def _diff(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out = {k: after[k] - before[k] for k in after if k != "calls"}
    out["calls"] = {k: v - before["calls"].get(k, 0) for k, v in after["calls"].items()
                    if v - before["calls"].get(k, 0)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)

    import boto3
    from moto import mock_aws

    with mock_aws():
        from billing_local.template import create_queues, create_tables, load_template

        template = load_template()
        from billing import aws, ledger, scheduler
        from billing.plans import DEFAULT_PLANS
        from billing.settings import reset_settings

        catalogue = {p.plan_id: p for p in DEFAULT_PLANS}

        def ctx(moment: datetime) -> ledger.Context:
            return ledger.Context(now=lambda: moment, plans=lambda: catalogue, sleep=lambda _s: None)

        def spend(journal, wallet):
            entry = journal.open("adj:bench", "adjustment")
            journal.debit(entry, Decimal("40"), "adjustment")
            return []

        n = args.accounts
        plan_mix = ["free"] * 8 + ["starter", "pro"]  # 80 % free, 10 % starter, 10 % pro
        created = datetime(2026, 12, 30, 10, tzinfo=UTC)
        scenarios = [
            ("daily", datetime(2026, 12, 31, tzinfo=UTC)),  # a day start: expiry of yesterday's lot + daily grant
            ("month_start", datetime(2027, 1, 1, tzinfo=UTC)),  # + monthly expiry, rollover, monthly grant
            ("rerun_noop", datetime(2027, 1, 1, tzinfo=UTC)),  # the same period again: nothing written
        ]
        totals: dict[str, dict[str, Any]] = {name: {"wall": 0.0, "written": 0, "diff": None} for name, _ in scenarios}
        meter = Meter()
        fan: dict[str, Any] = {}
        # moto copies a whole table for every transaction (to roll back), so its time grows with the
        # table: each group of GROUP accounts gets fresh tables. The units counted do not depend on it.
        for group_start in range(0, n, GROUP):
            prefix = f"b{group_start:06d}-"
            tables = create_tables(boto3.client("dynamodb", region_name="us-east-1"), template, prefix)
            queues = create_queues(boto3.client("sqs", region_name="us-east-1"), template, prefix)
            os.environ.update(BILLING_TABLE=tables["BillingTable"], CONFIG_TABLE=tables["ConfigTable"],
                              REFRESH_QUEUE_URL=queues["RefreshQueue"])
            reset_settings()
            ids = [f"acct_{i:06d}" for i in range(group_start, min(n, group_start + GROUP))]
            for i, account_id in enumerate(ids, start=group_start):
                ledger.create_account(account_id, plan_mix[i % len(plan_mix)], ctx(created))
                if i % 2:  # half the accounts spend part of their day: their daily lot expires partly used
                    ledger.write_account(account_id, spend, ctx(created.replace(hour=12)))
            meter.install(aws.dynamodb())
            for name, moment in scenarios:
                before = meter.snapshot()
                started = time.perf_counter()
                for account_id in ids:
                    totals[name]["written"] += ledger.refresh_account(account_id, ctx(moment))
                totals[name]["wall"] += time.perf_counter() - started
                d = _diff(meter.snapshot(), before)
                totals[name]["diff"] = _add(totals[name]["diff"], d)
            if group_start == 0:
                before = meter.snapshot()
                started = time.perf_counter()
                summary = scheduler.fan_out(datetime(2027, 1, 1, tzinfo=UTC),
                                            clock=lambda: datetime(2027, 1, 2, tzinfo=UTC))
                fan = {"accounts": summary["accounts"], "messages": summary["messages"],
                       "calls": _diff(meter.snapshot(), before)["calls"],
                       "ms_total_in_moto": (time.perf_counter() - started) * 1000}

        results: dict[str, Any] = {}
        for name, _ in scenarios:
            d, wall, written = totals[name]["diff"], totals[name]["wall"], totals[name]["written"]
            domain_ms = (wall - d["aws_seconds"]) * 1000 / n
            projected_ms = domain_ms + sum(LATENCY_MS.get(op, 10.0) * c for op, c in d["calls"].items()) / n
            results[name] = {
                "entries_per_account": written / n,
                "wru_per_account": d["wru"] / n, "wru_table_per_account": d["wru_table"] / n,
                "wru_gsi_per_account": d["wru_gsi"] / n, "rru_per_account": d["rru"] / n,
                "items_written_per_account": d["items_written"] / n,
                "bytes_written_per_account": d["bytes_written"] / n,
                "calls_per_account": {k: v / n for k, v in d["calls"].items()},
                "ms_per_account_in_moto": wall * 1000 / n, "ms_per_account_domain_cpu": domain_ms,
                "ms_per_account_projected_aws": projected_ms,
            }
        results["fan_out"] = fan
        results["max_item_bytes"] = dict(meter.sizes)

    results["projection_1m"] = project(results)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        report(results, n)


def project(results: dict[str, Any], accounts: int = 1_000_000, memory_gb: float = 0.5) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("daily", "month_start", "rerun_noop"):
        r = results[name]
        ms = r["ms_per_account_projected_aws"]
        wru = r["wru_per_account"] * accounts
        rru = r["rru_per_account"] * accounts
        shards = math.ceil(accounts / 100)
        lambda_gbs = accounts * ms / 1000 * memory_gb
        cost = {
            "dynamodb_writes": wru * PRICE_WRU, "dynamodb_reads": rru * PRICE_RRU,
            "lambda": lambda_gbs * PRICE_LAMBDA_GBS_ARM + shards * PRICE_LAMBDA_REQUEST,
            "sqs": (shards / 10 + 2 * shards) * PRICE_SQS_REQUEST,  # SendMessageBatch + receive + delete
        }
        out[name] = {
            "wru": wru, "rru": rru, "cost_usd": {k: round(v, 4) for k, v in cost.items()},
            "cost_usd_total": round(sum(cost.values()), 2),
            "hours_at_concurrency": {c: round(accounts * ms / 1000 / c / 3600, 2) for c in (5, 10, 50)},
        }
    return out


def report(results: dict[str, Any], n: int) -> None:
    print(f"refresh bench: {n} accounts (80% free, 10% starter, 10% pro; half spent part of their day)\n")
    for name in ("daily", "month_start", "rerun_noop"):
        r = results[name]
        print(f"{name:12} entries/acct {r['entries_per_account']:.2f}  WRU/acct {r['wru_per_account']:.2f} "
              f"(table {r['wru_table_per_account']:.2f} + GSI {r['wru_gsi_per_account']:.2f})  "
              f"RRU/acct {r['rru_per_account']:.2f}  items/acct {r['items_written_per_account']:.2f}  "
              f"bytes/acct {r['bytes_written_per_account']:.0f}")
        calls = ", ".join(f"{k} {v:.2f}" for k, v in r["calls_per_account"].items())
        print(f"{'':12} calls/acct: {calls}")
        print(f"{'':12} ms/acct: moto {r['ms_per_account_in_moto']:.1f}, "
              f"domain CPU {r['ms_per_account_domain_cpu']:.1f}, "
              f"projected on AWS {r['ms_per_account_projected_aws']:.1f}")
    f = results["fan_out"]
    print(f"fan_out      {f['accounts']} accounts -> {f['messages']} messages; calls {f['calls']}; "
          f"{f['ms_total_in_moto']:.0f} ms in moto")
    print(f"largest item written, by kind (bytes): {results['max_item_bytes']}\n")
    print("projection for 1,000,000 accounts (assumed latencies "
          f"{LATENCY_MS}; prices WRU ${PRICE_WRU * 1e6}/M, RRU ${PRICE_RRU * 1e6}/M, Lambda arm64 "
          f"${PRICE_LAMBDA_GBS_ARM}/GB-s at 512 MB, SQS ${PRICE_SQS_REQUEST * 1e6}/M):")
    for name, p in results["projection_1m"].items():
        print(f"  {name:12} {p['wru'] / 1e6:.2f} M WRU, {p['rru'] / 1e6:.2f} M RRU, ${p['cost_usd_total']} "
              f"{p['cost_usd']}; hours at worker concurrency {p['hours_at_concurrency']}")


if __name__ == "__main__":
    main()
