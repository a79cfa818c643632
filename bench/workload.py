"""A seeded, reproducible stream of usage events, delivered as SQS records.

Accounts are Zipf-distributed (a few are hot): each execution belongs to one account drawn with
weight 1/rank**s, and each event picks an execution uniformly, so events per account follow the
same law. Executions belong to tasks (about three executions per task) and emit their steps in
order. Of the messages: `retries` are new attempts (attempt 2 or 3) of a step already emitted,
`previews` are preview work, `refunds` refund an earlier usage event of the same execution, and
`duplicates` redeliver an earlier message unchanged (most in a later batch, some in the same one).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

ACTIONS = (("search", 0.30), ("crawl", 0.25), ("scrape", 0.35), ("api_call", 0.10))
PHASES = {"search": ("query",), "crawl": ("fetch", "discover"), "scrape": ("fetch", "render", "extract"),
          "api_call": ("call",)}
HOSTS = ("shop.example.com", "news.example.org", "docs.example.net", "catalog.example.com", "blog.example.io")


@dataclass(frozen=True)
class Mix:
    events: int = 10_000
    accounts: int = 200
    zipf_s: float = 1.1
    executions: int = 1_000
    retries: float = 0.05
    previews: float = 0.02
    refunds: float = 0.01
    duplicates: float = 0.01
    seed: int = 20261204


@dataclass
class Workload:
    mix: Mix
    account_ids: list[str]
    records: list[dict[str, Any]]  # SQS records in delivery order
    counts: dict[str, int] = field(default_factory=dict)
    events_per_account: dict[str, int] = field(default_factory=dict)

    def batches(self, size: int) -> list[list[dict[str, Any]]]:
        return [self.records[i : i + size] for i in range(0, len(self.records), size)]


def _record(body: str, rng: random.Random, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "receiptHandle": f"AQEB{rng.getrandbits(64):016x}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1796544000000",
                       "SenderId": "123456789012", "ApproximateFirstReceiveTimestamp": "1796544000001"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:billing-bench-UsageQueue",
        "awsRegion": "us-east-1",
    }


def generate(mix: Mix, start: datetime) -> Workload:
    rng = random.Random(mix.seed)
    account_ids = [f"acct_{i:04d}" for i in range(mix.accounts)]
    weights = [1 / (rank + 1) ** mix.zipf_s for rank in range(mix.accounts)]
    executions = []
    for n in range(mix.executions):
        account = rng.choices(account_ids, weights)[0]
        executions.append({"account_id": account, "execution_id": f"exec_{n:05d}_{rng.getrandbits(24):06x}",
                           "task_id": f"task_{n // 3:04d}_{account[-4:]}", "step": 0, "usage": []})
    actions, action_weights = zip(*ACTIONS, strict=True)
    records: list[dict[str, Any]] = []
    counts = {"usage": 0, "retry": 0, "preview": 0, "refund": 0, "duplicate": 0}
    refunded: set[str] = set()
    per_account: dict[str, int] = dict.fromkeys(account_ids, 0)
    for n in range(mix.events):
        at = start - timedelta(minutes=30) + timedelta(milliseconds=200 * n)
        roll = rng.random()
        if roll < mix.duplicates and records:
            back = min(len(records), rng.choice((5, 50, 150, 400)))
            original = records[-rng.randint(1, back)]
            records.append(_record(original["body"], rng, receive_count=2))
            counts["duplicate"] += 1
            per_account[json.loads(original["body"])["account_id"]] += 1
            continue
        execution = rng.choice(executions)
        per_account[execution["account_id"]] += 1
        base = {"schema_version": "1", "account_id": execution["account_id"], "task_id": execution["task_id"],
                "execution_id": execution["execution_id"], "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
                + "Z"}
        roll -= mix.duplicates
        candidates = [u for u in execution["usage"] if u["event_id"] not in refunded]
        if roll < mix.refunds and candidates:
            target = rng.choice(candidates)
            refunded.add(target["event_id"])
            event = {**base, **{k: target[k] for k in ("action_type", "phase", "step", "attempt", "urls", "preview")},
                     "event_id": f"rf_{target['event_id']}", "kind": "refund", "refund_of": target["event_id"],
                     "refund_reason": rng.choice(("target site error", "duplicate work", "customer request"))}
            counts["refund"] += 1
        else:
            roll -= mix.refunds
            retry = roll < mix.retries and execution["step"] > 0
            preview = not retry and roll - mix.retries < mix.previews
            action = rng.choices(actions, action_weights)[0]
            step = rng.randrange(execution["step"]) if retry else execution["step"]
            if not retry:
                execution["step"] += 1
            attempt = rng.choice((2, 2, 3)) if retry else 1
            event = {**base, "kind": "usage", "event_id": f"{execution['execution_id']}:{step}:{attempt}",
                     "action_type": action, "phase": rng.choice(PHASES[action]), "step": step,
                     "attempt": attempt, "preview": preview,
                     "urls": rng.randint(1, 25) if action in ("crawl", "scrape") else rng.randint(0, 1)}
            if action in ("crawl", "scrape"):
                event["url"] = f"https://{rng.choice(HOSTS)}/p/{rng.getrandbits(32):08x}"
            if rng.random() < 0.2:
                event["metadata"] = {"worker": f"w-{rng.randint(1, 64)}", "region": "us-east-1"}
            if event["event_id"] in {u["event_id"] for u in execution["usage"]}:
                event["event_id"] += f".{n}"  # the same step and attempt twice: a distinct occurrence
            execution["usage"].append(event)
            counts["retry" if retry else "preview" if preview else "usage"] += 1
        records.append(_record(json.dumps(event, separators=(",", ":")), rng))
    return Workload(mix, account_ids, records, counts, per_account)
