"""Fault storm: usage events flow through the consumer while DynamoDB fails at random points.

Injected through botocore event hooks on the domain's own client, each DynamoDB call has a seeded
10% chance of one fault: throttling (ProvisionedThroughputExceededException, ThrottlingException),
a TransactionCanceledException with TransactionConflict, a read or connect timeout before the call,
a read timeout after a commit (the response is lost), or the process dying right after a commit.
SQS is simulated: every record not acknowledged is delivered again in a later batch, and after
maxReceiveCount receives (from template.yaml) it moves to the DLQ, as quarantined records do.
Afterwards every valid event has exactly one effect, the DLQ holds exactly the records that belong
there, and the ledger invariant holds for every account.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from billing import consumer, keys, ledger, verify
from billing.events import UsageEvent
from billing.pricing import RuleSet
from billing_local.template import queue_definitions
from tests.adversarial.support import fresh_tables, stored_items, verify_reads_backend
from tests.faults import Crash, client_error, hook
from tests.helpers import refund, sqs_event, usage

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OCCURRED = "2026-11-20T11:00:00Z"
RATE = 0.10
BATCH = 10
ONE_PER_URL = RuleSet.model_validate({"version": 1, "rules": [{"id": "flat", "unit": "url", "rate": "1"}]})
CI_ROUNDS, SOAK_ROUNDS, EVENTS_PER_ROUND = 1, 8, 250  # CI: 250 records; soak: 2,000 (about 90 ms a record)


@dataclass
class Storm:
    """The fault injector: one seeded random stream decides every call's fate."""

    rng: random.Random
    rate: float = RATE
    injected: Counter = field(default_factory=Counter)
    armed: bool = True

    def before(self, params: dict[str, Any], model: Any = None, **_: Any) -> None:
        if not self.armed or self.rng.random() >= self.rate:
            return
        operation = model.name if model is not None else "?"
        kinds = ["ProvisionedThroughputExceededException", "ThrottlingException", "ReadTimeout", "ConnectTimeout"]
        if operation == "TransactWriteItems" and self.rng.random() < 0.4:  # commits are fewer than reads
            kind = "TransactionConflict"
        else:
            kind = self.rng.choice(kinds)
        self.injected[kind] += 1
        if kind == "ReadTimeout":
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        if kind == "ConnectTimeout":
            raise ConnectTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        if kind == "TransactionConflict":
            reasons = ["TransactionConflict"] + ["None"] * (len(params["TransactItems"]) - 1)
            raise client_error("TransactionCanceledException", operation, reasons=reasons)
        raise client_error(kind, operation)

    def after_commit(self, http_response: Any = None, parsed: Any = None, **_: Any) -> None:
        if not self.armed or (parsed or {}).get("Error") or self.rng.random() >= self.rate:
            return
        kind = self.rng.choice(["CrashAfterCommit", "ReadTimeoutAfterCommit"])
        self.injected[kind] += 1
        if kind == "CrashAfterCommit":
            raise Crash("the Lambda died right after DynamoDB committed")
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


@dataclass
class Expected:
    charged: dict[str, dict[str, int]] = field(default_factory=dict)  # account -> usage event_id -> urls
    refunds: dict[str, dict[str, str]] = field(default_factory=dict)  # account -> refund event_id -> usage id


def _stream(rng: random.Random, accounts: list[str], n: int, round_no: int) -> tuple[list[dict], Expected]:
    """n usage events with refunds, redeliveries, conflicting duplicates and garbage, shuffled."""
    expected = Expected({a: {} for a in accounts}, {a: {} for a in accounts})
    bodies: list[dict[str, Any] | str] = []
    usages: list[tuple[str, str, dict]] = []
    for i in range(n):
        account = rng.choice(accounts)
        roll = rng.random()
        if roll < 0.08 and usages:  # a refund of an earlier usage (maybe delivered before it)
            target_account, target, _ = rng.choice(usages)
            event_id = f"r{round_no}-{i}"
            if target not in expected.refunds[target_account].values():
                expected.refunds[target_account][event_id] = target
                bodies.append(refund(event_id, target, target_account, occurred_at=OCCURRED))
            continue
        if roll < 0.14 and usages:  # the producer resends an occurrence
            bodies.append(rng.choice(usages)[2])
            continue
        if roll < 0.16 and usages:  # the same event_id with other content: belongs in the DLQ
            _, _, original = rng.choice(usages)
            bodies.append({**original, "urls": original["urls"] + 1, "phase": f"conflict-{i}"})
            continue
        if roll < 0.18:  # garbage: belongs in the DLQ
            bodies.append(f'{{"not json": garbage-{i}')
            continue
        event_id = f"u{round_no}-{i}"
        urls = rng.randint(0, 40)
        body = usage(event_id, account, urls=urls, occurred_at=OCCURRED, execution_id=f"x{i % 7}",
                     task_id=f"t{i % 3}")
        expected.charged[account][event_id] = urls
        usages.append((account, event_id, body))
        bodies.append(body)
    rng.shuffle(bodies)
    return [r for b in bodies for r in sqs_event([b])["Records"]], expected


