"""Consumer CPU per event with storage stubbed, against parsing and validating the same records alone.

The stub replaces the domain's DynamoDB (and SQS) client with a recording fake: it keeps what
TransactWriteItems / PutItem write (so the wallet read back is the one written) and answers reads
from that, acknowledging every write. What remains is the consumer's own work: parsing, pricing,
the journal, folding aggregates and serializing the items.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class RecordingDynamo:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests = 0

    @staticmethod
    def _key(table: str, item: dict[str, Any]) -> tuple[str, str, str]:
        return table, item["pk"]["S"], item["sk"]["S"]

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        self.requests += 1
        item = self.items.get(self._key(TableName, Key))
        return {"Item": item} if item else {}

    def batch_get_item(self, RequestItems: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        self.requests += 1
        out: dict[str, list[dict[str, Any]]] = {}
        for table, request in RequestItems.items():
            out[table] = [i for k in request["Keys"] if (i := self.items.get(self._key(table, k)))]
        return {"Responses": out}

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        self.requests += 1
        self.items[self._key(TableName, Item)] = Item
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:  # noqa: N803
        self.requests += 1
        for action in TransactItems:
            put = action.get("Put")
            if put:
                self.items[self._key(put["TableName"], put["Item"])] = put["Item"]
        return {}

    def query(self, **_: Any) -> dict[str, Any]:
        self.requests += 1
        return {"Items": [], "Count": 0, "ScannedCount": 0}


class AcknowledgingSqs:
    def send_message(self, **_: Any) -> dict[str, Any]:
        return {"MessageId": "stub"}


@contextmanager
def stubbed_storage() -> Iterator[RecordingDynamo]:
    from billing import aws

    fake = RecordingDynamo()
    clients = {"dynamodb": fake, "sqs": AcknowledgingSqs()}
    real = aws.client
    aws.client = clients.__getitem__  # type: ignore[assignment]  # aws.call looks the client up per call
    try:
        yield fake
    finally:
        aws.client = real  # type: ignore[assignment]


def measure(account_ids: list[str], batches: list[list[dict[str, Any]]], repeats: int = 3) -> dict[str, Any]:
    from bench.consume import context, create_accounts
    from bench.stack import START, SimClock
    from billing import consumer

    consumer_times, parse_times = [], []
    events = sum(len(b) for b in batches)
    for _ in range(repeats):
        with stubbed_storage():
            clock = SimClock(START)
            ctx = context(clock)
            create_accounts(account_ids, ctx)
            started = time.process_time()
            for batch in batches:
                clock.advance(20)
                consumer.judge_batch(batch, ctx)
            consumer_times.append(time.process_time() - started)
        started = time.process_time()
        for batch in batches:
            for record in batch:
                consumer.parse_record(record)
        parse_times.append(time.process_time() - started)
    best_consumer, best_parse = min(consumer_times), min(parse_times)
    return {
        "events": events, "batches": len(batches), "repeats": repeats,
        "consumer_cpu_us_per_event": best_consumer / events * 1e6,
        "parse_cpu_us_per_event": best_parse / events * 1e6,
        "ratio": best_consumer / best_parse,
        "consumer_cpu_ms_per_batch": best_consumer / len(batches) * 1e3,
    }
