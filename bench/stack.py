"""moto in-process with the template's tables and queues, and the domain pointed at them.

Transactions go through billing_local.motofast.fast_transactions: moto's own copies every table
per action, which would dominate the run; what is written and counted is the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from billing_local.motofast import fast_transactions

REGION = "us-east-1"


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