def run_round(aws, template, seed: int, round_no: int, n: int) -> dict[str, int]:
    rng = random.Random(seed)
    max_receives = queue_definitions(template)["UsageQueue"].max_receive_count
    with fresh_tables(aws, template):
        ctx = ledger.Context(now=lambda: NOW, rules=lambda: ONE_PER_URL, refunds_enabled=lambda: True,
                             sleep=lambda _: None)
        accounts = [f"acct_s{round_no}_{i}" for i in range(4)]
        for account in accounts:
            ledger.create_account(account, ctx=ctx)
        opening = {a: sum(int(line["amount"]) for item in stored_items(a) if item["sk"].startswith("E#")
                          for line in item["lines"]) for a in accounts}
        queue, expected = _stream(rng, accounts, n, round_no)
        records = list(queue)
        dlq: list[tuple[dict, str]] = []
        receives: Counter = Counter()
        storm = Storm(random.Random(seed * 7919))
        stats: Counter = Counter()
        with hook("before-parameter-build.dynamodb", storm.before), hook("after-call.dynamodb.TransactWriteItems",
                                                               storm.after_commit):
            while queue:
                batch, queue = queue[:BATCH], queue[BATCH:]
                for record in batch:
                    receives[record["messageId"]] += 1
                    record["attributes"]["ApproximateReceiveCount"] = str(receives[record["messageId"]])
                stats["batches"] += 1
                try:
                    verdicts = consumer.judge_batch(batch, ctx, send_to_dlq=lambda r, v: dlq.append((r, v.reason)))
                except Crash:
                    stats["batches_crashed"] += 1
                    verdicts = {}
                for record in batch:
                    verdict = verdicts.get(record["messageId"])
                    if verdict is not None and verdict.status != "retry":
                        stats[verdict.status] += 1
                        continue
                    if receives[record["messageId"]] >= max_receives:  # the queue's redrive policy
                        dlq.append((record, "maxReceiveCount"))
                        continue
                    stats["redelivered"] += 1
                    queue.append(record)  # visible again after the visibility timeout: a later batch
        storm.armed = False

        # every valid event exactly once, nothing else; the first content to arrive is the event
        all_records = {r["messageId"]: r for r in records}
        parked = Counter(record["messageId"] for record, _ in dlq)
        assert all(count == 1 for count in parked.values()), "nothing parked twice"
        assert not [r for r, reason in dlq if reason == "maxReceiveCount"], "no valid event exhausted its receives"
        winners: dict[str, str] = {}
        for account in accounts:
            items = stored_items(account)
            entries = {i["sk"]: i for i in items if i["sk"].startswith("E#evt:")}
            wanted = set(expected.charged[account]) | set(expected.refunds[account])
            assert set(entries) == {keys.entry_sk(f"evt:{e}") for e in wanted}, account
            winners.update({i["event_id"]: i["content"] for i in entries.values()})
            charged = {}
            for event_id in expected.charged[account]:
                entry = entries[keys.entry_sk(f"evt:{event_id}")]
                charged[event_id] = json.loads(entry["content"])["urls"]
                assert sum(Decimal(ln["amount"]) for ln in entry["lines"] if ln["direction"] == "debit") == \
                    charged[event_id]
            refunded = {i["sk"][2:] for i in items if i["sk"].startswith("R#")}
            assert refunded == set(expected.refunds[account].values())
            net = sum((Decimal(ln["amount"]) * (1 if ln["direction"] == "credit" else -1)
                       for i in items if i["sk"].startswith("E#") for ln in i["lines"]), Decimal(0))
            returned = sum(charged[u] for u in expected.refunds[account].values())
            assert net == opening[account] - sum(charged.values()) + returned, account
            with verify_reads_backend():
                assert verify.verify_account(account) == [], account
        for message_id, record in all_records.items():
            try:
                event = UsageEvent.model_validate_json(record["body"])
            except ValueError:
                assert message_id in parked, "garbage is quarantined"
                continue
            # the entry's content holds the event's fields (some may live in attributes of their own instead)
            stored, fresh = json.loads(winners[event.event_id]), event.canonical()
            belongs_in_dlq = any(stored[k] != fresh.get(k) for k in stored)
            assert (message_id in parked) == belongs_in_dlq, (record["body"], belongs_in_dlq)
        applied = sum(1 for a in accounts for i in stored_items(a) if i["sk"].startswith("E#evt:"))
        return {**stats, **storm.injected, "events_applied": applied, "dlq": len(dlq),
                "valid_events": sum(len(expected.charged[a]) + len(expected.refunds[a]) for a in accounts)}


def _storm(aws, template, rounds: int, record_property) -> None:
    totals: Counter = Counter()
    for round_no in range(rounds):
        totals.update(run_round(aws, template, seed=1000 + round_no, round_no=round_no, n=EVENTS_PER_ROUND))
    faults = {k: totals[k] for k in ("ProvisionedThroughputExceededException", "ThrottlingException",
                                     "TransactionConflict", "ReadTimeout", "ConnectTimeout", "ReadTimeoutAfterCommit",
                                     "CrashAfterCommit")}
    line = (f"fault storm: {rounds * EVENTS_PER_ROUND} records, {totals['valid_events']} valid events, "
            f"{totals['events_applied']} applied exactly once, {sum(faults.values())} faults injected {faults}, "
            f"{totals['batches']} batches ({totals['batches_crashed']} crashed), "
            f"{totals['redelivered']} redeliveries, {totals['dlq']} in the DLQ")
    print("\n" + line)
    record_property("fault_storm", line)
    assert totals["events_applied"] == totals["valid_events"]
    assert all(faults.values()), "every kind of fault was injected at least once"


def test_fault_storm_every_valid_event_applies_exactly_once(aws, template, record_property):
    _storm(aws, template, CI_ROUNDS, record_property)


@pytest.mark.soak
def test_soak_fault_storm_2000_events(aws, template, record_property):
    _storm(aws, template, SOAK_ROUNDS, record_property)
