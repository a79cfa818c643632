"""The price table (us-east-1, on-demand list prices) and dollars per million usage events.

Update PRICES and PRICES_DATE together when AWS changes a price.
"""

from __future__ import annotations

from typing import Any

PRICES_DATE = "2026-12-04"
PRICES = {  # USD, us-east-1, on-demand list prices
    "dynamodb_wru": 0.625 / 1e6,  # per write request unit (since the 2024-11-01 on-demand price cut)
    "dynamodb_rru": 0.125 / 1e6,  # per read request unit
    "sqs_request": 0.40 / 1e6,  # standard queue, per request (each 64 KB chunk of a payload is a request)
    "lambda_request": 0.20 / 1e6,  # per invocation
    "lambda_gb_s_arm64": 0.0000133334,  # per GB-second, arm64, first 7.5 billion GB-s a month
}
PRICE_SOURCES = [
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "https://aws.amazon.com/sqs/pricing/",
    "https://aws.amazon.com/lambda/pricing/",
]
# Assumptions (not measured here): a Lambda function gets one full vCPU at 1,769 MB and a
# proportional share below, so CPU-bound time at 512 MB is CPU time x 1769/512; the in-region
# round-trip latencies below are what the function waits on while it is billed.
FULL_VCPU_MB = 1769
LATENCY_MS = {"GetItem": 4.0, "BatchGetItem": 6.0, "TransactWriteItems": 12.0, "Query": 6.0, "PutItem": 6.0,
              "SendMessage": 8.0}
SQS_BATCH = 10  # SendMessageBatch / ReceiveMessage / DeleteMessageBatch carry at most 10 messages


def per_million(run: Any, cpu_ms_per_batch: float, memory_mb: int) -> dict[str, Any]:
    events = run.messages
    tally = run.tally
    calls_per_batch = {op: n / run.invocations for op, n in tally.calls.items()}
    io_ms = sum(LATENCY_MS.get(op, 6.0) * n for op, n in calls_per_batch.items())
    io_ms += LATENCY_MS["SendMessage"] * run.dlq_sends / run.invocations
    cpu_wall_ms = cpu_ms_per_batch * FULL_VCPU_MB / memory_mb
    duration_s = (cpu_wall_ms + io_ms) / 1e3
    deleted = run.receives - run.verdicts.get("retry", 0)
    sqs_requests = events / SQS_BATCH + run.receives / SQS_BATCH + deleted / SQS_BATCH + run.dlq_sends
    scale = 1e6 / events
    parts = {
        "dynamodb_writes": tally.total_wru * scale * PRICES["dynamodb_wru"],
        "dynamodb_reads": tally.total_rru * scale * PRICES["dynamodb_rru"],
        "sqs": sqs_requests * scale * PRICES["sqs_request"],
        "lambda_requests": run.invocations * scale * PRICES["lambda_request"],
        "lambda_duration": run.invocations * scale * duration_s * memory_mb / 1024 * PRICES["lambda_gb_s_arm64"],
    }
    return {
        "usd_per_million": sum(parts.values()), "parts": parts,
        "lambda_ms_per_batch": {"cpu_at_memory": cpu_wall_ms, "io_wait": io_ms, "total": duration_s * 1e3},
        "sqs_requests_per_event": sqs_requests / events,
        "invocations_per_event": run.invocations / events,
    }
