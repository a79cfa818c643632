"""The usage consumer end to end: SQS event -> handler -> DynamoDB, against moto tables from the template."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from billing import keys, ledger, store
from tests.helpers import load_event, load_handler, refund, sqs_event, usage


@pytest.fixture
def consumer():
    return load_handler("usage_consumer")


def _dlq(aws) -> list[dict]:
    got = aws.sqs.receive_message(QueueUrl=aws.queues["UsageDLQ"], MaxNumberOfMessages=10,
                                  MessageAttributeNames=["All"])
    return got.get("Messages", [])


def _net(account_id: str) -> Decimal:
    return store.get_wallet(account_id).net()


def test_the_sample_event_prices_every_action_and_quarantines_the_broken_record(billing, consumer, lambda_context):
    ledger.create_account("acct_demo")
    before = _net("acct_demo")
    event = load_event("sqs_usage.json")

    result = consumer.lambda_handler(event, lambda_context)

    assert result == {"batchItemFailures": []}  # the broken record is quarantined, not retried
    # scrape 12 urls (1 each), search 2, crawl retry 8 urls x 0.5, api_call preview free; then evt_0001 refunded
    assert before - _net("acct_demo") == Decimal("2") + Decimal("4")
    parked = _dlq(billing)
    assert len(parked) == 1
    assert "invalid event" in parked[0]["MessageAttributes"]["reason"]["StringValue"]
    entry = store.get_item(keys.account_pk("acct_demo"), keys.entry_sk("evt:evt_0003"))
    assert entry["pricing_version"] == 0 and entry["breakdown"]["rule_id"] == "crawl-retry"


def test_a_redelivered_batch_changes_nothing(billing, consumer, lambda_context, account):
    event = sqs_event([usage("e1"), usage("e2", urls=3)])
    consumer.lambda_handler(event, lambda_context)
    after_first = store.get_wallet(account)

    again = sqs_event([usage("e1"), usage("e2", urls=3)], receive_count=2)  # new messageIds, same events
    assert consumer.lambda_handler(again, lambda_context) == {"batchItemFailures": []}

    assert store.get_wallet(account).net() == after_first.net()
    assert store.get_wallet(account).version == after_first.version
    assert _dlq(billing) == []


def test_same_event_id_with_other_content_is_a_conflict_naming_the_fields(billing, consumer, lambda_context, account):
    consumer.lambda_handler(sqs_event([usage("e1", urls=10)]), lambda_context)
    before = store.get_wallet(account)

    result = consumer.lambda_handler(sqs_event([usage("e1", urls=99, phase="render")]), lambda_context)

    assert result == {"batchItemFailures": []}
    assert store.get_wallet(account).version == before.version
    parked = _dlq(billing)
    assert parked[0]["MessageAttributes"]["differing_fields"]["StringValue"] == "phase,urls"
    assert "event_conflict" in parked[0]["MessageAttributes"]["reason"]["StringValue"]


def test_in_batch_copies_apply_once_and_a_differing_copy_is_quarantined(billing, consumer, lambda_context, account):
    before = _net(account)
    result = consumer.lambda_handler(
        sqs_event([usage("e1", urls=5), usage("e1", urls=5), usage("e1", urls=6)]), lambda_context)
    assert result == {"batchItemFailures": []}
    assert before - _net(account) == Decimal(5)
    assert len(_dlq(billing)) == 1


def test_one_poison_record_is_the_only_one_reported_and_the_rest_apply(billing, consumer, lambda_context, account):
    event = sqs_event([usage("e1"), refund("r1", refund_of="not-yet-arrived"), usage("e2")])
    poison = event["Records"][1]["messageId"]

    result = consumer.lambda_handler(event, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": poison}]}
    assert store.get_item(keys.account_pk(account), keys.entry_sk("evt:e2")) is not None


@pytest.mark.parametrize("body", [
    "not json",
    json.dumps(usage("e1", urls=-1)),
    json.dumps(usage("e1", urls="3")),
    json.dumps(usage("e1", action_type="mine_bitcoin")),
    json.dumps({k: v for k, v in usage("e1").items() if k != "task_id"}),
    json.dumps(usage("e1", occurred_at="2999-01-01T00:00:00Z")),
    json.dumps(usage("e1", occurred_at="2026-12-04T09:00:00")),
    json.dumps(usage("e1", metadata={"blob": "x" * 3000})),
    json.dumps(usage("e1", schema_version="2")),
    json.dumps(usage("bad id with spaces")),
    json.dumps(usage("e1", kind="refund")),
    json.dumps(usage("e1", account_id="acct_nobody")),
    '{"schema_version": "1", "event_id": "e1", "urls": NaN}',
])
def test_malformed_events_are_quarantined_with_a_reason_and_write_nothing(
        billing, consumer, lambda_context, account, body):
    before = store.get_wallet(account)
    good = usage("good")
    result = consumer.lambda_handler(sqs_event([body, good]), lambda_context)

    assert result == {"batchItemFailures": []}
    parked = _dlq(billing)
    assert len(parked) == 1 and parked[0]["MessageAttributes"]["reason"]["StringValue"]
    assert store.get_item(keys.account_pk(account), keys.entry_sk("evt:e1")) is None
    assert store.get_wallet(account).version == before.version + 1  # only the good event's commit


def test_refunds_switched_off_quarantine_refunds(billing, consumer, lambda_context, account):
    from billing import cli

    consumer.lambda_handler(sqs_event([usage("e1")]), lambda_context)
    assert cli.main(["config", "set", "refunds_enabled", "false"]) == 0
    from billing.settings import reset_settings

    reset_settings()  # drop the cached configuration, as a new Lambda container would
    before = store.get_wallet(account)
    consumer.lambda_handler(sqs_event([refund("r1", refund_of="e1")]), lambda_context)
    assert store.get_wallet(account).version == before.version
    assert _dlq(billing)[0]["MessageAttributes"]["reason"]["StringValue"] == "refunds_disabled"
