"""moto in-process with the template's tables and queues, and the domain pointed at them.

moto's TransactWriteItems deep-copies every table it touches once per action, as a rollback
backup: with thousands of items that is quadratic and would dominate the run. `fast_transactions`
keeps moto's semantics (all or nothing, CancellationReasons) but backs up only the items the
transaction names. It changes how long moto takes, never what is written or counted.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

REGION = "us-east-1"


@contextmanager
def fast_transactions() -> Iterator[None]:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend_cls = models.DynamoDBBackend
    original = backend_cls.transact_write_items
    real_copy = models.copy

    class _NoTableCopy:
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backup = []
        for action in transact_items:
            (op_type, op), = action.items()
            table = self.get_table(op["TableName"])
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_value = models.DynamoType(key[table.hash_key_attr])
            range_value = models.DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            before = table.get_item(hash_value, range_value)
            backup.append((table, hash_value, range_value, copy.deepcopy(before)))
        models.copy = _NoTableCopy  # type: ignore[assignment]
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, before in reversed(backup):
                partition = table.items[hash_value] if table.range_key_attr else table.items
                slot = range_value if table.range_key_attr else hash_value
                if before is None:
                    partition.pop(slot, None)
                else:
                    partition[slot] = before
            raise
        finally:
            models.copy = real_copy

    backend_cls.transact_write_items = transact_write_items
    try:
        yield
    finally:
        backend_cls.transact_write_items = original


@dataclass
class Stack:
    template: dict[str, Any]
    tables: dict[str, str]  # logical id -> name
    queues: dict[str, str]  # logical id -> URL


@contextmanager
def moto_stack() -> Iterator[dict[str, Any]]:
    """mock_aws with clean credentials; yields the parsed template."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=REGION,
                      AWS_REGION=REGION, POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_NAMESPACE="Billing")
    from moto import mock_aws

    from billing_local.template import load_template

    with mock_aws(), fast_transactions():
        yield load_template()


def build(template: dict[str, Any], prefix: str) -> Stack:
    """Tables and queues of the template under `prefix`, and the domain's settings pointed at them."""
    import boto3

    from billing.settings import reset_settings
    from billing_local.template import create_queues, create_tables, function_environment

    tables = create_tables(boto3.client("dynamodb", region_name=REGION), template, prefix)
    queues = create_queues(boto3.client("sqs", region_name=REGION), template, prefix)
    env = function_environment(template, "UsageConsumerFunction", {**tables, **queues})
    os.environ.update(env)
    os.environ["USAGE_QUEUE_URL"] = queues["UsageQueue"]
    reset_settings()
    return Stack(template, tables, queues)


class SimClock:
    """Simulated time: the workload's batches arrive one batching window apart, all on one UTC day."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


START = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # a fixed past day: reproducible sizes, no day/month rollover
