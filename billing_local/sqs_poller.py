"""Lambda's SQS event source mapping, emulated against the local SQS (moto's server).

Semantics taken from the template's SQS event:
- a batch is up to `BatchSize` records; with `MaximumBatchingWindowInSeconds` the poller keeps
  gathering after the first record until the batch is full or the window has passed;
- the records are in flight for the queue's visibility timeout while the function runs;
- success deletes the batch; a function error deletes nothing (the batch reappears after the
  visibility timeout); with `ReportBatchItemFailures` only the records the function did not list in
  `batchItemFailures` are deleted, and an answer naming no valid record id fails the whole batch;
- moto applies the queue's RedrivePolicy on receive: after `maxReceiveCount` receives a record
  goes to the DLQ instead of coming back, as SQS does.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from billing_local.lambda_runtime import InvocationError, LocalFunction
from billing_local.template import LOCAL_REGION, FunctionEvent

log = logging.getLogger("billing_local.sqs")

MAX_RECEIVE = 10  # SQS returns at most 10 messages per ReceiveMessage


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda hands it to the function (the shape of events/sqs_usage.json)."""
    attributes = {k: v for k, v in message.get("Attributes", {}).items()
                  if k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                           "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader")}
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        message_attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": LOCAL_REGION,
    }


def failed_ids(response: Any, record_ids: list[str]) -> set[str] | None:
    """The records a ReportBatchItemFailures answer reports as failed; None means the whole batch failed."""
    if response is None or response == {} or response == "":
        return set()
    if not isinstance(response, dict):
        return set()  # an answer Lambda cannot read as a batch response counts as success
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return set()
    out = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in record_ids:
            return None  # Lambda treats a null/empty/unknown identifier as a failure of the whole batch
        out.add(item)
    return out


class SqsPoller:
    """One event source mapping: polls its queue and invokes its function with batches."""

    def __init__(self, sqs: Any, queue_url: str, event: FunctionEvent, function: LocalFunction,
                 stop: threading.Event) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.event = event
        self.function = function
        self.stop = stop
        self.batch_size = event.batch_size or 10
        self.window = event.batching_window_seconds
        self.partial = "ReportBatchItemFailures" in event.function_response_types
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"]
        self.thread = threading.Thread(target=self.run, name=f"sqs-{event.queue}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                batch = self.gather()
                if batch:
                    self.deliver(batch)
            except Exception:
                if self.stop.is_set():
                    return
                log.exception("poller of %s failed; retrying in 1 s", self.event.queue)
                self.stop.wait(1)

    def receive(self, wait_seconds: int, count: int) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=min(MAX_RECEIVE, count), WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])

    def gather(self) -> list[dict[str, Any]]:
        """One batch: the first records (long poll), then more until full or the window has passed."""
        batch = self.receive(1, self.batch_size)  # short long-polls keep shutdown prompt
        if not batch:
            return []
        deadline = time.monotonic() + self.window
        while len(batch) < self.batch_size and not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = self.receive(max(0, min(1, int(left))), self.batch_size - len(batch))
            batch.extend(more)
            if not more and left < 1:
                self.stop.wait(left)
        return batch

    def deliver(self, batch: list[dict[str, Any]]) -> None:
        records = [lambda_record(m, self.queue_arn) for m in batch]
        ids = [r["messageId"] for r in records]
        log.info("%s: %d record(s) from %s", self.function.info.logical_id, len(records), self.event.queue)
        try:
            response = self.function.invoke({"Records": records})
        except InvocationError:
            log.warning("%s failed: the batch of %d comes back after the visibility timeout",
                        self.function.info.logical_id, len(records))
            return
        failed = failed_ids(response, ids) if self.partial else set()
        if failed is None:
            log.warning("%s answered an invalid batchItemFailures: the whole batch comes back",
                        self.function.info.logical_id)
            return
        done = [m for m in batch if m["MessageId"] not in failed]
        for start in range(0, len(done), MAX_RECEIVE):
            chunk = done[start:start + MAX_RECEIVE]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])
        if failed:
            log.info("%s: %d record(s) failed, they come back after the visibility timeout",
                     self.function.info.logical_id, len(failed))
