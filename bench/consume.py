"""Run the workload through the real consumer and through the naive one, metering DynamoDB.

Real: `billing.consumer.judge_batch` on SQS records in batches of the template's BatchSize, the
batching window between batches; records reported as failed come back in a later batch (the queue's
redelivery). Naive: the same records one by one, `ledger.apply_events` with a single event, so every
event is its own transaction carrying every item it touches (wallet, entry, aggregates).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from bench.meter import Meter, Tally
from bench.sizing import table_specs
from bench.stack import START, SimClock, build
from bench.workload import Workload


@dataclass
class ConsumerSpec:
    batch_size: int
    window_seconds: int
    memory_mb: int
    architecture: str


def consumer_spec(template: dict[str, Any]) -> ConsumerSpec:
    from billing_local.template import functions

    info = functions(template)["UsageConsumerFunction"]
    sqs = next(e for e in info.events if e.type == "SQS")
    arch = (info.properties.get("Architectures") or ["x86_64"])[0]
    return ConsumerSpec(int(sqs.batch_size or 10), sqs.batching_window_seconds, info.memory_size, arch)


def plan_for(rank: int) -> str:
    """The hottest accounts are paying customers; the long tail is on the free plan."""
    return "pro" if rank < 5 else "starter" if rank < 40 else "free"


def context(clock: SimClock) -> Any:
    from billing import ledger
    from billing.plans import DEFAULT_PLANS
    from billing.pricing import DEFAULT_RULES

    catalogue = {p.plan_id: p for p in DEFAULT_PLANS}
    # Pricing and plans come from ConfigTable through Powertools' cache (one Query per partition per
    # minute per container): in memory here, so the meter sees only what each event costs.
    return ledger.Context(now=clock, rules=lambda: DEFAULT_RULES, plans=lambda: catalogue,
                          refunds_enabled=lambda: True, sleep=lambda _s: None)


def create_accounts(account_ids: list[str], ctx: Any) -> None:
    from billing import ledger

    for rank, account_id in enumerate(account_ids):
        ledger.create_account(account_id, plan_for(rank), ctx)


@dataclass
class Run:
    name: str
    tally: Tally
    setup: Tally
    messages: int
    verdicts: Counter[str] = field(default_factory=Counter)
    invocations: int = 0
    receives: int = 0  # records handed to the function, redeliveries included
    dlq_sends: int = 0
    seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)


def _start(template: dict[str, Any], workload: Workload, name: str) -> tuple[Run, Meter, SimClock, Any]:
    """Fresh tables, a meter on the domain's client, the workload's accounts created (not counted)."""
    from billing import aws

    stack = build(template, f"{name}-")
    meter = Meter(table_specs(template), stack.tables)
    meter.install(aws.dynamodb())
    clock = SimClock(START)
    ctx = context(clock)
    create_accounts(workload.account_ids, ctx)
    setup = meter.reset()
    return Run(name, meter.tally, setup, len(workload.records)), meter, clock, ctx


def run_real(template: dict[str, Any], workload: Workload, spec: ConsumerSpec) -> Run:
    from billing import consumer

    run, meter, clock, ctx = _start(template, workload, "real")
    queue: deque[dict[str, Any]] = deque(workload.records)
    started = time.perf_counter()
    while queue:
        clock.advance(spec.window_seconds)
        batch = [queue.popleft() for _ in range(min(spec.batch_size, len(queue)))]
        verdicts = consumer.judge_batch(batch, ctx)
        run.invocations += 1
        run.receives += len(batch)
        run.batch_sizes.append(len(batch))
        for record in batch:
            verdict = verdicts[record["messageId"]]
            run.verdicts[verdict.status] += 1
            run.dlq_sends += verdict.status == "quarantined"
            if verdict.failed:
                queue.append(record)
    run.seconds = time.perf_counter() - started
    run.tally = meter.tally
    meter.uninstall()
    return run


def run_naive(template: dict[str, Any], workload: Workload, spec: ConsumerSpec) -> Run:
    from billing import consumer, ledger

    run, meter, clock, ctx = _start(template, workload, "naive")
    started = time.perf_counter()
    for start in range(0, len(workload.records), spec.batch_size):
        clock.advance(spec.window_seconds)
        run.invocations += 1
        for record in workload.records[start : start + spec.batch_size]:
            event = consumer.parse_record(record)
            outcome = ledger.apply_events(event.account_id, [event], ctx)[event.event_id]
            run.verdicts[outcome.status] += 1
            run.receives += 1
    run.seconds = time.perf_counter() - started
    run.tally = meter.tally
    meter.uninstall()
    return run
