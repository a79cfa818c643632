"""The local stack's emulation of Lambda's SQS pollers, EventBridge Scheduler and its start-up rules."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from localstack_support import ROOT, free_port, stack_env
from moto import mock_aws

from billing_local.demo import seed
from billing_local.lambda_runtime import InvocationError
from billing_local.schedules import Cron, Schedule, Scheduler, schedule_of
from billing_local.sqs_poller import SqsPoller, failed_ids
from billing_local.template import FunctionEvent, functions, load_template

pytestmark = pytest.mark.e2e


@dataclass
class FakeInfo:
    logical_id: str = "FakeFunction"


@dataclass
class FakeFunction:
    """Stands for a LocalFunction: records its events, answers with `answer(event)`."""

    answer: Any
    events: list[Any] = field(default_factory=list)
    info: FakeInfo = field(default_factory=FakeInfo)

    def invoke(self, event: Any) -> Any:
        self.events.append(event)
        return self.answer(event)


def sqs_event(batch_size: int = 10) -> FunctionEvent:
    return FunctionEvent(name="Q", type="SQS", properties={}, queue="Work", batch_size=batch_size,
                         batching_window_seconds=0, function_response_types=("ReportBatchItemFailures",))


@pytest.fixture
def queue():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName="work", Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
        yield sqs, url, dlq


def bodies(messages: list[dict[str, Any]]) -> list[str]:
    return sorted(m["Body"] for m in messages)


def test_only_reported_failures_come_back_and_reach_the_dlq_after_max_receive_count(queue):
    sqs, url, dlq = queue
    for body in ("ok", "bad"):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    def answer(event):
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] == "bad"]}

    fn = FakeFunction(answer)
    poller = SqsPoller(sqs, url, sqs_event(), fn, threading.Event())
    first = poller.gather()
    assert bodies(first) == ["bad", "ok"]
    poller.deliver(first)
    record = fn.events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith(":work")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"

    time.sleep(1.2)  # the visibility timeout passes: only the failed record is back
    second = poller.gather()
    assert bodies(second) == ["bad"]
    poller.deliver(second)
    time.sleep(1.2)
    assert poller.gather() == []  # third receive > maxReceiveCount: SQS moved it to the DLQ
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert bodies(moved) == ["bad"]


def test_a_function_error_returns_the_whole_batch(queue):
    sqs, url, _ = queue
    sqs.send_message(QueueUrl=url, MessageBody="one")

    def answer(event):
        raise InvocationError("fn", "RuntimeError", "boom")

    poller = SqsPoller(sqs, url, sqs_event(), FakeFunction(answer), threading.Event())
    poller.deliver(poller.gather())
    time.sleep(1.2)
    assert bodies(poller.gather()) == ["one"]


def test_a_batch_response_naming_no_valid_record_fails_the_whole_batch():
    assert failed_ids({"batchItemFailures": []}, ["a"]) == set()
    assert failed_ids(None, ["a"]) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, ["a", "b"]) == {"a"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ["a"]) is None
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, ["a"]) is None


def test_batches_respect_the_batch_size(queue):
    sqs, url, _ = queue
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    poller = SqsPoller(sqs, url, sqs_event(batch_size=3), FakeFunction(lambda e: None), threading.Event())
    assert len(poller.gather()) == 3


def test_cron_and_rate_times_are_utc_and_in_the_schedule_timezone():
    utc = ZoneInfo("UTC")
    friday_evening = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    assert Cron.parse("0 0 * * ? *").next_after(friday_evening, utc) == datetime(2026, 12, 5, tzinfo=UTC)
    assert Cron.parse("15 10 ? * MON-FRI *").next_after(friday_evening, utc) == datetime(2026, 12, 7, 10, 15,
                                                                                       tzinfo=UTC)
    assert Cron.parse("0/20 * * * ? *").next_after(friday_evening, utc) == datetime(2026, 12, 4, 20, 20, tzinfo=UTC)
    paris = Cron.parse("0 8 1 JAN,JUL ? *").next_after(friday_evening, ZoneInfo("Europe/Paris"))
    assert paris == datetime(2027, 1, 1, 7, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        Cron.parse("0 0 L * ? *")


def template_schedule(function: Any) -> Schedule:
    template = load_template()
    for lid, info in functions(template).items():
        for event in info.events:
            if event.type == "ScheduleV2":
                return schedule_of(lid, event, function, datetime(2026, 12, 4, 20, tzinfo=UTC), None)
    raise AssertionError("the template has no ScheduleV2")


def test_the_template_schedule_fires_with_the_scheduled_time_substituted():
    fn = FakeFunction(lambda e: {"ok": True})
    schedule = template_schedule(fn)
    when = schedule.next_after(datetime(2026, 12, 4, 20, tzinfo=UTC))
    assert when == datetime(2026, 12, 5, tzinfo=UTC)
    assert Scheduler([schedule], threading.Event()).fire(schedule, when) is True
    assert fn.events == [{"scheduled_time": "2026-12-05T00:00:00Z"}]


def test_a_failing_schedule_is_retried_then_dead_lettered(queue):
    sqs, _, dlq = queue
    calls = []

    def answer(event):
        calls.append(event)
        raise InvocationError("fn", "RuntimeError", "down")

    schedule = template_schedule(FakeFunction(answer))
    schedule.retries, schedule.dead_letter_queue_url = 2, dlq
    assert Scheduler([schedule], threading.Event(), sqs=sqs, retry_delay=0).fire(
        schedule, datetime(2026, 12, 5, tzinfo=UTC)) is False
    assert len(calls) == 3
    dead = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"][0]
    assert json.loads(dead["Body"]) == {"scheduled_time": "2026-12-05T00:00:00Z"}
    assert dead["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "RuntimeError"


def test_the_demo_account_and_keys_are_the_same_on_every_start(aws, tmp_path: Path):
    from billing import apikeys

    first = seed(tmp_path / "demo-keys.json")
    second = seed(tmp_path / "demo-keys.json")  # a restart: same file, state stored again
    assert first == second
    read = apikeys.lookup(first["read"]["api_key"])
    write = apikeys.lookup(first["write"]["api_key"])
    assert read and read.account_id == first["account_id"] and read.scopes == ("billing:read",)
    assert write and write.scopes == ("billing:read", "billing:write")
    assert apikeys.revoke_key(first["read"]["key_id"])["revoked"] is True  # the key id pointer exists too


def test_a_port_in_use_is_a_clear_error_and_a_non_zero_exit(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "billing_local.stack", "--state-dir", str(tmp_path)],
                              cwd=ROOT, env=stack_env(port, free_port()), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"port {port}" in done.stderr and "in use" in done.stderr and "BILLING_API_PORT" in done.stderr
