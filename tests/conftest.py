"""Shared fixtures: AWS emulated by moto, with tables and queues built from template.yaml."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from billing import verify
from billing.settings import reset_settings
from billing_local.template import create_queues, create_tables, function_environment, load_template

REGION = "us-east-1"


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@dataclass
class AwsStack:
    tables: dict[str, str]  # logical id -> table name
    queues: dict[str, str]  # logical id -> queue URL
    env: dict[str, str]  # the environment the template gives the functions
    ddb: Any  # boto3 DynamoDB client
    sqs: Any  # boto3 SQS client


@pytest.fixture
def aws(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """moto with every table and queue of template.yaml and the functions' environment set."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    reset_settings()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        prefix = f"t{uuid.uuid4().hex[:6]}-"
        tables = create_tables(ddb, template, prefix)
        queues = create_queues(sqs, template, prefix)
        # Every function gets the same Globals environment; the consumer's stands for all.
        env = function_environment(template, "UsageConsumerFunction", {**tables, **queues})
        env["USAGE_QUEUE_URL"] = queues["UsageQueue"]  # for tests that send usage events
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        try:
            yield AwsStack(tables=tables, queues=queues, env=env, ddb=ddb, sqs=sqs)
            # The ledger invariant, after every test that used the stack: balances, lots and
            # aggregates re-derived from the lines must match (tests that corrupt on purpose opt out).
            if request.node.get_closest_marker("corrupts_ledger") is None:
                reset_settings()
                assert verify.verify_all() == {}
        finally:
            reset_settings()


@dataclass
class LambdaContext:
    function_name: str = "billing-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:billing-test"
    aws_request_id: str = ""
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext(aws_request_id=str(uuid.uuid4()))
