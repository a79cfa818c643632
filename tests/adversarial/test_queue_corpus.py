"""Bad input on the usage queue: every malformed record is quarantined with a reason and writes nothing,
and the good records of the same batch are applied as if it were not there."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from billing import keys, ledger, store
from billing.clock import stamp, utcnow
from tests.helpers import load_handler, refund, sqs_event, usage

ACCOUNT = "acct_1"
REQUIRED = ["schema_version", "event_id", "account_id", "kind", "occurred_at", "task_id", "execution_id",
            "action_type", "phase", "step", "attempt", "urls", "preview"]


def bad(event_id: str, **fields) -> str:
    return json.dumps(usage(event_id, ACCOUNT, **fields))


def raw(event_id: str, fragment: str) -> str:
    """A body whose one field is spelled as raw JSON text (NaN, Infinity, huge numbers)."""
    body = json.dumps(usage(event_id, ACCOUNT, urls=0))
    return body.replace('"urls": 0', f'"urls": {fragment}')


CORPUS: dict[str, tuple[str, str]] = {  # name -> (body, a word the reason must contain)
    "not json": ("this is not json", "invalid event"),
    "empty body": ("", "invalid event"),
    "truncated json": ('{"schema_version": "1", "event_id": "t1"', "invalid event"),
    "json array": ("[1, 2, 3]", "invalid event"),
    "json null": ("null", "invalid event"),
    "json string": ('"usage"', "invalid event"),
    "urls as string": (bad("b_urls_str", urls="3"), "urls"),
    "urls as float": (bad("b_urls_float", urls=3.0), "urls"),
    "step fractional": (bad("b_step_frac", step=1.5), "step"),
    "preview as string": (bad("b_preview_str", preview="false"), "preview"),
    "attempt as bool": (bad("b_attempt_bool", attempt=True), "attempt"),
    "event_id as number": (bad("b_id_num").replace('"event_id": "b_id_num"', '"event_id": 12345'), "event_id"),
    "metadata not an object": (bad("b_meta_str", metadata="x"), "metadata"),
    "urls NaN": (raw("b_nan", "NaN"), "urls"),
    "urls Infinity": (raw("b_inf", "Infinity"), "urls"),
    "urls -Infinity": (raw("b_ninf", "-Infinity"), "urls"),
    "metadata with NaN": (bad("b_meta_nan").replace('"preview": false', '"preview": false, "metadata": {"x": NaN}'),
                          "invalid event"),
    "urls negative": (bad("b_neg", urls=-1), "urls"),
    "step negative": (bad("b_step_neg", step=-1), "step"),
    "attempt zero": (bad("b_att0", attempt=0), "attempt"),
    "urls huge": (raw("b_huge", "1" + "0" * 30), "urls"),
    "urls 1e400": (raw("b_1e400", "1e400"), "urls"),
    "step 2**63": (bad("b_step_big", step=2**63), "step"),
    **{f"missing {f}": (json.dumps({k: v for k, v in usage(f"b_missing_{f}", ACCOUNT).items() if k != f}),
                        f if f != "event_id" else "event_id") for f in REQUIRED},
    "unknown kind": (bad("b_kind", kind="charge"), "kind"),
    "unknown action_type": (bad("b_action", action_type="mine_bitcoin"), "action_type"),
    "schema_version 2": (bad("b_schema", schema_version="2"), "schema_version"),
    "schema_version as int": (bad("b_schema_int", schema_version=1), "schema_version"),
    "unknown field": (bad("b_extra", hacker=True), "hacker"),
    "occurred_at far future": (bad("b_future", occurred_at="2999-01-01T00:00:00Z"), "occurred_at"),
    "occurred_at 10 minutes ahead": (bad("b_soon", occurred_at=stamp(utcnow() + timedelta(minutes=10))),
                                     "occurred_at"),
    "occurred_at without offset": (bad("b_naive", occurred_at="2026-12-04T09:00:00"), "occurred_at"),
    "occurred_at garbage": (bad("b_when", occurred_at="yesterday"), "occurred_at"),
    "metadata over 2 KiB": (bad("b_meta_big", metadata={"blob": "x" * 3000}), "metadata"),
    "256 KB phase": (bad("b_256k", phase="p" * 256 * 1024), "phase"),
    "256 KB garbage": ("{" + "x" * (256 * 1024 - 1), "invalid event"),
    "256 KB metadata": (bad("b_256k_meta", metadata={"blob": "m" * 256 * 1024}), "metadata"),
    "event_id with spaces": (bad("bad id"), "event_id"),
    "event_id 129 chars": (bad("e" * 129), "event_id"),
    "event_id with NUL": (bad("b\u0000nul"), "event_id"),
    "account_id empty": (json.dumps(usage("b_acct_empty", "")), "account_id"),
    "refund without refund_of": (bad("b_refund_bare", kind="refund"), "refund_of"),
    "usage with refund_of": (bad("b_usage_refund_of", refund_of="good_1"), "refund_of"),
    "refund of itself": (json.dumps(refund("b_self", "b_self", ACCOUNT)), "itself"),
    "unknown account": (json.dumps(usage("b_nobody", "acct_nobody")), "account_not_found"),
}


@pytest.fixture
def consumer_fn():
    return load_handler("usage_consumer")


def _drain(aws, queue: str) -> list[dict]:
    got = []
    while True:
        batch = aws.sqs.receive_message(QueueUrl=aws.queues[queue], MaxNumberOfMessages=10,
                                        MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            return got
        got += batch
        aws.sqs.delete_message_batch(QueueUrl=aws.queues[queue], Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])


def test_every_malformed_record_is_quarantined_with_a_reason_and_its_batch_mates_apply(aws, consumer_fn,
                                                                                        lambda_context):
    ledger.create_account(ACCOUNT)
    before = store.get_wallet(ACCOUNT)
    goods = [usage(f"good_{i}", ACCOUNT, urls=i + 1) for i in range(4)]
    bodies: list[str | dict] = []
    for i, (body, _) in enumerate(CORPUS.values()):  # good records spread between the bad ones
        bodies.append(body)
        if i % 15 == 0:
            bodies.append(goods[i // 15])
    event = sqs_event(bodies)
    by_body = {r["messageId"]: r["body"] for r in event["Records"]}
    names = {body: name for name, (body, _) in CORPUS.items()}

    result = consumer_fn.lambda_handler(event, lambda_context)

    assert result == {"batchItemFailures": []}, "no malformed record is retried: they are quarantined"
    parked = _drain(aws, "UsageDLQ")
    reasons = {m["MessageAttributes"]["source_message_id"]["StringValue"]: m["MessageAttributes"]["reason"]
               ["StringValue"] for m in parked}
    missing = [names[by_body[mid]] for mid in by_body if by_body[mid] in names and mid not in reasons]
    assert missing == [], "every malformed record is in the DLQ"
    assert len(parked) == len(CORPUS), "and nothing else is"
    for message_id, reason in reasons.items():
        name = names[by_body[message_id]]
        assert CORPUS[name][1] in reason, (name, reason)
    # nothing of the corpus was written; the good records were, each once
    items = aws.ddb.scan(TableName=aws.tables["BillingTable"])["Items"]
    entry_keys = {i["sk"]["S"] for i in items if i["sk"]["S"].startswith("E#evt:")}
    assert entry_keys == {keys.entry_sk(f"evt:{g['event_id']}") for g in goods}
    assert not any(i["pk"]["S"] == "A#acct_nobody" for i in items)
    after = store.get_wallet(ACCOUNT)
    assert before.net() - after.net() == sum(g["urls"] for g in goods)
