"""Read units of the API's summary reads at 100 and at 10,000 ledger lines of one account.

The account's first lines go through the real consumer (so its wallet and aggregates are what
the consumer writes); the ledger is then grown to 10,000 lines with copies of those entries under
new keys, older than the real ones (batch_write_item, not metered), and a last batch goes through
the consumer again. Reads are the API's own functions (billing.api.views over billing.reads).
"""

from __future__ import annotations

import json
from typing import Any

from bench.meter import Meter
from bench.sizing import table_specs
from bench.stack import START, SimClock, build
from bench.workload import _record

PAGE_LIMIT = 50
EXECUTIONS = 10


def _events(account_id: str, start: int, count: int, clock: SimClock) -> list[dict[str, Any]]:
    import random

    rng = random.Random(start)
    records = []
    for n in range(start, start + count):
        execution = f"exec_r{n % EXECUTIONS:02d}"
        event = {"schema_version": "1", "event_id": f"rd-{n:06d}", "account_id": account_id, "kind": "usage",
                 "occurred_at": clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "task_id": f"task_r{n % 3}",
                 "execution_id": execution, "action_type": "scrape", "phase": "extract", "step": n, "attempt": 1,
                 "urls": 1, "preview": False, "url": f"https://shop.example.com/p/{n}"}
        records.append(_record(json.dumps(event, separators=(",", ":")), rng))
    return records


def _reads(meter: Meter, account_id: str, clock: SimClock) -> dict[str, Any]:
    from billing.api import views

    ctx_month = clock().strftime("%Y-%m")
    calls = {
        "balance": lambda: views.balance(account_id, False, False),
        "execution spend summary": lambda: views.execution_spend(account_id, "exec_r03"),
        "task spend summary": lambda: views.task_spend(account_id, "task_r1"),
        "monthly statement": lambda: views.statement(account_id, ctx_month, now=clock),
    }
    out: dict[str, Any] = {}
    for name, call in calls.items():
        meter.reset()
        call()
        out[name] = {"rru": meter.tally.total_rru, "requests": sum(meter.tally.calls.values())}
    meter.reset()
    page = views.ledger_page(account_id, views.Filters(execution_id="exec_r03"), PAGE_LIMIT, None)
    out["ledger page by execution"] = {"items_read": meter.tally.items_read, "rru": meter.tally.total_rru,
                                       "lines": len(page.data), "limit": PAGE_LIMIT}
    return out


def _line_count(account_id: str, month: str) -> int:
    from billing import keys, store

    item = store.get_item(keys.account_pk(account_id), keys.month_sk(month))
    return int(item["line_count"]) if item else 0


def measure(template: dict[str, Any], batch_size: int) -> dict[str, Any]:
    from bench.consume import context
    from billing import aws, consumer, keys, reads, store

    stack = build(template, "reads-")
    meter = Meter(table_specs(template), stack.tables)
    meter.install(aws.dynamodb())
    clock = SimClock(START)
    ctx = context(clock)
    account_id = "acct_reads"
    from billing import ledger

    ledger.create_account(account_id, "pro", ctx)
    month = clock().strftime("%Y-%m")
    sent = 0
    while _line_count(account_id, month) < 100:
        clock.advance(20)
        consumer.judge_batch(_events(account_id, sent, batch_size, clock), ctx)
        sent += batch_size
    # A real ledger: the lines written so far, plus the grant lines of the account's creation.
    small_lines = _line_count(account_id, month)
    small = _reads(meter, account_id, clock)

    # Grow to 10,000 lines: copies of the consumer's entries, older than every real one.
    span = reads.ledger_range(account_id, None, None, None, None)
    real_entries = [e for e in reads.ledger_entries(span, 1000) if e.get("entry_kind") == "usage"]
    target = 10_000 - small_lines - batch_size
    items = []
    for n in range(target):
        source = dict(real_entries[n % len(real_entries)])
        event_id = f"bulk-{n:06d}"
        recorded = f"2026-11-{1 + n * 14 // target:02d}T00:00:00.{n:06d}Z"
        source.update(sk=keys.entry_sk(keys.event_entry_key(event_id)), event_id=event_id, recorded_at=recorded,
                      entry_id=f"en_bulk{n:06d}", gt_sk=keys.time_sort_key(recorded, f"en_bulk{n:06d}"))
        items.append(aws.to_item(source))
    meter.uninstall()
    client = aws.dynamodb()
    for start in range(0, len(items), 25):
        request = {store.billing_table(): [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    meter.install(client)
    clock.advance(20)
    consumer.judge_batch(_events(account_id, sent, batch_size, clock), ctx)
    large_lines = _line_count(account_id, month) + target
    large = _reads(meter, account_id, clock)
    meter.uninstall()
    return {"lines": {"small": small_lines, "large": large_lines}, "small": small, "large": large}
